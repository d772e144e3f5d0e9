"""The bank file: SQLite (WAL) with sqlite-vec vec0 for vectors and FTS5 for keywords.

Nothing here knows about prompts or MCP. Every row and the index entries that point at it are
written in one transaction, so a crash leaves either both or neither.

Connection discipline: one connection per `Store`, shared by the threads of one process and
serialised by `self.lock`. SQLite connections are not safe for concurrent use from two threads,
and one writer per process is all WAL allows anyway; other processes are handled by WAL, a busy
timeout and `BEGIN IMMEDIATE` (which takes the write lock up front, so two writers never
deadlock on a read-to-write upgrade).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from rb_mcp import migrations
from rb_mcp.errors import SchemaError, StoreError
from rb_mcp.fts import fts_query

log = logging.getLogger("rb_mcp.store")

GLOBAL = "global"
BUSY_TIMEOUT_MS = 15_000
_RETRIES = 8


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _driver() -> tuple[Any, str]:
    """stdlib sqlite3 where it can load extensions, else sqlean.py (same DB-API, loading enabled)."""
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3, "sqlite3 (stdlib)"
    try:
        import sqlean
    except ImportError:  # pragma: no cover - sqlean.py is a dependency
        return sqlite3, "sqlite3 (stdlib, cannot load extensions)"
    return sqlean, "sqlean.py"


def driver_info() -> dict[str, str]:
    mod, name = _driver()
    return {"driver": name, "sqlite_version": mod.sqlite_version}


def _load_vec(db: Any) -> tuple[str | None, str | None]:
    """Load sqlite-vec into a connection; returns (version, error)."""
    try:
        import sqlite_vec

        db.enable_load_extension(True)
        try:
            sqlite_vec.load(db)
        finally:
            db.enable_load_extension(False)
        return db.execute("select vec_version()").fetchone()[0], None
    except Exception as exc:  # any failure means degraded mode, never a crash at start
        return None, f"{type(exc).__name__}: {exc}"


def to_blob(vec: np.ndarray) -> bytes:
    return np.asarray(vec, dtype=np.float32).tobytes()


def from_blob(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(blob, dtype=np.float32)


def _is_busy(exc: Exception) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class Store:
    """One bank file. Open with `Store.open(path)`; close with `close()`."""

    def __init__(self, path: Path, db: Any, driver: str, vec_version: str | None, vec_error: str | None):
        self.path = path
        self.db = db
        self.driver = driver
        self.vec_version = vec_version
        self.vec_error = vec_error
        self.lock = threading.RLock()

    # ---- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> Store:
        path = Path(path).expanduser()
        mod, name = _driver()
        try:
            if str(path) != ":memory:":
                path.parent.mkdir(parents=True, exist_ok=True)
            db = mod.connect(str(path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
        except (OSError, mod.Error) as exc:
            raise StoreError(f"cannot open the bank at {path}: {exc}; check the path and its permissions") from exc
        vec_version, vec_error = _load_vec(db)
        store = cls(path, db, name, vec_version, vec_error)
        try:
            store._configure()
            store._migrate()
        except mod.DatabaseError as exc:
            db.close()
            raise StoreError(
                f"the bank at {path} is not a readable rb-mcp database ({exc}); move it aside or restore a backup"
            ) from exc
        except BaseException:
            db.close()
            raise
        return store

    def _configure(self) -> None:
        self.db.execute(f"pragma busy_timeout = {BUSY_TIMEOUT_MS}")
        self.db.execute("pragma foreign_keys = on")
        mode = self.db.execute("pragma journal_mode = wal").fetchone()[0]
        if mode.lower() != "wal" and str(self.path) != ":memory:":
            log.warning("journal_mode is %s, not WAL (read-only directory?)", mode)
        self.db.execute("pragma synchronous = normal")

    def _migrate(self) -> None:
        self.db.execute(
            "create table if not exists _migrations (id integer primary key, name text not null, applied_at text not null)"
        )
        applied = {row[0] for row in self.db.execute("select id from _migrations")}
        newest = max(applied, default=0)
        if newest > migrations.LATEST:
            raise SchemaError(
                f"the bank at {self.path} has schema version {newest}, newer than this rb-mcp understands "
                f"({migrations.LATEST}); upgrade rb-mcp (pip install -U rb-mcp)"
            )
        for number, name, apply in migrations.MIGRATIONS:
            if number in applied:
                continue
            with self.transaction() as db:
                apply(db)
                db.execute("insert into _migrations values (?, ?, ?)", (number, name, now()))
            log.info("applied migration %03d_%s", number, name)

    def close(self) -> None:
        with self.lock:
            with contextlib.suppress(Exception):
                self.db.execute("pragma optimize")
            self.db.close()

    @property
    def schema_version(self) -> int:
        return self.db.execute("select coalesce(max(id), 0) from _migrations").fetchone()[0]

    # ---- transactions ----------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """BEGIN IMMEDIATE ... COMMIT, retried while another process holds the write lock."""
        with self.lock:
            for attempt in range(_RETRIES):
                try:
                    self.db.execute("begin immediate")
                    break
                except Exception as exc:
                    if not _is_busy(exc) or attempt == _RETRIES - 1:
                        raise self._translate(exc) from exc
                    time.sleep(0.05 * 2**attempt)
            try:
                yield self.db
            except BaseException:
                self.db.execute("rollback")
                raise
            try:
                self.db.execute("commit")
            except Exception as exc:
                with contextlib.suppress(Exception):
                    self.db.execute("rollback")
                raise self._translate(exc) from exc

    def _translate(self, exc: Exception) -> StoreError:
        text = str(exc)
        low = text.lower()
        if "readonly" in low or "read-only" in low:
            return StoreError(f"the bank at {self.path} is read-only; fix its permissions or use --bank PATH")
        if "full" in low:
            return StoreError(f"the disk holding {self.path} is full; free space, nothing was written")
        if _is_busy(exc):
            return StoreError(f"the bank at {self.path} stayed locked by another process; retry in a moment")
        if "malformed" in low or "not a database" in low:
            return StoreError(f"the bank at {self.path} is damaged ({text}); restore a backup (rb-mcp backup)")
        return StoreError(f"bank error: {text}")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self.lock:
            try:
                return self.db.execute(sql, params).fetchall()
            except Exception as exc:
                raise self._translate(exc) from exc

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    # ---- meta ------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.one("select value from meta where key = ?", (key,))
        return row[0] if row else None

    def set_meta(self, db: Any, key: str, value: str) -> None:
        db.execute("insert into meta values (?, ?) on conflict (key) do update set value = excluded.value", (key, value))

    # ---- vectors ---------------------------------------------------------------------------
    @property
    def has_vec(self) -> bool:
        return self.vec_version is not None

    def vector_model(self) -> tuple[str | None, int | None]:
        model, dim = self.get_meta("embed_model"), self.get_meta("embed_dim")
        return model, int(dim) if dim else None

    def ensure_vectors(self, model: str, dim: int) -> None:
        """Bind the bank to an embedding model (first use) and make sure the vec0 tables exist."""
        current, _ = self.vector_model()
        if current is not None and current != model:
            raise StoreError(
                f"the bank's vectors come from model {current!r}, not {model!r}; run `rb-mcp reembed --model "
                f"{model}` to switch, or unset RB_MCP_MODEL"
            )
        with self.transaction() as db:
            if current is None:
                self.set_meta(db, "embed_model", model)
                self.set_meta(db, "embed_dim", str(dim))
            if self.has_vec:
                self._create_vec_tables(db, dim)

    def _create_vec_tables(self, db: Any, dim: int) -> None:
        db.execute(
            "create virtual table if not exists item_vec using vec0("
            f"item_id integer primary key, scope text partition key, embedding float[{dim}] distance_metric=cosine)"
        )
        db.execute(
            "create virtual table if not exists task_vec using vec0(trajectory_id integer primary key, "
            f"project text partition key, embedding float[{dim}] distance_metric=cosine)"
        )

    def vec_tables_exist(self) -> bool:
        return self.one("select 1 from sqlite_master where name = 'item_vec'") is not None

    def drop_vectors(self, db: Any) -> None:
        db.execute("drop table if exists item_vec")
        db.execute("drop table if exists task_vec")
        db.execute("delete from meta where key in ('embed_model', 'embed_dim')")

    # ---- index maintenance (always called inside the row's transaction) --------------------
    def index_item(self, db: Any, item_id: int) -> None:
        row = db.execute(
            "select title, description, content, tags, files, scope, embedding, status from items where id = ?",
            (item_id,),
        ).fetchone()
        self.unindex_item(db, item_id)
        if row is None or row[7] != "active":
            return
        title, description, content, tags, files, scope, embedding, _ = row
        tags_text = " ".join(json.loads(tags))
        files_text = " ".join(json.loads(files))
        db.execute(
            "insert into item_fts (rowid, title, description, content, tags, files) values (?, ?, ?, ?, ?, ?)",
            (item_id, title, description, content, tags_text, files_text),
        )
        if embedding is not None and self.has_vec and self.vec_tables_exist():
            db.execute(
                "insert into item_vec (item_id, scope, embedding) values (?, ?, ?)", (item_id, scope, embedding)
            )

    def unindex_item(self, db: Any, item_id: int) -> None:
        db.execute("delete from item_fts where rowid = ?", (item_id,))
        if self.has_vec and self.vec_tables_exist():
            db.execute("delete from item_vec where item_id = ?", (item_id,))

    def index_task(self, db: Any, trajectory_id: int) -> None:
        row = db.execute(
            "select task, files, project, task_embedding, role from trajectories where id = ?", (trajectory_id,)
        ).fetchone()
        self.unindex_task(db, trajectory_id)
        if row is None or row[4] == "refine":
            return
        task, files, project, embedding, _ = row
        db.execute(
            "insert into task_fts (rowid, task, files) values (?, ?, ?)",
            (trajectory_id, task, " ".join(json.loads(files))),
        )
        if embedding is not None and self.has_vec and self.vec_tables_exist():
            db.execute(
                "insert into task_vec (trajectory_id, project, embedding) values (?, ?, ?)",
                (trajectory_id, project or GLOBAL, embedding),
            )

    def unindex_task(self, db: Any, trajectory_id: int) -> None:
        db.execute("delete from task_fts where rowid = ?", (trajectory_id,))
        if self.has_vec and self.vec_tables_exist():
            db.execute("delete from task_vec where trajectory_id = ?", (trajectory_id,))

    # ---- search ----------------------------------------------------------------------------
    def knn(self, table: str, vec: np.ndarray, partitions: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Nearest neighbours by cosine *similarity*, best first, within the given partitions."""
        if not partitions:
            return []
        key, part = ("item_id", "scope") if table == "item_vec" else ("trajectory_id", "project")
        blob = to_blob(vec)
        if self.has_vec and self.vec_tables_exist():
            marks = ",".join("?" * len(partitions))
            rows = self.query(
                f"select {key}, distance from {table} where embedding match ? and k = ? and {part} in ({marks})",
                (blob, k, *partitions),
            )
            hits = [(int(i), 1.0 - float(d)) for i, d in rows]
        else:
            hits = self._knn_numpy(table, vec, partitions, k)
        hits.sort(key=lambda h: -h[1])
        return hits[:k]

    def _knn_numpy(self, table: str, vec: np.ndarray, partitions: Sequence[str], k: int) -> list[tuple[int, float]]:
        # Degraded mode without sqlite-vec: exact cosine over the stored float vectors.
        marks = ",".join("?" * len(partitions))
        if table == "item_vec":
            sql = f"select id, embedding from items where status = 'active' and embedding is not null and scope in ({marks})"
        else:
            sql = (
                "select id, task_embedding from trajectories where role != 'refine' and task_embedding is not null "
                f"and coalesce(project, '{GLOBAL}') in ({marks})"
            )
        rows = self.query(sql, tuple(partitions))
        if not rows:
            return []
        ids = np.array([r[0] for r in rows])
        mat = np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
        sims = mat @ np.asarray(vec, dtype=np.float32)
        order = np.argsort(-sims)[:k]
        return [(int(ids[i]), float(sims[i])) for i in order]

    def keyword(self, table: str, text: str, partitions: Sequence[str], k: int) -> list[tuple[int, float]]:
        """BM25 matches, best first, as (rowid, bm25) where lower bm25 is better (FTS5 convention)."""
        match = fts_query(text)
        if not match or not partitions:
            return []
        marks = ",".join("?" * len(partitions))
        if table == "item_fts":
            sql = (
                "select f.rowid, bm25(item_fts, 3.0, 2.0, 1.0, 2.0, 2.0) as r from item_fts f "
                f"join items i on i.id = f.rowid where item_fts match ? and i.scope in ({marks}) order by r limit ?"
            )
        else:
            sql = (
                "select f.rowid, bm25(task_fts, 1.0, 2.0) as r from task_fts f join trajectories t on t.id = f.rowid "
                f"where task_fts match ? and coalesce(t.project, '{GLOBAL}') in ({marks}) order by r limit ?"
            )
        return [(int(i), float(r)) for i, r in self.query(sql, (match, *partitions, k))]

    # ---- consistency -----------------------------------------------------------------------
    def consistency_problems(self) -> list[str]:
        """Every active item has exactly its FTS (and vector) row, and nothing else is indexed."""
        problems: list[str] = []
        checks = [
            ("items without FTS row", "select id from items where status = 'active' and id not in (select rowid from item_fts)"),
            ("FTS rows without active item", "select rowid from item_fts where rowid not in (select id from items where status = 'active')"),
            ("tasks without FTS row", "select id from trajectories where role != 'refine' and id not in (select rowid from task_fts)"),
            ("task FTS rows without trajectory", "select rowid from task_fts where rowid not in (select id from trajectories)"),
        ]
        if self.has_vec and self.vec_tables_exist():
            checks += [
                ("items without vector", "select id from items where status = 'active' and embedding is not null and id not in (select item_id from item_vec)"),
                ("vectors without active item", "select item_id from item_vec where item_id not in (select id from items where status = 'active')"),
                ("tasks without vector", "select id from trajectories where role != 'refine' and task_embedding is not null and id not in (select trajectory_id from task_vec)"),
                ("task vectors without trajectory", "select trajectory_id from task_vec where trajectory_id not in (select id from trajectories)"),
            ]
        for label, sql in checks:
            ids = [r[0] for r in self.query(sql)]
            if ids:
                problems.append(f"{label}: {ids[:10]}{' ...' if len(ids) > 10 else ''}")
        return problems

    def integrity(self) -> str:
        return self.one("pragma integrity_check")[0]

    def backup(self, target: str | Path) -> None:
        """Online copy with SQLite's backup API (safe while other processes write)."""
        mod, _ = _driver()
        target = Path(target).expanduser()
        if target.exists():
            raise StoreError(f"{target} exists; choose a new file name for the backup")
        with self.lock:
            dst = mod.connect(str(target))
            try:
                self.db.backup(dst)
            finally:
                dst.close()
