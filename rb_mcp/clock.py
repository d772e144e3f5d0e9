"""The bank's clock: every timestamp rb-mcp writes comes from `now()`."""

from __future__ import annotations

from datetime import datetime, timezone


def now() -> str:
    """The current UTC time as an ISO 8601 string with milliseconds (sorts as it reads)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
