"""`rb-mcp hook EVENT`: run one Claude Code hook; JSON in on stdin, what the client reads on stdout.

A hook never breaks the user's session: whatever goes wrong (malformed input, a missing
transcript, a broken bank, a bug), it exits 0, prints nothing and logs the error to `hooks.log`
in the user's state dir. Only the answer meant for the client reaches stdout; anything a library
prints meanwhile goes to stderr, which Claude Code keeps out of the model's context.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from logging.handlers import RotatingFileHandler
from typing import IO

from rb_mcp.hooks import state
from rb_mcp.hooks.events import HANDLERS

EVENTS = tuple(HANDLERS)
log = logging.getLogger("rb_mcp.hooks")


def run(event: str, stdin: IO[str], stdout: IO[str]) -> int:
    """Run the hook for `event` (session-start, user-prompt-submit, stop, session-end); always 0."""
    started = time.perf_counter()
    _log_to_file()
    try:
        handler = HANDLERS.get(event)
        if handler is None:
            log.warning("unknown hook event %r; known: %s", event, ", ".join(EVENTS))
            return 0
        raw = stdin.read()
        payload = json.loads(raw) if raw.strip() else {}
        if not isinstance(payload, dict):
            raise ValueError(f"the hook input is a JSON {type(payload).__name__}, not an object")
        if not isinstance(payload.get("session_id"), str) or not payload["session_id"]:
            raise ValueError("the hook input names no session_id; it is not a Claude Code hook event")
        with contextlib.redirect_stdout(sys.stderr):
            answer = handler(payload)
        if answer:
            stdout.write(json.dumps(answer, ensure_ascii=False))
            stdout.flush()
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a hook must never fail the session
        log.error("hook %s failed: %s: %s", event, type(exc).__name__, exc, exc_info=not _expected(exc))
    finally:
        log.debug("hook %s took %.0f ms", event, (time.perf_counter() - started) * 1000)
    return 0


def _expected(exc: BaseException) -> bool:
    from rb_mcp.errors import RbError

    return isinstance(exc, (RbError, ValueError, OSError))


def _log_to_file() -> None:
    """Log to `<state dir>/hooks.log` (1 MB, one old file kept); never to stdout."""
    logger = logging.getLogger("rb_mcp")
    if any(getattr(h, "rb_mcp_hooks", False) for h in logger.handlers):
        return
    try:
        folder = state.state_dir()
        folder.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = RotatingFileHandler(
            folder / "hooks.log", maxBytes=1 << 20, backupCount=1, encoding="utf-8"
        )
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.rb_mcp_hooks = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.propagate = False
    level = (os.environ.get("RB_MCP_LOG_LEVEL") or "WARNING").upper()
    logger.setLevel(level if isinstance(logging.getLevelName(level), int) else "WARNING")
