"""Per-session memory of the hooks: one small JSON file per session id under the user's state dir.

Each hook is its own short process, so what one learns for the next (which memory items are
already in the agent's context, which recall_id to credit, whether the stop hook already asked)
lives in `<state dir>/sessions/<session id>.json`. The state dir is platformdirs' user state dir
(`$XDG_STATE_HOME/rb-mcp`, `~/.local/state/rb-mcp` on Linux); the hooks' log file is there too.
Files of sessions untouched for 30 days are removed at the next session start.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

KEEP_DAYS = 30
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def state_dir() -> Path:
    from platformdirs import user_state_path

    return user_state_path("rb-mcp", appauthor=False)


@dataclass
class Recall:
    recall_id: str
    prompt: str
    items: list[int]
    control: bool = False  # a control recall: memory withheld, kept so its verdict counts as a control


@dataclass
class SessionState:
    session_id: str
    injected: list[int] = field(default_factory=list)  # memory items already in the agent's context
    episodes: list[int] = field(default_factory=list)  # past trajectories already shown
    recalls: list[Recall] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)  # work segments the stop hook asked to record
    stored: dict[str, int] = field(default_factory=dict)  # work segment -> pending trajectory id

    @property
    def last_recall(self) -> Recall | None:
        """The latest recall that injected items, else the latest control recall (as Bank.record links)."""
        return next((r for r in reversed(self.recalls) if r.items), None) or next(
            (r for r in reversed(self.recalls) if r.control), None
        )

    def recall_for(self, prompt: str) -> Recall | None:
        """The recall the hook made for this prompt (the one to credit when it is recorded)."""
        head = prompt[:200]
        return next((r for r in self.recalls if r.prompt == head and (r.items or r.control)), None)

    def forget_context(self) -> None:
        """The agent's context was cleared or compacted: what was injected is gone from it."""
        self.injected, self.episodes = [], []


def path_for(session_id: str) -> Path:
    name = _SAFE.sub("_", session_id)[:80] or "unnamed"
    if name != session_id:  # keep two odd ids that clean up alike apart
        name += "-" + hashlib.sha256(session_id.encode()).hexdigest()[:8]
    return state_dir() / "sessions" / f"{name}.json"


def load(session_id: str) -> SessionState:
    try:
        data: dict[str, Any] = json.loads(path_for(session_id).read_text(encoding="utf-8"))
        recalls = [Recall(**r) for r in data.pop("recalls", [])]
        return SessionState(**{**data, "session_id": session_id, "recalls": recalls})
    except (OSError, ValueError, TypeError):
        return SessionState(session_id=session_id)


def save(state: SessionState) -> None:
    path = path_for(state.session_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(state)), encoding="utf-8")
    os.replace(tmp, path)


def prune(now: float | None = None) -> int:
    """Remove the state of sessions untouched for KEEP_DAYS; returns how many went."""
    cutoff = (now or time.time()) - KEEP_DAYS * 86400
    removed = 0
    folder = state_dir() / "sessions"
    for entry in folder.glob("*.json") if folder.is_dir() else []:
        try:
            if entry.stat().st_mtime < cutoff:
                entry.unlink()
                removed += 1
        except OSError:
            continue
    return removed
