"""`rb-mcp copy SRC DST`: move a bank between SQLite and PostgreSQL, either way, losslessly.

Every row of every table keeps its id and its values, vectors included (never re-embedded), and
so do the bank's meta entries (the embedding model, consolidation decisions, the id floor). The
source is read from one snapshot, so a copy taken while servers write is consistent; the
destination is written in one transaction, so a failed copy leaves it as it was. A destination
that already holds memory is refused: `--append` imports into it instead, giving the copied rows
new ids where theirs are taken (as `rb-mcp import` does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rb_mcp.errors import InputError, StoreError
from rb_mcp.store.common import ID_FLOOR
from rb_mcp.store.protocol import Store, Tx
from rb_mcp.store.schema import COLUMNS, TABLES
from rb_mcp.store.sqlite import SqliteStore

log = logging.getLogger(__name__)

BATCH = 2_000
# Each table read in key order, page by page: (key columns, whether the key is one integer id).
KEYS = {
    "recall_events": ("id",),
    "trajectories": ("id",),
    "groups": ("group_id",),
    "items": ("id",),
    "item_sources": ("item_id", "trajectory_id"),
    "item_history": ("id",),
    "recall_hits": ("recall_id", "item_id"),
}

Progress = Callable[[int], None]


def _pages(db: Any, table: str) -> Iterator[list[Any]]:
    columns = list(COLUMNS[table])
    keys = KEYS[table]
    where, last = "", None
    while True:
        params: list[Any] = []
        if last is not None:
            if len(keys) == 1:
                where = f"where {keys[0]} > ?"
            else:
                where = f"where ({', '.join(keys)}) > ({', '.join('?' * len(keys))})"
            params = list(last)
        rows = db.execute(
            f"select {', '.join(columns)} from {table} {where} order by {', '.join(keys)} limit ?",
            (*params, BATCH),
        ).fetchall()
        if not rows:
            return
        yield rows
        last = [rows[-1][columns.index(k)] for k in keys]


def copy_bank(src: Store, dst: Store, progress: Progress | None = None) -> dict[str, int]:
    """Copy every row and meta entry of `src` into the empty bank `dst`; counts per table."""
    if any(dst.row_counts().values()):
        raise InputError(
            f"the destination {dst.path} already holds memory; copy into an empty bank, or pass --append "
            "to import into it (rows get new ids where theirs are taken)"
        )
    model, _ = src.vector_model()
    dst_model, _ = dst.vector_model()
    if model and dst_model and model != dst_model:
        raise InputError(
            f"the source's vectors come from {model!r}, the destination's from {dst_model!r}; copy into an "
            "empty bank, or run `rb-mcp reembed` on one of them first"
        )
    counts = dict.fromkeys(TABLES, 0)
    with src.snapshot() as sdb, dst.transaction() as ddb, dst.bulk_load(ddb):
        meta = sdb.execute("select key, value from meta order by key").fetchall()
        for key, value in meta:
            if key == "embed_dim":
                continue
            dst.set_meta(ddb, key, value)
        # Set last: on PostgreSQL it creates the vector tables the indexing below writes to.
        for key, value in meta:
            if key == "embed_dim":
                dst.set_meta(ddb, key, value)
        for table in TABLES:
            columns = list(COLUMNS[table])
            insert = f"insert into {table} ({', '.join(columns)}) values ({', '.join('?' * len(columns))})"
            for rows in _pages(sdb, table):
                ddb.executemany(insert, [tuple(r) for r in rows])
                if table == "items":
                    dst.index_items(ddb, [row[0] for row in rows])
                elif table == "trajectories":
                    dst.index_tasks(ddb, [row[0] for row in rows])
                counts[table] += len(rows)
                if progress:
                    progress(len(rows))
        floor = max(_floor_of(src, sdb), _floor_of(dst, ddb))
        top = ddb.execute("select coalesce(max(id), 0) from items").fetchone()[0]
        if floor > top:
            dst.set_meta(ddb, ID_FLOOR, str(floor))
        dst.sync_ids(ddb)
    return counts


def _floor_of(store: Store, db: Tx) -> int:
    """The highest item id ever handed out or forgotten in this bank: new ids must stay above it."""
    row = db.execute("select value from meta where key = ?", (ID_FLOOR,)).fetchone()
    return max(int(row[0]) if row else 0, store.id_floor())


def copy_to_new_file(src: Store, target: Path) -> Path:
    """A consistent copy of any bank into a new SQLite file (`backup` of a PostgreSQL bank)."""
    if target.exists():
        raise StoreError(f"{target} exists; choose a new file name for the backup")
    if not target.parent.is_dir():
        raise StoreError(f"the folder {target.parent} does not exist; create it or choose another path")
    partial = target.with_name(f".{target.name}.partial")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    dst = SqliteStore.open(partial)
    try:
        copy_bank(src, dst)
    finally:
        dst.close()
    partial.replace(target)
    for suffix in ("-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    return target
