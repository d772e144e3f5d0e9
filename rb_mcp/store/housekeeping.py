"""The SQL of access tokens, stats, export and import rows, re-embedding.

Shared by both backends: the statements are written with `?` placeholders, which
`rb_mcp.store.pgsql.PgConn` translates for PostgreSQL. A method that takes `db` runs inside the
caller's `transaction()` (or, for the export, its `snapshot()`); the others read or write on their own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from rb_mcp import visibility
from rb_mcp.store.schema import COLUMNS, TABLES

# The export reads each table in key order, on either backend (SQLite's rowid is the id, or the
# insertion order of the links); tables not named here are read by id.
EXPORT_ORDER = {
    "groups": "group_id",
    "item_sources": "item_id, trajectory_id",
    "recall_hits": "recall_id, rank, item_id",
}
TOKEN_COLUMNS = "id, name, identity, projects, created_at, last_used_at, revoked_at"


class HousekeepingRows:
    """Mixed into `SqliteStore` and `PgStore`, whose `query`, `one` and `transaction` it uses."""

    # ---- meta: the bank's own settings (embedding model, id floor, consolidation decisions) ----
    def get_meta(self, key: str) -> str | None:
        row = self.one("select value from meta where key = ?", (key,))
        return row[0] if row else None

    def set_meta(self, db: Any, key: str, value: str) -> None:
        db.execute(
            "insert into meta values (?, ?) on conflict (key) do update set value = excluded.value",
            (key, value),
        )

    # ---- access tokens (rb_mcp.auth) ---------------------------------------------------------
    def add_access_token(
        self, name: str, identity: str, projects: str, secret_hash: str, created_at: str
    ) -> int:
        """Store a new token (`projects` is its JSON list); its id."""
        with self.transaction() as db:
            cur = db.execute(
                "insert into access_tokens (name, identity, projects, secret_hash, created_at) values (?, ?, ?, ?, ?)",
                (name, identity, projects, secret_hash, created_at),
            )
            return int(cur.lastrowid)

    def access_tokens(self, include_revoked: bool = True) -> list[Any]:
        """Rows of (id, name, identity, projects, created_at, last_used_at, revoked_at), by id."""
        return self.query(
            f"select {TOKEN_COLUMNS} from access_tokens "
            + ("" if include_revoked else "where revoked_at is null ")
            + "order by id"
        )

    def access_token(self, token_id: int) -> Any:
        """(secret_hash, revoked_at, identity, projects, name, created_at, last_used_at), or None."""
        return self.one(
            "select secret_hash, revoked_at, identity, projects, name, created_at, last_used_at "
            "from access_tokens where id = ?",
            (token_id,),
        )

    def revoke_access_token(self, token_id: int, at: str) -> bool:
        """Mark a token revoked at `at` (a second revocation keeps the first time); False if none."""
        with self.transaction() as db:
            if db.execute("select 1 from access_tokens where id = ?", (token_id,)).fetchone() is None:
                return False
            db.execute(
                "update access_tokens set revoked_at = coalesce(revoked_at, ?) where id = ?", (at, token_id)
            )
        return True

    def touch_access_token(self, token_id: int, at: str) -> None:
        with self.transaction() as db:
            db.execute("update access_tokens set last_used_at = ? where id = ?", (at, token_id))

    def active_token_count(self) -> int:
        return int(self.one("select count(*) from access_tokens where revoked_at is null")[0])

    # ---- stats and doctor ---------------------------------------------------------------------
    def item_counts(self) -> list[tuple[str, str, int]]:
        """(kind, status, count) of the items."""
        return [
            tuple(r) for r in self.query("select kind, status, count(*) from items group by kind, status")
        ]

    def trajectory_counts(self) -> list[tuple[str, int]]:
        """(status, count) of the trajectories."""
        return [tuple(r) for r in self.query("select status, count(*) from trajectories group by status")]

    def scope_counts(self, limit: int = 50) -> list[tuple[str, int]]:
        """(scope, active items) of the `limit` scopes holding the most active items."""
        rows = self.query(
            "select scope, count(*) from items where status = 'active' group by scope order by count(*) desc "
            "limit ?",
            (limit,),
        )
        return [tuple(r) for r in rows]

    def recall_count(self) -> int:
        return int(self.one("select count(*) from recall_events")[0])

    def waiting_count(self) -> int:
        """Trajectories waiting for a verdict or for items (refinements never wait)."""
        return int(
            self.one(
                "select count(*) from trajectories where status in ('pending_verdict', 'pending_items') "
                "and role != 'refine'"
            )[0]
        )

    def row_counts(self) -> dict[str, int]:
        """Rows per table of the bank, in `schema.TABLES` order."""
        return {t: self.one(f"select count(*) from {t}")[0] for t in TABLES}

    # ---- listing (rb-mcp list, show) ----------------------------------------------------------
    def listed_item_ids(
        self,
        limit: int,
        active_only: bool = True,
        scope: str | None = None,
        kind: str | None = None,
        status: str | None = None,
    ) -> list[int]:
        """Ids of the items matching the filters (None: any) in the scopes the caller may see
        (`rb_mcp.visibility`), most recently updated first; `status` wins over `active_only`."""
        seen, seen_params = visibility.sql_filter("scope")
        where, params = [seen], list(seen_params)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        elif active_only:
            where.append("status = 'active'")
        if scope is not None:
            where.append("scope = ?")
            params.append(scope)
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        rows = self.query(
            f"select id from items where {' and '.join(where)} order by updated_at desc limit ?",
            (*params, limit),
        )
        return [r[0] for r in rows]

    def item_source_ids(self, item_id: int) -> list[int]:
        """The trajectories an item was distilled from."""
        return [
            r[0] for r in self.query("select trajectory_id from item_sources where item_id = ?", (item_id,))
        ]

    # ---- export and import (rb_mcp.loop.transfer) -------------------------------------------
    def meta_in(self, db: Any, keys: Sequence[str]) -> dict[str, str]:
        """The meta entries among `keys`, read inside `db` (a transaction or a snapshot)."""
        marks = ", ".join("?" * len(keys))
        return dict(db.execute(f"select key, value from meta where key in ({marks})", tuple(keys)).fetchall())

    def export_rows(self, db: Any, table: str) -> Iterator[dict[str, Any]]:
        """Every row of `table` as {column: value} (`schema.COLUMNS`), in key order, read in `db`."""
        columns = COLUMNS[table]
        order = EXPORT_ORDER.get(table, "id")
        for row in db.execute(f"select {', '.join(columns)} from {table} order by {order}"):
            yield dict(zip(columns, row))

    def import_row(self, db: Any, table: str, data: dict[str, Any]) -> int | None:
        """Insert an imported row, under its own id when that is free (else a new one); the row's id
        (None for tables without one). A group that exists already is kept as it is."""
        if table == "groups":
            db.execute(
                "insert or ignore into groups (group_id, task, project, created_at, contrasted_at) values (?, ?, ?, ?, ?)",
                (data["group_id"], data["task"], data["project"], data["created_at"], data["contrasted_at"]),
            )
            return None
        if "id" in data and db.execute(f"select 1 from {table} where id = ?", (data["id"],)).fetchone():
            data = {k: v for k, v in data.items() if k != "id"}
        columns = list(data)
        cur = db.execute(
            f"insert or ignore into {table} ({', '.join(columns)}) values ({', '.join('?' * len(columns))})",
            [data[c] for c in columns],
        )
        return int(cur.lastrowid) if "id" in COLUMNS[table] else None

    # ---- re-embedding (rb-mcp reembed) ------------------------------------------------------
    def item_texts(self) -> list[tuple[int, str, str, str]]:
        """(id, title, description, content) of every item."""
        return [tuple(r) for r in self.query("select id, title, description, content from items")]

    def task_texts(self) -> list[tuple[int, str]]:
        """(id, task) of every trajectory that has a task embedding (all but refinements)."""
        return [tuple(r) for r in self.query("select id, task from trajectories where role != 'refine'")]

    def set_item_embeddings(self, db: Any, vectors: Sequence[tuple[int, bytes]]) -> None:
        """Write (item id, embedding blob) pairs; the caller re-indexes the items."""
        db.executemany("update items set embedding = ? where id = ?", [(b, i) for i, b in vectors])

    def set_task_embeddings(self, db: Any, vectors: Sequence[tuple[int, bytes]]) -> None:
        """Write (trajectory id, task embedding blob) pairs; the caller re-indexes the tasks."""
        db.executemany(
            "update trajectories set task_embedding = ? where id = ?", [(b, i) for i, b in vectors]
        )
