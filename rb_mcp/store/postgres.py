"""The team bank: PostgreSQL with pgvector (HNSW) for vectors and tsvector/GIN for keywords.

`PgStore` has the interface of `rb_mcp.store.Store`, so the business logic (items, recall, bank,
consolidate, refine, distill, admin, transfer) runs unchanged on both. Its `transaction()` yields
a `PgConn` (`rb_mcp.pgsql`), a thin wrapper that takes the same `?` SQL as SQLite. Inside a
transaction, `query`, `one`, `knn` and `keyword` on the same thread run on the transaction's
connection, as they do on SQLite's single connection.

Many writers on many machines. SQLite serialises every write (BEGIN IMMEDIATE); PostgreSQL runs
them at once, so the places where a read decides a write take locks: `lock_scope` (an advisory
transaction lock per scope) around consolidation, so two servers storing the same new lesson
cannot both miss the other's copy; `lock_items` (row locks, always in id order, so two writers
never deadlock) before an item's counters or text change. Ids come from sequences and are never
reused.

psycopg (3) and psycopg-pool are optional: `pip install 'rb-mcp[postgres]'`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rb_mcp.config import Config
from rb_mcp.errors import StoreError
from rb_mcp.store import consistency, lexical, migrations
from rb_mcp.store import pg_migrations as pgmigrations
from rb_mcp.store.common import GLOBAL, check_model, is_url
from rb_mcp.store.effect import EffectRows
from rb_mcp.store.housekeeping import HousekeepingRows
from rb_mcp.store.items import ItemRows
from rb_mcp.store.pgsql import (
    SERIAL_TABLES,
    VEC_TABLES,
    PgConn,
    fts_text,
    redact_url,
    vector_param,
)
from rb_mcp.store.pgsql import (
    driver as _driver,
)
from rb_mcp.store.postgres_search import PgSearch
from rb_mcp.store.review import ReviewRows
from rb_mcp.store.trajectories import TrajectoryRows

log = logging.getLogger(__name__)

POOL_MAX = 8
# `create table` of the vector tables and the migrations: one process at a time.
_SCHEMA_LOCK = 0x72626D6370  # "rbmcp"


def hnsw_build_mb(rows: int, dim: int) -> int:
    """maintenance_work_mem for building an HNSW index over `rows` vectors: enough to keep the graph
    in memory (vector + default m=16 neighbour lists, with room to spare), within RB_MCP_PG_BUILD_MEMORY_MB."""
    need = rows * (4 * dim + 700) * 1.3 / 2**20
    return int(min(max(64.0, need), Config.from_env().pg_build_memory_mb))


class PgStore(PgSearch, ItemRows, TrajectoryRows, HousekeepingRows, EffectRows, ReviewRows):
    """A bank in a PostgreSQL database. Open with `PgStore.open(url)`; close with `close()`."""

    dialect = "postgres"
    mode = "rw"
    read_only = False
    damaged: str | None = None
    vec_error: str | None = None

    def __init__(self, url: str, pool: Any, server_version: str):
        self.url = url
        self.path = redact_url(url)
        self.pool = pool
        self.server_version = server_version
        self.driver = f"psycopg {_driver().__version__}"
        self.vec_version: str | None = None
        self.lock = threading.RLock()  # only for callers that expect it; the pool serialises nothing
        self._local = threading.local()
        self._vec_dim: int | None = None
        self._planners: dict[str, lexical.Planner] = {}

    # ---- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, url: str) -> PgStore:
        if not is_url(url):
            raise StoreError(f"{url!r} is not a postgresql:// URL")
        psycopg = _driver()
        from psycopg_pool import ConnectionPool

        # One plain connection first: a wrong URL or a server that is down fails at once, with
        # the driver's reason, instead of a pool retrying in the background.
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=15) as conn:
                version = conn.execute("show server_version").fetchone()[0]
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot connect to the PostgreSQL bank at {redact_url(url)}: {str(exc).strip()}; check the "
                "URL, that the server runs and that it accepts this user"
            ) from exc
        pool = ConnectionPool(
            url,
            min_size=1,
            max_size=POOL_MAX,
            kwargs={"autocommit": True},
            open=True,
            timeout=30,
            name="rb-mcp",
        )
        try:
            store = cls(url, pool, version)
            store._migrate()
            store.vec_version = store.one("select extversion from pg_extension where extname = 'vector'")[0]
            store._vec_dim = store._dim_of_tables()
        except BaseException:
            pool.close()
            raise
        log.info("opened PostgreSQL bank %s (server %s)", store.path, version)
        return store

    def _migrate(self) -> None:
        migrations.apply_pending(
            self,
            pgmigrations.MIGRATIONS,
            self._applied(),
            lambda db: db.execute("select pg_advisory_xact_lock(?)", (_SCHEMA_LOCK,)),
        )

    def _applied(self) -> set[int]:
        if self.one("select to_regclass('_migrations')")[0] is None:
            return set()
        return {row[0] for row in self.query("select id from _migrations")}

    def close(self) -> None:
        self.pool.close()

    @property
    def schema_version(self) -> int:
        return self.one("select coalesce(max(id), 0) from _migrations")[0]

    # ---- transactions ----------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[PgConn]:
        """BEGIN ... COMMIT on a pooled connection; nested calls on one thread join the outer one.

        Driver errors roll the transaction back and leave as `StoreError` with advice.
        """
        current = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        psycopg = _driver()
        try:
            with self.pool.connection() as conn, conn.transaction():
                db = PgConn(conn)
                self._local.conn = db
                try:
                    yield db
                finally:
                    self._local.conn = None
        except psycopg.Error as exc:
            raise self._translate(exc) from exc
        except Exception as exc:
            if type(exc).__module__.startswith("psycopg_pool"):
                raise self._translate(exc) from exc
            raise

    @contextlib.contextmanager
    def _reader(self) -> Iterator[PgConn]:
        current = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        psycopg = _driver()
        try:
            with self.pool.connection() as conn:
                yield PgConn(conn)
        except psycopg.Error as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: Exception) -> StoreError:
        code = getattr(exc, "sqlstate", None) or ""
        text = str(exc).strip()
        if code in ("40001", "40P01"):
            return StoreError(f"a concurrent write to the bank at {self.path} conflicted ({text}); retry")
        if code.startswith("08") or "connection" in text.lower() or "pool" in type(exc).__module__:
            return StoreError(f"lost the connection to the PostgreSQL bank at {self.path}: {text}; retry")
        if code == "25006" or code == "42501":
            return StoreError(f"the bank at {self.path} cannot be written by this user ({text})")
        if code == "53100":
            return StoreError(f"the disk of the PostgreSQL server is full ({text}); nothing was written")
        return StoreError(f"bank error: {text}")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        psycopg = _driver()
        with self._reader() as db:
            try:
                return db.execute(sql, params).fetchall()
            except psycopg.Error as exc:
                raise self._translate(exc) from exc

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    # ---- locks (SQLite needs none: it has one writer at a time) ---------------------------
    def lock_scope(self, db: PgConn, scope: str) -> None:
        """Serialise consolidation within one scope until the transaction ends."""
        db.execute("select pg_advisory_xact_lock(hashtextextended(?, 0))", (f"items:{scope}",))

    def lock_items(self, db: PgConn, ids: Sequence[int]) -> None:
        """Row locks on these items, taken in id order so two writers never wait on each other."""
        if ids:
            db.execute(
                "select id from items where id = any(?) order by id for no key update", (sorted(set(ids)),)
            )

    def next_item_id(self, db: PgConn) -> int:
        return int(db.execute("select nextval('items_id_seq')").fetchone()[0])

    def sync_ids(self, db: PgConn) -> None:
        """Move the id sequences past rows written with explicit ids (import, copy) and the
        highest id ever forgotten, so no id is handed out twice."""
        floor = db.execute("select value from meta where key = 'item_id_floor'").fetchone()
        for table in SERIAL_TABLES:
            top = db.execute(f"select coalesce(max(id), 0) from {table}").fetchone()[0]
            if table == "items" and floor:
                top = max(top, int(floor[0]))
            db.execute(
                f"select setval('{table}_id_seq', greatest(?, (select last_value from {table}_id_seq)), true)",
                (max(top, 1),),
            )

    def id_floor(self) -> int:
        """The highest item id handed out so far (a copy into SQLite keeps new ids above it)."""
        row = self.one("select last_value, is_called from items_id_seq")
        return int(row[0]) if row[1] else 0

    # ---- meta ------------------------------------------------------------------------------
    def set_meta(self, db: PgConn, key: str, value: str) -> None:
        super().set_meta(db, key, value)
        if key == "embed_dim":
            self._create_vec_tables(db, int(value))

    # ---- vectors ---------------------------------------------------------------------------
    @property
    def has_vec(self) -> bool:
        return True

    def vector_model(self) -> tuple[str | None, int | None]:
        model, dim = self.get_meta("embed_model"), self.get_meta("embed_dim")
        return model, int(dim) if dim else None

    def ensure_vectors(self, model: str, dim: int) -> None:
        current, _ = self.vector_model()
        check_model(current, model)
        if current is None or self._vec_dim is None:
            with self.transaction() as db:
                db.execute("select pg_advisory_xact_lock(?)", (_SCHEMA_LOCK,))
                row = db.execute("select value from meta where key = 'embed_model'").fetchone()
                if row is None:
                    self.set_meta(db, "embed_model", model)
                    self.set_meta(db, "embed_dim", str(dim))
                elif row[0] != model:
                    raise StoreError(f"the bank's vectors come from model {row[0]!r}, not {model!r}")
                else:
                    self._create_vec_tables(db, int(self.get_meta("embed_dim") or dim))

    def _create_vec_tables(self, db: PgConn, dim: int) -> None:
        db.execute("select pg_advisory_xact_lock(?)", (_SCHEMA_LOCK,))
        for table, (key, part) in VEC_TABLES.items():
            db.execute(
                f"create table if not exists {table} ({key} bigint primary key, {part} text not null, "
                f"vec vector({dim}) not null)"
            )
            if not getattr(self._local, "bulk", False):  # a bulk load builds it at its end
                db.execute(
                    f"create index if not exists {table}_hnsw on {table} using hnsw (vec vector_cosine_ops)"
                )
            db.execute(f"create index if not exists {table}_{part} on {table} ({part})")
        self._vec_dim = dim

    def _dim_of_tables(self) -> int | None:
        row = self.one(
            "select atttypmod from pg_attribute where attrelid = to_regclass('item_vec') and attname = 'vec'"
        )
        return int(row[0]) if row else None

    @contextlib.contextmanager
    def bulk_load(self, db: PgConn) -> Iterator[None]:
        """Fill an empty bank faster: the HNSW indexes are built once at the end, not row by row."""
        db.execute("drop index if exists item_vec_hnsw")
        db.execute("drop index if exists task_vec_hnsw")
        self._local.bulk = True
        try:
            yield
        finally:
            self._local.bulk = False
        if self._vec_dim is not None:
            for table in VEC_TABLES:
                # pgvector builds fast while the graph fits in maintenance_work_mem and many times
                # slower once it does not (1M 384-d vectors need about 2.3 GB).
                rows = db.execute(f"select count(*) from {table}").fetchone()[0]
                db.execute(f"set local maintenance_work_mem = '{hnsw_build_mb(rows, self._vec_dim)}MB'")
                db.execute(
                    f"create index if not exists {table}_hnsw on {table} using hnsw (vec vector_cosine_ops)"
                )

    def vec_tables_exist(self) -> bool:
        return self.one("select to_regclass('item_vec')")[0] is not None

    def drop_vectors(self, db: PgConn) -> None:
        db.execute("drop table if exists item_vec, task_vec")
        db.execute("delete from meta where key in ('embed_model', 'embed_dim')")
        self._vec_dim = None

    def warm_vectors(self) -> None:
        """Nothing to load: the HNSW index lives in the server."""

    def vector_index(self) -> None:
        return None

    # ---- index maintenance (always called inside the row's transaction) --------------------
    def index_item(self, db: PgConn, item_id: int) -> None:
        self.index_items(db, [item_id])

    def index_items(self, db: PgConn, ids: Sequence[int]) -> None:
        """Index these items as they are now (active ones only), in a few statements for any number."""
        ids = list(ids)
        self._unindex(db, "item_fts", "item_vec", "item_id", ids)
        rows = db.execute(
            "select id, title, description, content, tags, files, scope, embedding from items "
            "where id = any(?) and status = 'active'",
            (ids,),
        ).fetchall()
        if not rows:
            return
        db.executemany(
            "insert into item_fts (rowid, doc) values (?, setweight(to_tsvector('english', ?), 'A') || "
            "setweight(to_tsvector('english', ?), 'B') || setweight(to_tsvector('english', ?), 'B') || "
            "setweight(to_tsvector('english', ?), 'B') || setweight(to_tsvector('english', ?), 'D'))",
            [
                (i, fts_text(title), fts_text(description), fts_text(" ".join(json.loads(tags))),
                 fts_text(" ".join(json.loads(files))), fts_text(content))
                for i, title, description, content, tags, files, _, _ in rows
            ],
        )  # fmt: skip
        vectors = [(r[0], r[6], vector_param(r[7])) for r in rows if r[7] is not None]
        if vectors and self._vec_dim is not None:
            db.executemany("insert into item_vec values (?, ?, ?::vector)", vectors)

    def unindex_item(self, db: PgConn, item_id: int) -> None:
        self._unindex(db, "item_fts", "item_vec", "item_id", [item_id])

    def index_task(self, db: PgConn, trajectory_id: int) -> None:
        self.index_tasks(db, [trajectory_id])

    def index_tasks(self, db: PgConn, ids: Sequence[int]) -> None:
        """Index these trajectories as they are now (refinement notes are never searched)."""
        ids = list(ids)
        self._unindex(db, "task_fts", "task_vec", "trajectory_id", ids)
        rows = db.execute(
            "select id, task, files, project, task_embedding from trajectories where id = any(?) and role != 'refine'",
            (ids,),
        ).fetchall()
        if not rows:
            return
        texts = [(r[0], fts_text(r[1]), fts_text(" ".join(json.loads(r[2])))) for r in rows]
        db.executemany(
            "insert into task_fts (rowid, doc, files) values (?, setweight(to_tsvector('english', ?), 'D') || "
            "setweight(to_tsvector('english', ?), 'A'), to_tsvector('english', ?))",
            [(i, task, files, files) for i, task, files in texts],
        )
        vectors = [(r[0], r[3] or GLOBAL, vector_param(r[4])) for r in rows if r[4] is not None]
        if vectors and self._vec_dim is not None:
            db.executemany("insert into task_vec values (?, ?, ?::vector)", vectors)

    def unindex_task(self, db: PgConn, trajectory_id: int) -> None:
        self._unindex(db, "task_fts", "task_vec", "trajectory_id", [trajectory_id])

    def _unindex(self, db: PgConn, fts: str, vec: str, key: str, ids: list[int]) -> None:
        db.execute(f"delete from {fts} where rowid = any(?)", (ids,))
        if self._vec_dim is not None:
            db.execute(f"delete from {vec} where {key} = any(?)", (ids,))

    # ---- consistency -----------------------------------------------------------------------
    def consistency_problems(self) -> list[str]:
        """Every active item has exactly its FTS (and vector) row, and nothing else is indexed."""
        checks = list(consistency.KEYWORD_CHECKS)
        if self.vec_tables_exist():
            checks += consistency.VECTOR_CHECKS
        elif self.one("select count(*) from items where embedding is not null")[0]:
            checks += consistency.NO_VECTOR_TABLE
        return consistency.problems(self, checks)

    def engine_checks(self) -> list[tuple[str, str, str]]:
        """`doctor`'s lines about the engine: the server and pgvector versions."""
        return [
            ("backend", "ok", f"PostgreSQL {self.server_version} through {self.driver}"),
            ("pgvector", "ok", f"{self.vec_version} (HNSW, cosine)"),
        ]

    def bank_checks(self) -> Iterator[tuple[str, str, str]]:
        """`doctor`'s lines about the bank: its schema (the server checks its own pages)."""
        yield ("bank", "ok", f"{self.path} (schema {self.schema_version} of {pgmigrations.LATEST})")

    def integrity(self) -> str:
        """PostgreSQL checks its own pages; what rb-mcp can check is `consistency_problems`."""
        self.one("select 1")
        return "ok"

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[PgConn]:
        """One consistent read view (REPEATABLE READ, read only) on a connection of its own."""
        psycopg = _driver()
        try:
            with self.pool.connection() as conn:
                conn.execute("begin isolation level repeatable read read only")
                try:
                    yield PgConn(conn)
                finally:
                    conn.execute("rollback")
        except psycopg.Error as exc:
            raise self._translate(exc) from exc

    def backup(self, target: str | Path) -> Path:
        """A consistent copy of this bank into a new SQLite file (`rb-mcp copy` to a file)."""
        from rb_mcp.store.copy import copy_to_new_file

        return copy_to_new_file(self, Path(target).expanduser())

    def server_info(self) -> dict[str, str]:
        return {"server": f"PostgreSQL {self.server_version}", "pgvector": self.vec_version or "missing"}
