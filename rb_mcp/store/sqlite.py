"""The bank file: SQLite (WAL), FTS5 for keywords and rb-mcp's own vector index (`rb_mcp.store.vindex`).

Nothing here knows about prompts or MCP. Every row and the index entries that point at it are
written in one transaction, so a crash leaves either both or neither.

Connection discipline: one connection per `Store`, shared by the threads of one process and
serialised by `self.lock`. SQLite connections are not safe for concurrent use from two threads,
and one writer per process is all WAL allows anyway; other processes are handled by WAL, a busy
timeout and `BEGIN IMMEDIATE` (which takes the write lock up front, so two writers never
deadlock on a read-to-write upgrade). Long reads that must see one moment (`snapshot`, used by
export) get a read-only connection of their own, so they never hold up this process's writers.
Faults end as `StoreError` with advice: locked, read-only (such a bank opens read-only), full,
damaged (after which nothing more is written), newer schema (`SchemaError`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rb_mcp.errors import StoreError
from rb_mcp.store import consistency, lexical, migrations, vindex
from rb_mcp.store.common import ID_FLOOR, check_model
from rb_mcp.store.effect import EffectRows
from rb_mcp.store.housekeeping import HousekeepingRows
from rb_mcp.store.items import ItemRows
from rb_mcp.store.review import ReviewRows
from rb_mcp.store.sqlite_index import SqliteIndex
from rb_mcp.store.trajectories import TrajectoryRows

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 15_000
_RETRIES = 8


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


def _connect(mod: Any, path: Path, mode: str) -> Any:
    """A connection in autocommit mode (transactions are explicit) shared by the process's threads."""
    target, uri = str(path), False
    if mode != "rw":
        query = "?mode=ro&immutable=1" if mode == "immutable" else "?mode=ro"
        target, uri = path.resolve().as_uri() + query, True
    return mod.connect(
        target, uri=uri, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
    )


def _cannot_write(path: Path) -> bool:
    """The bank exists and this process may not write it or create its -wal/-shm files."""
    if str(path) == ":memory:" or not path.is_file():
        return False
    return not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK)


def _is_busy(exc: Exception) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class SqliteStore(SqliteIndex, ItemRows, TrajectoryRows, HousekeepingRows, EffectRows, ReviewRows):
    """One bank file. Open with `SqliteStore.open(path)` (or `rb_mcp.store.open_store`); close with
    `close()`."""

    dialect = "sqlite"

    def __init__(self, path: Path, db: Any, driver: str, vec_version: str | None, vec_error: str | None):
        self.path = path
        self.db = db
        self.driver = driver
        self.vec_version = vec_version
        self.vec_error = vec_error
        self.lock = threading.RLock()
        self.mode = "rw"  # "ro" or "immutable" when the file cannot be written (see `open`)
        self.damaged: str | None = None  # set once SQLite reports a malformed file: no more writes
        self._planners: dict[str, lexical.Planner] = {}

    # ---- opening ---------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> SqliteStore:
        path = Path(path).expanduser()
        try:
            return cls._open(path, "rw")
        except StoreError as exc:
            if not _cannot_write(path):
                raise
            first = exc
        # A bank this user may read but not write (permissions, read-only media, a shared copy)
        # opens read-only, so recall keeps working; each write then fails with the read-only advice.
        # `immutable` is the last resort for a WAL bank whose -shm file cannot be created.
        for mode in ("ro", "immutable"):
            try:
                store = cls._open(path, mode)
            except StoreError:
                continue
            log.warning("the bank at %s cannot be written by this process: opened read-only", path)
            return store
        raise first

    @classmethod
    def _open(cls, path: Path, mode: str) -> SqliteStore:
        mod, name = _driver()
        try:
            if mode == "rw" and str(path) != ":memory:":
                path.parent.mkdir(parents=True, exist_ok=True)
            db = _connect(mod, path, mode)
        except (OSError, mod.Error) as exc:
            raise StoreError(
                f"cannot open the bank at {path}: {exc}; check the path and its permissions"
            ) from exc
        vec_version, vec_error = _load_vec(db)
        store = cls(path, db, name, vec_version, vec_error)
        store.mode = mode
        try:
            store._configure()
            store._migrate()
        except mod.DatabaseError as exc:
            db.close()
            low = str(exc).lower()
            if _is_busy(exc) or "readonly" in low or "full" in low or "unable to open" in low:
                # locked, read-only, a full disk or a missing -shm: the file itself may be fine,
                # so never advise moving it aside
                raise store._translate(exc) from exc
            raise StoreError(
                f"the bank at {path} is not a readable rb-mcp database ({exc}); move it aside or restore a backup"
            ) from exc
        except BaseException:
            db.close()
            raise
        return store

    def connect(self, mode: str) -> Any:
        """A new connection to this bank's file ("rw", "ro" or "immutable")."""
        return _connect(_driver()[0], self.path, mode)

    @property
    def driver_errors(self) -> type[Exception]:
        return _driver()[0].Error

    @property
    def read_only(self) -> bool:
        return self.mode != "rw"

    def _configure(self) -> None:
        self.db.execute(f"pragma busy_timeout = {BUSY_TIMEOUT_MS}")
        self.db.execute("pragma foreign_keys = on")
        if self.read_only:
            return
        # Switching a fresh file to WAL needs a moment of exclusive access, and SQLite answers "locked"
        # at once, without the busy handler, while another process is creating the schema.
        for attempt in range(40):
            try:
                mode = self.db.execute("pragma journal_mode = wal").fetchone()[0]
                break
            except Exception as exc:
                if not _is_busy(exc) or attempt == 39:
                    raise
                time.sleep(min(0.05 * (attempt + 1), 0.5))
        if mode.lower() != "wal" and str(self.path) != ":memory:":
            log.warning("journal_mode is %s, not WAL (read-only directory?)", mode)
        self.db.execute("pragma synchronous = normal")

    def _applied_migrations(self, db: Any) -> set[int]:
        found = db.execute("select 1 from sqlite_master where type = 'table' and name = '_migrations'")
        if found.fetchone() is None:
            return set()
        return {row[0] for row in db.execute("select id from _migrations")}

    def _migrate(self) -> None:
        # Read first and write only when something is missing, so an up-to-date bank opens on a
        # read-only file.
        migrations.apply_pending(self, migrations.MIGRATIONS, self._applied_migrations(self.db))

    def close(self) -> None:
        if self._vindex is not None:
            self._vindex.close()
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
        """BEGIN IMMEDIATE ... COMMIT, retried while another process holds the write lock.

        SQLite errors raised inside the block (disk full, read-only file, damaged page) roll the
        transaction back and leave as `StoreError` with advice, never as a bare driver error.
        """
        errors = _driver()[0].Error
        if self.damaged:
            # Writing into a file SQLite found malformed can spread the damage: refuse, keep reads.
            raise StoreError(self.damaged)
        with self.lock:
            # busy_timeout already waits inside each BEGIN; the retries cover the busy answers SQLite
            # gives without waiting (WAL recovery, snapshot races), and the deadline bounds the total.
            deadline = time.monotonic() + 2 * BUSY_TIMEOUT_MS / 1000
            for attempt in range(_RETRIES):
                try:
                    self.db.execute("begin immediate")
                    break
                except Exception as exc:
                    if not _is_busy(exc) or attempt == _RETRIES - 1 or time.monotonic() > deadline:
                        raise self._translate(exc) from exc
                    time.sleep(0.05 * 2**attempt)
            try:
                yield self.db
            except BaseException as exc:
                # SQLite may already have rolled back by itself (SQLITE_FULL does): a second
                # rollback would raise and hide the real error.
                if self.db.in_transaction:
                    with contextlib.suppress(Exception):
                        self.db.execute("rollback")
                if isinstance(exc, errors):
                    raise self._translate(exc) from exc
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
            self.damaged = (
                f"the bank at {self.path} is damaged ({text}); nothing more is written to it: move it aside "
                "and restore a copy made with `rb-mcp backup` (or export what still reads with `rb-mcp export`)"
            )
            return StoreError(self.damaged)
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

    # ---- write locks and ids (the PostgreSQL store needs them; SQLite has one writer) ----------
    def lock_scope(self, db: Any, scope: str) -> None:
        """Serialise consolidation in one scope: BEGIN IMMEDIATE already serialises every writer."""

    def lock_items(self, db: Any, ids: Sequence[int]) -> None:
        """Lock item rows until the transaction ends: already held, as above."""

    def next_item_id(self, db: Any) -> int:
        """The id for a new item: above every item and every forgotten id (`common.ID_FLOOR`)."""
        row = db.execute(
            "select max(coalesce((select max(id) from items), 0), "
            "coalesce((select cast(value as integer) from meta where key = ?), 0))",
            (ID_FLOOR,),
        ).fetchone()
        return int(row[0]) + 1

    def id_floor(self) -> int:
        """The highest item id handed out or forgotten so far (new ids stay above it)."""
        row = self.one(
            "select max(coalesce((select max(id) from items), 0), "
            "coalesce((select cast(value as integer) from meta where key = ?), 0))",
            (ID_FLOOR,),
        )
        return int(row[0])

    @contextlib.contextmanager
    def bulk_load(self, db: Any) -> Iterator[None]:
        """Filling an empty bank (`rb-mcp copy`): SQLite needs no special mode, its indexes are written
        row by row in the same transaction."""
        yield

    def sync_ids(self, db: Any) -> None:
        """Nothing to do: SQLite hands out ids above the highest row (and `items` keeps a floor)."""

    # ---- vectors ---------------------------------------------------------------------------
    @property
    def has_vec(self) -> bool:
        return self.vec_version is not None

    def vector_model(self) -> tuple[str | None, int | None]:
        model, dim = self.get_meta("embed_model"), self.get_meta("embed_dim")
        return model, int(dim) if dim else None

    def ensure_vectors(self, model: str, dim: int) -> None:
        """Bind the bank to an embedding model on first use; a bank never mixes two models."""
        current, _ = self.vector_model()
        check_model(current, model)
        if current is None:
            with self.transaction() as db:
                self.set_meta(db, "embed_model", model)
                self.set_meta(db, "embed_dim", str(dim))

    def vec_tables_exist(self) -> bool:
        return self.one("select 1 from sqlite_master where name = 'item_vec'") is not None

    def drop_vectors(self, db: Any) -> None:
        vindex.reset(db)
        db.execute("delete from meta where key in ('embed_model', 'embed_dim')")

    # ---- consistency -----------------------------------------------------------------------
    def consistency_problems(self) -> list[str]:
        """Every active item has exactly its FTS (and vector) row, and nothing else is indexed."""
        problems = consistency.problems(self, consistency.KEYWORD_CHECKS + consistency.VECTOR_CHECKS)
        with self.lock:
            problems += vindex.code_problems(self.db)
        index = self.vector_index()
        if index is not None:
            # The live memory copy, and one rebuilt from the file (snapshot + change log).
            problems += index.problems()
            fresh = vindex.VectorIndex(index._connect, writable=False)
            try:
                problems += [f"rebuilt index: {p}" for p in fresh.problems()]
            finally:
                fresh.close()
        return problems

    def engine_checks(self) -> list[tuple[str, str, str]]:
        """`doctor`'s lines about the engine: sqlite-vec and FTS5 (an in-memory bank answers them too)."""
        checks: list[tuple[str, str, str]] = []
        # Search runs on rb-mcp's own index (rb_mcp.store.vindex); sqlite-vec only lets migration 2 drop
        # the vec0 tables of a bank written before it, so a missing sqlite-vec is no degraded mode.
        if self.vec_version:
            checks.append(("sqlite-vec", "ok", f"{self.vec_version} loaded through {self.driver}"))
        else:
            checks.append(("sqlite-vec", "ok", f"not loaded ({self.vec_error}); not needed: vector search uses "
                           "rb-mcp's own index (only upgrading a bank from before schema 2 needs it)"))  # fmt: skip
        fts = self.one("select sqlite_compileoption_used('ENABLE_FTS5')")[0]
        checks.append(("fts5", "ok" if fts else "fail", "available" if fts else "SQLite lacks FTS5"))
        return checks

    def bank_checks(self) -> Iterator[tuple[str, str, str]]:
        """`doctor`'s lines about the bank file, one at a time (a damaged file can fail any query, and
        the lines before it still count): schema and writability, journal mode, quick_check."""
        where = f"{self.path} (schema {self.schema_version} of {migrations.LATEST})"
        if self.read_only:
            yield ("bank", "warn", f"{where} is read-only for this user: recall works, recording fails")
        else:
            yield ("bank", "ok", where)
        journal = self.one("pragma journal_mode")[0]
        yield ("journal", "ok" if journal == "wal" or self.read_only else "warn", journal)
        try:
            quick = [r[0] for r in self.query("pragma quick_check(5)")]
            found = "; ".join(quick) + "; move the bank aside and restore a copy made with `rb-mcp backup`"
        except StoreError as exc:  # a damaged b-tree can stop the check itself
            quick, found = [], str(exc)
        yield ("integrity", "ok", "quick_check ok") if quick == ["ok"] else ("integrity", "fail", found)

    def integrity(self) -> str:
        """'ok', or the first problems `PRAGMA integrity_check` reports."""
        rows = [r[0] for r in self.query("pragma integrity_check(20)")]
        return "ok" if rows == ["ok"] else "; ".join(rows)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Any]:
        """One consistent read view of the bank, on a read-only connection of its own.

        In WAL mode readers never block writers, so an export taken while other processes (or this
        process's other threads) write sees every table as of one moment: never a row whose
        references were committed after the table holding them was read.
        """
        mod, _ = _driver()
        if str(self.path) == ":memory:":
            with self.lock:
                yield self.db
            return
        try:
            db = _connect(mod, self.path, "immutable" if self.mode == "immutable" else "ro")
            db.execute("begin")
            db.execute("select count(*) from sqlite_master").fetchone()  # the snapshot starts here
        except mod.Error as exc:
            raise self._translate(exc) from exc
        try:
            yield db
        except mod.Error as exc:
            raise self._translate(exc) from exc
        finally:
            db.close()

    def backup(self, target: str | Path) -> Path:
        """Online copy with SQLite's backup API (safe while other processes write).

        The copy is written beside the target under a temporary name, checked, then renamed: an
        interrupted or failed backup never leaves a file that looks like a good one.
        """
        mod, _ = _driver()
        target = Path(target).expanduser()
        if target.exists():
            raise StoreError(f"{target} exists; choose a new file name for the backup")
        if not target.parent.is_dir():
            raise StoreError(f"the folder {target.parent} does not exist; create it or choose another path")
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        try:
            dst = mod.connect(str(partial))
            try:
                with self.lock:
                    self.db.backup(dst)
                check = dst.execute("pragma quick_check").fetchone()[0]
            finally:
                dst.close()
            if check != "ok":
                raise StoreError(
                    f"the copy fails its check ({check}); the bank may be damaged: run `rb-mcp doctor`"
                )
            os.replace(partial, target)
        except (OSError, mod.Error) as exc:
            raise StoreError(
                f"cannot write the backup to {target}: {exc}; check the folder and free space"
            ) from exc
        finally:
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{partial}{suffix}").unlink(missing_ok=True)
        return target
