"""Storage: one `Store` protocol, two backends, one factory.

    open_store(address) -> Store
        a path  -> SqliteStore   (rb_mcp.store.sqlite: one file, WAL, FTS5, rb_mcp.store.vindex)
        a URL   -> PgStore       (rb_mcp.store.postgres: PostgreSQL, pgvector HNSW, tsvector/GIN)

This package is the only one that holds SQL or imports a database driver. Code above it (the loop,
the admin commands, the surfaces) calls the methods of `Store` and never asks which backend it
talks to: where the backends differ (keyword search, bulk copy, id sequences), each implements the
method its own way.
"""

from __future__ import annotations

from pathlib import Path

from rb_mcp.store.common import GLOBAL, from_blob, is_url, to_blob
from rb_mcp.store.protocol import Store

__all__ = [
    "GLOBAL", "Store", "absent_checks", "from_blob", "is_url", "open_store", "to_blob", "unopened_checks",
]  # fmt: skip


def open_store(address: str | Path) -> Store:
    """Open the bank at `address`: a SQLite file path, or a `postgresql://` URL for a team bank."""
    if is_url(address):
        # Deferred: psycopg is an optional extra, and a SQLite user never pays its import.
        from rb_mcp.store.postgres import PgStore

        return PgStore.open(str(address))
    from rb_mcp.store.sqlite import SqliteStore

    return SqliteStore.open(address)


def unopened_checks(address: str | Path, exc: Exception) -> list[tuple[str, str, str]]:
    """`doctor`'s lines for a bank that would not open: the failure (a URL without its password)
    and, for a SQLite path, whether sqlite-vec and FTS5 still work here (from an in-memory bank)."""
    if is_url(address):
        from rb_mcp.store.pgsql import redact_url

        return [("bank", "fail", f"{redact_url(str(address))}: {exc}")]
    from rb_mcp.store.sqlite import SqliteStore

    scratch = SqliteStore.open(":memory:")
    try:
        return [("bank", "fail", f"{address}: {exc}"), *scratch.engine_checks()]
    finally:
        scratch.close()


def absent_checks(address: str | Path) -> list[tuple[str, str, str]] | None:
    """`doctor`'s lines for a SQLite bank file that does not exist yet (what the engine offers, from an
    in-memory bank), so that checking never creates one; None when there is a bank to open."""
    if is_url(address) or Path(address).exists():
        return None
    from rb_mcp.store.sqlite import SqliteStore

    scratch = SqliteStore.open(":memory:")
    try:
        return [
            ("bank", "ok", f"no bank yet at {address}; it is created on first use"),
            *scratch.engine_checks(),
        ]
    finally:
        scratch.close()
