"""The PostgreSQL side of the shared SQL: `PgConn` takes the `?` SQL the store logic is written in.

Placeholders and the few SQLite-isms the shared code uses (`insert or ignore`, `lastrowid`) are
translated once per statement text (`translate`); values SQLite stores and PostgreSQL cannot
(NUL in text, numpy scalars, memoryviews) are adapted on the way in. Also the text helpers that
make PostgreSQL's full-text search split words as FTS5's unicode61 tokenizer does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from rb_mcp.errors import StoreError
from rb_mcp.store.fts import code_refs, terms

INSTALL_HINT = "install the PostgreSQL driver: pip install 'rb-mcp[postgres]' (psycopg[binary], psycopg-pool)"
# Tables whose inserts return the new id (`lastrowid` on SQLite).
SERIAL_TABLES = ("recall_events", "trajectories", "items", "item_history", "access_tokens")
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)  # what FTS5's unicode61 keeps as a token


# The vector tables and their (row key, partition) columns.
VEC_TABLES = {
    "item_vec": ("item_id", "scope"),
    "task_vec": ("trajectory_id", "project"),
}


def redact_url(url: str) -> str:
    """The URL without its password, for messages and `stats`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    user = f"{parts.username}:***@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{user}{host}{port}", parts.path, parts.query, parts.fragment))


def driver() -> Any:
    try:
        import psycopg
        import psycopg_pool  # noqa: F401
    except ImportError as exc:
        raise StoreError(f"a postgresql:// bank needs psycopg ({exc}); {INSTALL_HINT}") from exc
    return psycopg


# ---- SQL: the shared `?` dialect to psycopg's ---------------------------------------------
@lru_cache(maxsize=1024)
def translate(sql: str) -> tuple[str, bool]:
    """(psycopg SQL, whether it returns the new row's id for `lastrowid`)."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if quote:
            out.append("%%" if ch == "%" else ch)
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    text = "".join(out).strip()
    low = text.lower()
    if low.startswith("insert or replace"):
        raise StoreError("internal: `insert or replace` has no PostgreSQL translation")
    if low.startswith("insert or ignore"):
        text = "insert" + text[len("insert or ignore") :] + " on conflict do nothing"
        low = text.lower()
    returning = False
    match = re.match(r"insert\s+into\s+(\w+)", low)
    if match and match.group(1) in SERIAL_TABLES and " returning " not in low:
        text += " returning id"
        returning = True
    return text, returning


def _param(value: Any) -> Any:
    if isinstance(value, str):
        # PostgreSQL text cannot hold NUL, which SQLite stores; no memory means anything by it.
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


class PgCursor:
    """The part of a DB-API cursor the shared code reads: rows, rowcount, lastrowid."""

    def __init__(self, cur: Any, returning: bool):
        self._cur = cur
        self.rowcount = cur.rowcount
        self.lastrowid: int | None = None
        self._rows: list[Any] | None = None
        if returning:
            row = cur.fetchone()
            self.lastrowid = int(row[0]) if row else None
            self._rows = []

    def fetchone(self) -> Any:
        if self._rows is not None:
            return self._rows.pop(0) if self._rows else None
        return self._cur.fetchone() if self._cur.description else None

    def fetchall(self) -> list[Any]:
        if self._rows is not None:
            rows, self._rows = self._rows, []
            return rows
        return self._cur.fetchall() if self._cur.description else []

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class PgConn:
    """One pooled connection speaking the shared `?` SQL."""

    dialect = "postgres"

    def __init__(self, conn: Any):
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> PgCursor:
        text, returning = translate(sql)
        cur = self.conn.cursor()
        cur.execute(text, [_param(p) for p in params] or None)
        return PgCursor(cur, returning)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        text, returning = translate(sql)
        if returning:
            text = text[: -len(" returning id")]
        with self.conn.cursor() as cur:
            cur.executemany(text, [[_param(p) for p in row] for row in rows])

    @property
    def in_transaction(self) -> bool:
        return self.conn.info.transaction_status != 0


def vector_param(blob: bytes | np.ndarray) -> list[float]:
    vec = np.frombuffer(blob, dtype=np.float32) if isinstance(blob, bytes | bytearray) else blob
    return np.asarray(vec, dtype=np.float32).tolist()


def fts_text(text: str) -> str:
    """Split as FTS5's unicode61 does (letters and digits; `_`, `.`, `/` separate) before stemming."""
    return " ".join(_TOKEN.findall(text))


def ts_atoms(text: str) -> list[str]:
    """The terms and file phrases of `fts_query`, each a to_tsquery expression on its own."""
    pieces = [t for term in terms(text) for t in _TOKEN.findall(term)]
    phrases = [" <-> ".join(_TOKEN.findall(p)) for p in code_refs(text)]
    return list(dict.fromkeys([p for p in pieces + phrases if p]))
