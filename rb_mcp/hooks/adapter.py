"""The hooks' one door to the bank: one-line calls to the public `Bank` API. No SQL and no store
access here."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rb_mcp import project as projects
from rb_mcp.config import Config
from rb_mcp.errors import InputError

if TYPE_CHECKING:
    from rb_mcp.loop.bank import Bank
    from rb_mcp.models import RecallResult

log = logging.getLogger("rb_mcp.hooks")


def config_for(cwd: str | None) -> Config:
    """The settings a server started in `cwd` would use: RB_MCP_*, project from cwd's git remote."""
    config = Config.from_env()
    if config.project is None and cwd:
        config = config.replace(project=projects.default_for_cwd(Path(cwd)))
    return config


def bank_exists(config: Config) -> bool:
    return not isinstance(config.bank, Path) or config.bank.exists()


def open_bank(config: Config) -> Bank:
    from rb_mcp.loop.bank import Bank

    return Bank(config)


def count_items(bank: Bank) -> tuple[int, int]:
    """Active memory items a recall in this bank's project can see: (in the project, global)."""
    found = bank.count_items()
    project = bank.default_project
    return (found.get(project, 0) if project and project != "global" else 0), found.get("global", 0)


def recall(
    bank: Bank, task: str, session_id: str, *, vectors: bool, exclude_items: Sequence[int]
) -> RecallResult:
    """Recall for a prompt, logged with the session id; items already injected are skipped."""
    return bank.recall(task, session_id=session_id, vectors=vectors, exclude_items=exclude_items)


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
    Without a recall_id the session's recall is linked to it.
    """
    args: dict[str, Any] = {"task": task, "steps": list(steps), "summary": summary, "files": list(files)}
    try:
        return bank.record(**args, recall_id=recall_id, session_id=session_id).trajectory_id
    except InputError:
        if recall_id is None:
            raise
        log.warning("recall_id %s is no longer in the bank; storing the trajectory without it", recall_id)
        return bank.record(**args, session_id=session_id).trajectory_id
