"""The bank's clock: every timestamp rb-mcp writes comes from `now()`, every age it reads from `current()`.

The clock can be replaced (`use(...)`) so that tests of time-based behaviour (expiry, the daily
maintenance) move time forward instead of waiting for it; production code never replaces it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

Source = Callable[[], datetime]


def _system() -> datetime:
    return datetime.now(timezone.utc)


_source: Source = _system


def current() -> datetime:
    """The current time as an aware UTC datetime (from the injected source, if one is in use)."""
    return _source().astimezone(timezone.utc)


def now() -> str:
    """The current UTC time as an ISO 8601 string with milliseconds (sorts as it reads)."""
    return current().isoformat(timespec="milliseconds")


def stamp(moment: datetime) -> str:
    """`moment` written as `now()` writes timestamps, so the two compare as strings."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")


def parse(text: str) -> datetime:
    """A timestamp written by `now()` (or any ISO 8601 time; naive ones are taken as UTC)."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@contextlib.contextmanager
def use(source: Source | datetime) -> Iterator[None]:
    """Within the block, the clock reads `source` (a callable, or a fixed moment)."""
    global _source
    previous = _source
    _source = (lambda: source) if isinstance(source, datetime) else source
    try:
        yield
    finally:
        _source = previous


class Shifted:
    """A clock running `offset` ahead of the system clock; move it on with `advance`."""

    def __init__(self, offset: timedelta = timedelta()):
        self.offset = offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)

    def __call__(self) -> datetime:
        return _system() + self.offset
