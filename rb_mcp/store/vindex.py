"""The vector index behind `Store.knn`: 1-bit codes in memory, exact cosine on a short list.

Why not scan float vectors: exact cosine costs N x dim multiply-adds per query, and sqlite-vec's
vec0 scan was measured several times slower than numpy (float and `bit[]` alike), so neither
meets the latency targets at 100k-1M items. Each vector is kept as the signs of its components
(48 bytes for 384 dimensions, 32x smaller than float32), and a search runs in three steps:

1. Hamming distance between the query's signs and every code of the asked partitions (XOR and
   popcount over uint64 words, in cache-sized chunks), keeping the closest `SHORTLIST`.
2. The float query against those codes as +-1 vectors (asymmetric distance: far closer to the
   cosine order than Hamming), keeping the best `RERANK`.
3. Exact cosine with the float32 vectors stored on the rows, which gives the final order and the
   similarities; a search that covers at most `RERANK` vectors is therefore exact.

Persistence and consistency. The codes live in the plain tables `item_vec` / `task_vec`
(id, partition, code), written in the same transaction as their row (`Store.index_item`), and
every change appends (table, id) to `vec_changes`. Each process keeps the codes in memory and
replays that log before a search, through a read connection of its own: it only ever sees
committed rows, so a rolled-back write never reaches the memory copy, and writes by other
processes show up at the next search. `vec_snapshot` holds the codes in chunks as of one log
position, so a process starting on a million items reads a few hundred blobs, not a million rows.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

SHORTLIST = 1600  # step 1 keeps this many (x8 the rerank: recall@10 >= 0.97 at 1M in our tests)
RERANK = 200  # step 3 reads this many float vectors from SQLite
CHUNK = 32_768  # rows per popcount pass: the scratch buffers stay in the CPU cache
PARALLEL_ROWS = 262_144  # from this many rows the scan is split over two threads
SNAPSHOT_CHUNK = 65_536  # codes per snapshot blob
SNAPSHOT_MIN_ROWS = 50_000  # smaller tables load from their rows fast enough (~0.1 s)
REPLAY_MAX = 10_000  # changes replayed one by one; beyond that, reload (and re-snapshot)
LOG_KEEP = 20_000  # writers prune the change log to this many entries
PRUNE_EVERY = 1_024


@dataclass(frozen=True)
class VecTable:
    """Where one kind of vector lives: its index table, the rows it indexes and their float column."""

    name: str
    tag: str
    key: str
    part: str
    rows: str
    vector: str


TABLES = {
    "item_vec": VecTable("item_vec", "item", "item_id", "scope", "items", "embedding"),
    "task_vec": VecTable("task_vec", "task", "trajectory_id", "project", "trajectories", "task_embedding"),
}
RESET = "*"  # vec_changes.tbl of a change that invalidates every code (a new embedding model)


# ---- codes ---------------------------------------------------------------------------------
def quantize(vecs: np.ndarray) -> np.ndarray:
    """Sign bits of each row, padded with zero bits to whole uint64 words: (n, bytes) uint8."""
    vecs = np.atleast_2d(np.asarray(vecs, dtype=np.float32))
    bits = np.packbits(vecs > 0, axis=1)
    pad = -bits.shape[1] % 8
    if pad:
        bits = np.hstack([bits, np.zeros((bits.shape[0], pad), dtype=np.uint8)])
    return bits


def code_of(blob: bytes) -> bytes:
    return quantize(np.frombuffer(blob, dtype=np.float32))[0].tobytes()


# ---- writes (inside the caller's transaction) ----------------------------------------------
def write_code(db: Any, spec: VecTable, row_id: int, part: str, blob: bytes) -> None:
    db.execute(f"insert or replace into {spec.name} values (?, ?, ?)", (row_id, part, code_of(blob)))
    log_change(db, spec.tag, row_id)


def delete_code(db: Any, spec: VecTable, row_id: int) -> None:
    if db.execute(f"delete from {spec.name} where {spec.key} = ?", (row_id,)).rowcount:
        log_change(db, spec.tag, row_id)


def log_change(db: Any, tag: str, row_id: int) -> None:
    seq = db.execute("insert into vec_changes (tbl, row_id) values (?, ?)", (tag, row_id)).lastrowid
    if seq and seq % PRUNE_EVERY == 0:
        # Readers further behind than LOG_KEEP see a gap and reload: the log stays small.
        db.execute("delete from vec_changes where seq <= ?", (seq - LOG_KEEP,))


def reset(db: Any) -> None:
    """Forget every code (the bank moves to another embedding model); readers reload."""
    for spec in TABLES.values():
        db.execute(f"delete from {spec.name}")
    db.execute("delete from vec_snapshot")
    log_change(db, RESET, 0)


def log_head(db: Any) -> int:
    row = db.execute("select seq from sqlite_sequence where name = 'vec_changes'").fetchone()
    return int(row[0]) if row else 0


# ---- one partition in memory ---------------------------------------------------------------
class _Partition:
    """Ids and codes of one partition; codes stored word-major (words, rows) for the scan.

    The arrays keep spare room at the end, so recording an item appends in place instead of
    copying a million codes.
    """

    def __init__(self, ids: np.ndarray, codes: np.ndarray):
        # Own, writable copies: the inputs are often read-only views of SQLite blobs.
        self._ids = np.array(ids, dtype=np.int64)
        self._words = np.array(np.ascontiguousarray(codes).view(np.uint64).T, order="C")
        self.n = len(self._ids)
        self.max_id = int(self._ids.max()) if self.n else -1

    @property
    def ids(self) -> np.ndarray:
        return self._ids[: self.n]

    @property
    def words(self) -> np.ndarray:
        return self._words[:, : self.n]

    def add(self, ids: np.ndarray, codes: np.ndarray) -> None:
        end = self.n + len(ids)
        if end > len(self._ids):
            room = max(end, self.n + self.n // 4 + 64)
            grown_ids = np.empty(room, dtype=np.int64)
            grown_words = np.empty((self._words.shape[0], room), dtype=np.uint64)
            grown_ids[: self.n], grown_words[:, : self.n] = self.ids, self.words
            self._ids, self._words = grown_ids, grown_words
        self._ids[self.n : end] = ids
        self._words[:, self.n : end] = codes.view(np.uint64).T
        self.n = end
        self.max_id = max(self.max_id, int(ids.max()))

    def remove(self, ids: np.ndarray) -> None:
        if not len(ids) or int(ids.min()) > self.max_id:  # new rows: nothing of theirs is here yet
            return
        keep = ~np.isin(self.ids, ids)
        if not keep.all():
            kept = int(keep.sum())
            self._ids[:kept] = self.ids[keep]
            self._words[:, :kept] = self.words[:, keep]
            self.n = kept

    def codes(self) -> np.ndarray:
        return np.ascontiguousarray(self.words.T).view(np.uint8)

    def hamming(self, q: np.ndarray, out: np.ndarray, lo: int, hi: int) -> None:
        tmp = np.empty(CHUNK, dtype=np.uint64)
        cnt = np.empty(CHUNK, dtype=np.uint8)
        words = self.words
        for start in range(lo, hi, CHUNK):
            end = min(hi, start + CHUNK)
            m = end - start
            acc = out[start:end]
            acc[:] = 0
            for w in range(words.shape[0]):
                np.bitwise_xor(words[w, start:end], q[w], out=tmp[:m])
                np.bitwise_count(tmp[:m], out=cnt[:m])
                np.add(acc, cnt[:m], out=acc, casting="unsafe")


def _at_most(dists: list[np.ndarray], n: int, nbits: int) -> list[np.ndarray]:
    """Positions of at least the n smallest distances (ties included), part by part.

    Distances are small integers, so the threshold comes from counting them; counting a 1-in-16
    sample (with a margin) costs a fraction of counting all, and a short result falls back to all.
    """
    for step, want in ((16, n * 5 // 4 // 16 + 16), (1, n)):
        counts = sum(np.bincount(d[::step], minlength=nbits + 1) for d in dists)
        threshold = int(np.searchsorted(np.cumsum(counts), want))
        picked = [np.flatnonzero(d <= threshold) for d in dists]
        if sum(len(x) for x in picked) >= n:
            break
    return picked


class _Codes:
    """The in-memory codes of one table, by partition, as of log position `seq`."""

    def __init__(self, spec: VecTable):
        self.spec = spec
        self.parts: dict[str, _Partition] = {}
        self.nbytes = 0

    def __len__(self) -> int:
        return sum(p.n for p in self.parts.values())

    def build(self, ids: np.ndarray, parts: Sequence[str], codes: np.ndarray) -> None:
        # Number the partition names with a dict: np.unique on a million Python strings takes a second.
        numbers: dict[str, int] = {}
        which = np.fromiter(
            (numbers.setdefault(p, len(numbers)) for p in parts), dtype=np.int32, count=len(parts)
        )
        self.build_parts({name: (ids[which == i], codes[which == i]) for name, i in numbers.items()})

    def build_parts(self, parts: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        self.parts = {name: _Partition(ids, codes) for name, (ids, codes) in parts.items() if len(ids)}
        if self.parts:
            self.nbytes = next(iter(parts.values()))[1].shape[1]

    def apply(self, changed: np.ndarray, rows: list[tuple[int, str, bytes]]) -> None:
        """Replace the codes of `changed` ids by `rows` (ids absent from `rows` were deleted)."""
        for part in self.parts.values():
            part.remove(changed)
        by_part: dict[str, list[tuple[int, bytes]]] = {}
        for row_id, part, code in rows:
            by_part.setdefault(part, []).append((row_id, code))
        for name, entries in by_part.items():
            ids = np.array([e[0] for e in entries], dtype=np.int64)
            codes = np.frombuffer(b"".join(e[1] for e in entries), dtype=np.uint8).reshape(len(entries), -1)
            if self.nbytes and codes.shape[1] != self.nbytes:
                raise ValueError("code width changed without a reset")
            self.nbytes = codes.shape[1]
            if name in self.parts:
                self.parts[name].add(ids, codes)
            else:
                self.parts[name] = _Partition(ids, codes)
        self.parts = {name: p for name, p in self.parts.items() if p.n}


# ---- the index of one store ----------------------------------------------------------------
class VectorIndex:
    """Both tables' codes for one bank file, synced from its change log through `connect()`'s connection."""

    def __init__(self, connect: Callable[[], Any], writable: bool = True):
        self._connect = connect
        self._db: Any = None
        self.writable = writable
        self.lock = threading.Lock()
        self.codes = {name: _Codes(spec) for name, spec in TABLES.items()}
        self.seq = -1  # log position the memory copy reflects; -1 = not loaded
        self.loaded_from: dict[str, str] = {}
        self._pool: ThreadPoolExecutor | None = None

    def close(self) -> None:
        with self.lock:
            if self._db is not None:
                with contextlib.suppress(Exception):
                    self._db.close()
                self._db = None
            if self._pool is not None:
                self._pool.shutdown(wait=False)
                self._pool = None

    @property
    def db(self) -> Any:
        if self._db is None:
            self._db = self._connect()
        return self._db

    # ---- search ----------------------------------------------------------------------------
    def search(
        self, table: str, vec: np.ndarray, partitions: Sequence[str], k: int, *, may_write: bool = True
    ) -> list[tuple[int, float]]:
        """(id, cosine similarity) best first, over the given partitions."""
        spec = TABLES[table]
        query = np.asarray(vec, dtype=np.float32)
        with self.lock:
            self.sync(may_write=may_write)
            parts = [
                p for name in dict.fromkeys(partitions) if (p := self.codes[table].parts.get(name)) and p.n
            ]
            candidates = self._shortlist(parts, query, max(RERANK, 4 * k))
            return self._rerank(spec, candidates, query, k)

    def _shortlist(self, parts: list[_Partition], query: np.ndarray, rerank: int) -> np.ndarray:
        total = sum(p.n for p in parts)
        if total <= rerank:
            return np.concatenate([p.ids for p in parts]) if parts else np.zeros(0, dtype=np.int64)
        shortlist = max(SHORTLIST, 8 * rerank)
        qcode = quantize(query)[0]
        if total <= shortlist:
            ids = np.concatenate([p.ids for p in parts])
            codes = np.concatenate([p.codes() for p in parts])
        else:
            ids, codes = self._hamming_top(parts, qcode.view(np.uint64), shortlist)
        # Step 2: the float query against the codes as +-1 vectors; ranking by bits @ q is the same.
        bits = np.unpackbits(codes, axis=1)[:, : len(query)].astype(np.float32)
        scores = bits @ query
        if len(ids) > rerank:
            ids = ids[np.argpartition(-scores, rerank)[:rerank]]
        return ids

    def _hamming_top(self, parts: list[_Partition], q: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        dists = [np.empty(p.n, dtype=np.uint16) for p in parts]
        jobs = [
            (p, d, lo, min(p.n, lo + CHUNK * 4))
            for p, d in zip(parts, dists)
            for lo in range(0, p.n, CHUNK * 4)
        ]
        if sum(p.n for p in parts) >= PARALLEL_ROWS:
            # numpy releases the GIL in these loops, so two threads scan two halves at once.
            if self._pool is None:
                self._pool = ThreadPoolExecutor(2, thread_name_prefix="rb-mcp-scan")
            list(self._pool.map(lambda job: job[0].hamming(q, job[1], job[2], job[3]), jobs))
        else:
            for p, d, lo, hi in jobs:
                p.hamming(q, d, lo, hi)
        picked = _at_most(dists, n, q.size * 64)
        ids = np.concatenate([p.ids[i] for p, i in zip(parts, picked)])
        codes = np.concatenate([p.words[:, i].T for p, i in zip(parts, picked)]).view(np.uint8)
        if len(ids) > n:
            near = np.concatenate([d[i] for d, i in zip(dists, picked)])
            keep = np.argpartition(near, n)[:n]
            ids, codes = ids[keep], codes[keep]
        return ids, np.ascontiguousarray(codes)

    def _rerank(self, spec: VecTable, ids: np.ndarray, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        if not len(ids):
            return []
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f"select id, {spec.vector} from {spec.rows} where id in ({marks}) and {spec.vector} is not null",
            [int(i) for i in ids],
        ).fetchall()
        if not rows:
            return []
        found = np.array([r[0] for r in rows], dtype=np.int64)
        mat = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        sims = mat @ query
        order = np.argsort(-sims, kind="stable")[:k]
        return [(int(found[i]), float(sims[i])) for i in order]

    # ---- keeping the memory copy in step with the file ---------------------------------------
    def sync(self, *, may_write: bool = True) -> None:
        """Replay the change log (or reload) so memory holds the committed codes. Hold `lock`."""
        db = self.db
        if self.seq >= 0 and log_head(db) == self.seq:
            return
        db.execute("begin")  # one read snapshot for the log and the rows it points at
        try:
            head = log_head(db)
            stale = self._replay(db, head) if self.seq >= 0 else list(TABLES)
            for table in stale:
                self._load(db, table, head)
            self.seq = head
        finally:
            db.execute("commit")
        big = [
            t for t in stale if self.loaded_from.get(t) == "rows" and len(self.codes[t]) >= SNAPSHOT_MIN_ROWS
        ]
        if big and may_write and self.writable:
            self._write_snapshot(big)

    def _replay(self, db: Any, head: int) -> list[str]:
        """Apply the changes after `self.seq`; returns the tables that need a full reload."""
        rows = db.execute(
            "select seq, tbl, row_id from vec_changes where seq > ? order by seq limit ?",
            (self.seq, REPLAY_MAX + 1),
        ).fetchall()
        if not rows or rows[0][0] != self.seq + 1 or len(rows) > REPLAY_MAX or rows[-1][0] != head:
            return list(TABLES)  # pruned past us, or too much to replay
        if any(tag == RESET for _, tag, _ in rows):
            return list(TABLES)
        for spec in TABLES.values():
            changed = sorted({row_id for _, tag, row_id in rows if tag == spec.tag})
            if changed:
                self._apply(db, spec, changed)
        return []

    def _apply(self, db: Any, spec: VecTable, changed: list[int]) -> None:
        current: list[tuple[int, str, bytes]] = []
        for start in range(0, len(changed), 500):
            chunk = changed[start : start + 500]
            marks = ",".join("?" * len(chunk))
            current += db.execute(
                f"select {spec.key}, {spec.part}, code from {spec.name} where {spec.key} in ({marks})", chunk
            ).fetchall()
        self.codes[spec.name].apply(np.array(changed, dtype=np.int64), current)

    def _load(self, db: Any, table: str, head: int) -> None:
        spec = TABLES[table]
        if self._load_snapshot(db, spec, head):
            return
        rows = db.execute(f"select {spec.key}, {spec.part}, code from {spec.name}").fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        codes = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.uint8).reshape(
            len(rows), -1 if rows else 8
        )
        self.codes[table].build(ids, [r[1] for r in rows], codes)
        self.loaded_from[table] = "rows"

    def _load_snapshot(self, db: Any, spec: VecTable, head: int) -> bool:
        row = db.execute("select min(seq), max(seq) from vec_snapshot where tbl = ?", (spec.tag,)).fetchone()
        if row[0] is None or row[0] != row[1] or row[0] > head:
            return False
        at = int(row[0])
        changes = db.execute(
            "select seq, tbl, row_id from vec_changes where seq > ? order by seq limit ?",
            (at, REPLAY_MAX + 1),
        ).fetchall()
        if at < head and (not changes or changes[0][0] != at + 1 or len(changes) > REPLAY_MAX):
            return False  # the log no longer reaches back to the snapshot
        if any(tag == RESET for _, tag, _ in changes):
            return False
        chunks: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
        for part, ids_blob, codes_blob in db.execute(
            "select part, ids, codes from vec_snapshot where tbl = ? order by part, chunk", (spec.tag,)
        ):
            chunk_ids = np.frombuffer(ids_blob, dtype=np.int64)
            ids, codes = chunks.setdefault(part, ([], []))
            ids.append(chunk_ids)
            codes.append(np.frombuffer(codes_blob, dtype=np.uint8).reshape(len(chunk_ids), -1))
        self.codes[spec.name].build_parts(
            {part: (np.concatenate(ids), np.concatenate(codes)) for part, (ids, codes) in chunks.items()}
        )
        changed = sorted({row_id for _, tag, row_id in changes if tag == spec.tag})
        if changed:
            self._apply(db, spec, changed)
        self.loaded_from[spec.name] = "snapshot"
        return True

    def _write_snapshot(self, tables: list[str]) -> None:
        """Store the memory copy as chunks, if no write lands meanwhile; skipped when busy or read-only."""
        db = self.db
        timeout = db.execute("pragma busy_timeout").fetchone()[0]
        try:
            db.execute("pragma busy_timeout = 0")  # never make a search wait for the write lock
            db.execute("begin immediate")
        except Exception as exc:  # another writer holds the lock: the next reload tries again
            log.debug("vector snapshot skipped: %s", exc)
            return
        finally:
            db.execute(f"pragma busy_timeout = {int(timeout)}")
        try:
            if log_head(db) != self.seq:
                db.execute("rollback")
                return
            for table in tables:
                tag = TABLES[table].tag
                db.execute("delete from vec_snapshot where tbl = ?", (tag,))
                for name, part in self.codes[table].parts.items():
                    codes = part.codes()
                    for n, start in enumerate(range(0, part.n, SNAPSHOT_CHUNK)):
                        end = start + SNAPSHOT_CHUNK
                        db.execute(
                            "insert into vec_snapshot (tbl, part, chunk, seq, ids, codes) values (?, ?, ?, ?, ?, ?)",
                            (
                                tag,
                                name,
                                n,
                                self.seq,
                                part.ids[start:end].tobytes(),
                                codes[start:end].tobytes(),
                            ),
                        )
            db.execute("commit")
        except Exception as exc:
            with contextlib.suppress(Exception):
                db.execute("rollback")
            log.debug("vector snapshot not written: %s", exc)

    # ---- checks ------------------------------------------------------------------------------
    def problems(self) -> list[str]:
        """Differences between the memory copy (after a sync) and the index tables."""
        out: list[str] = []
        with self.lock:
            self.sync(may_write=False)
            for table, spec in TABLES.items():
                rows = self.db.execute(f"select {spec.key}, {spec.part}, code from {spec.name}").fetchall()
                want = {(int(r[0]), r[1], bytes(r[2])) for r in rows}
                have = set()
                for name, part in self.codes[table].parts.items():
                    have |= {(int(i), name, c.tobytes()) for i, c in zip(part.ids, part.codes())}
                if want != have:
                    diff = sorted({r[0] for r in want ^ have})
                    out.append(f"{table} in memory differs from the table for ids {diff[:10]}")
        return out

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                table: {
                    "rows": len(c),
                    "partitions": len(c.parts),
                    "bytes": sum(p._words.nbytes + p._ids.nbytes for p in c.parts.values()),
                    "loaded_from": self.loaded_from.get(table),
                }
                for table, c in self.codes.items()
            } | {"seq": self.seq}


def code_problems(db: Any) -> list[str]:
    """Codes that are not the signs of their row's stored vector (read in chunks: banks get big)."""
    out: list[str] = []
    for spec in TABLES.values():
        bad: list[int] = []
        cursor = db.execute(
            f"select v.{spec.key}, v.code, r.{spec.vector} from {spec.name} v join {spec.rows} r on r.id = v.{spec.key} "
            f"where r.{spec.vector} is not null"
        )
        while rows := cursor.fetchmany(4096):
            if len({len(r[2]) for r in rows}) > 1:
                bad += [r[0] for r in rows]
                continue
            want = quantize(
                np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), -1)
            )
            bad += [r[0] for r, w in zip(rows, want) if bytes(r[1]) != w.tobytes()]
        if bad:
            out.append(
                f"{spec.name} codes that do not match their vector: {bad[:10]}{' ...' if len(bad) > 10 else ''}"
            )
    return out
