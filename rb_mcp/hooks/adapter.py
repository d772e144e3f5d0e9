"""The hooks' one door to the bank: thin adapters over today's public `Bank` API.

ADAPTER: each function here stands in for a Bank capability the hooks need, built only from
what `Bank` offers now (`Bank(config, embedder=...)`, `recall`, `record`, `rb_mcp.admin.stats`).
When the Bank grows the method named in a function's docstring ("wanted: ..."), the function
becomes a one-line call to it; nothing else in the hooks changes. No SQL and no store access here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rb_mcp import project as projects
from rb_mcp.config import Config
from rb_mcp.errors import EmbedError, InputError

if TYPE_CHECKING:
    import numpy as np

    from rb_mcp.loop.bank import Bank
    from rb_mcp.models import RecallResult

log = logging.getLogger("rb_mcp.hooks")


class NoVectors:
    """An embedder that declines: recall runs keyword-only, without importing fastembed.

    A cold hook process pays about a second to import fastembed and load the model; the prompt
    hook has less than that (see benchmarks/hook_latency.py). Recall already falls back to its
    keyword lanes when the embedder raises EmbedError, before anything is bound or embedded.
    """

    def __init__(self, name: str):
        self.name = name

    @property
    def dim(self) -> int:
        raise EmbedError("the prompt hook recalls by keyword only")

    def embed(self, texts: list[str]) -> np.ndarray:
        raise EmbedError("the prompt hook recalls by keyword only")


def config_for(cwd: str | None) -> Config:
    """The settings a server started in `cwd` would use: RB_MCP_*, project from cwd's git remote."""
    config = Config.from_env()
    if config.project is None and cwd:
        config = config.replace(project=projects.default_for_cwd(Path(cwd)))
    return config


def bank_exists(config: Config) -> bool:
    return not isinstance(config.bank, Path) or config.bank.exists()


def open_bank(config: Config, *, vectors: bool) -> Bank:
    from rb_mcp.loop.bank import Bank

    return Bank(config, embedder=None if vectors else NoVectors(config.model))


def count_items(bank: Bank) -> tuple[int, int]:
    """Active memory items a recall in this bank's project can see: (in the project, global).

    wanted: `Bank.count_items(project: str | None = None) -> dict[str, int]`, active items per
    scope among the scopes a recall for `project` searches (visibility.partitions). Today's
    stand-in reads `rb_mcp.admin.stats`, which lists only the 50 largest scopes.
    """
    from rb_mcp.admin import stats

    found = {p["scope"]: int(p["items"]) for p in stats(bank).projects}
    project = bank.default_project
    return (found.get(project, 0) if project and project != "global" else 0), found.get("global", 0)


def recall(bank: Bank, task: str, session_id: str) -> RecallResult:
    """Recall for a prompt, logged as a recall event whose recall_id the session state keeps.

    wanted: `Bank.recall(task, project=None, k=None, kinds=None, *, session_id: str | None = None,
    vectors: bool = True)`: the event records the session id (so `Bank.session_recalls(session_id)`
    can tell a later verdict which recalls it answers), and `vectors=False` is a deliberate
    keyword-only recall (today: an embedder that declines, and a guidance line about a missing
    model that the hooks do not use).
    """
    del session_id  # kept by the hook's session state until the Bank can log it
    quiet = _Quiet()
    recall_log = logging.getLogger("rb_mcp.recall")
    recall_log.addFilter(quiet)
    try:
        return bank.recall(task)
    finally:
        recall_log.removeFilter(quiet)


class _Quiet(logging.Filter):
    """Drops recall's warning about running without vectors: here that is the plan, not a fault."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("recall without vectors")


def store_pending(
    bank: Bank,
    *,
    task: str,
    steps: Sequence[dict[str, str]],
    summary: str,
    files: Sequence[str],
    recall_id: str | None,
    session_id: str,
) -> int:
    """Store the trajectory of a session that ended without recording it: pending, no verdict.

    `Bank.record` without outcome (and without a server-side model) already does this: redacted,
    embedded, queued with status pending_verdict for `rb-mcp distill` or `distill_pending`.
    wanted: `Bank.record(..., session_id: str | None = None, source: str = "agent")`, so a
    trajectory captured by a hook says so, and `Bank.session_recorded(session_id) -> bool` can
    answer from the bank what the hooks now read from the transcript.
    """
    del session_id
    args: dict[str, Any] = {"task": task, "steps": list(steps), "summary": summary, "files": list(files)}
    try:
        return bank.record(**args, recall_id=recall_id).trajectory_id
    except InputError:
        if recall_id is None:
            raise
        log.warning("recall_id %s is no longer in the bank; storing the trajectory without it", recall_id)
        return bank.record(**args).trajectory_id
