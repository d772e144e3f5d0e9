"""SQLite's indexes and searches: FTS5 rows and vector codes written in the row's transaction, the
vector index (`rb_mcp.store.vindex`), BM25 keyword search planned by `rb_mcp.store.lexical`, and
the past-task keyword search recall fuses."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np

from rb_mcp.store import lexical, vindex
from rb_mcp.store.common import GLOBAL


class SqliteIndex:
    """Mixed into `SqliteStore`: uses its `db`, `lock`, `path`, `mode`, `query`, `one`, `connect`."""

    _vindex: vindex.VectorIndex | None = None  # built on the first vector search
    _ROWS_OF = {"item_fts": "items", "task_fts": "trajectories"}

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
        if embedding is not None:
            vindex.write_code(db, vindex.TABLES["item_vec"], item_id, scope, embedding)

    def index_items(self, db: Any, ids: Sequence[int]) -> None:
        for item_id in ids:
            self.index_item(db, item_id)

    def unindex_item(self, db: Any, item_id: int) -> None:
        db.execute("delete from item_fts where rowid = ?", (item_id,))
        vindex.delete_code(db, vindex.TABLES["item_vec"], item_id)

    def index_task(self, db: Any, trajectory_id: int) -> None:
        row = db.execute(
            "select task, files, project, task_embedding, role from trajectories where id = ?",
            (trajectory_id,),
        ).fetchone()
        self.unindex_task(db, trajectory_id)
        if row is None or row[4] == "refine":
            return
        task, files, project, embedding, _ = row
        db.execute(
            "insert into task_fts (rowid, task, files) values (?, ?, ?)",
            (trajectory_id, task, " ".join(json.loads(files))),
        )
        if embedding is not None:
            vindex.write_code(db, vindex.TABLES["task_vec"], trajectory_id, project or GLOBAL, embedding)

    def index_tasks(self, db: Any, ids: Sequence[int]) -> None:
        for trajectory_id in ids:
            self.index_task(db, trajectory_id)

    def unindex_task(self, db: Any, trajectory_id: int) -> None:
        db.execute("delete from task_fts where rowid = ?", (trajectory_id,))
        vindex.delete_code(db, vindex.TABLES["task_vec"], trajectory_id)

    # ---- search ----------------------------------------------------------------------------
    def knn(self, table: str, vec: np.ndarray, partitions: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Nearest neighbours by cosine *similarity*, best first, within the given partitions.

        The in-memory binary index (`rb_mcp.vindex`) finds candidates and reranks them exactly;
        it needs no SQLite extension. An in-memory bank (tests, `doctor`) is searched exactly.
        """
        if not partitions:
            return []
        index = self.vector_index()
        if index is None:
            return self._knn_numpy(table, vec, partitions, k)
        try:
            # A snapshot write from inside our own write transaction would wait on ourselves.
            return index.search(table, vec, partitions, k, may_write=not self.db.in_transaction)
        except self.driver_errors as exc:
            raise self._translate(exc) from exc

    def warm_vectors(self) -> None:
        """Load the vector index now (from its snapshot), so the first recall does not pay for it."""
        index = self.vector_index()
        if index is not None:
            with index.lock:
                index.sync()

    def vector_index(self) -> vindex.VectorIndex | None:
        """This bank's vector index (created on first use); None for an in-memory bank."""
        if str(self.path) == ":memory:":
            return None
        with self.lock:
            if self._vindex is None:
                # A connection of its own: the index must only ever see committed rows.
                self._vindex = vindex.VectorIndex(
                    lambda: self.connect(self.mode), writable=not self.read_only
                )
            return self._vindex

    def _knn_numpy(
        self, table: str, vec: np.ndarray, partitions: Sequence[str], k: int
    ) -> list[tuple[int, float]]:
        # Exact cosine over the stored float vectors: the reference the fast path is measured
        # against, and the search of in-memory banks.
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

    def match_plan(self, table: str, text: str) -> tuple[str, bool]:
        """The MATCH expression to search `table` for `text` with, and whether to rank its rows by
        BM25 (see `rb_mcp.lexical`)."""
        planner = self._planners.get(table)
        if planner is None:

            def count(exprs: list[str], cap: int) -> list[int]:
                sql = f"select count(*) from (select rowid from {table} where {table} match ? limit ?)"
                return [int(self.one(sql, (expr, cap))[0]) for expr in exprs]

            def total() -> int:
                return int(self.one(f"select coalesce(max(id), 0) from {self._ROWS_OF[table]}")[0])

            planner = self._planners.setdefault(table, lexical.Planner(count, total))
        return planner.planned(text)

    def keyword(self, table: str, text: str, partitions: Sequence[str], k: int) -> list[tuple[int, float]]:
        """BM25 matches, best first, as (rowid, bm25) where lower bm25 is better (FTS5 convention).

        At most `lexical.ROWS` matching rows (the newest) are scored: see `rb_mcp.lexical`; when
        the plan says they are not worth BM25, the score is -rowid (newest first).
        """
        match, ranked = self.match_plan(table, text) if partitions else ("", True)
        if not match:
            return []
        marks = ",".join("?" * len(partitions))
        if table == "item_fts":
            score = "bm25(item_fts, 3.0, 2.0, 1.0, 2.0, 2.0)" if ranked else "-f.rowid"
            inner = (
                f"select f.rowid as id, {score} as r from item_fts f "
                f"join items i on i.id = f.rowid where item_fts match ? and i.scope in ({marks})"
            )
        else:
            score = "bm25(task_fts, 1.0, 2.0)" if ranked else "-f.rowid"
            inner = (
                f"select f.rowid as id, {score} as r from task_fts f join trajectories t "
                f"on t.id = f.rowid where task_fts match ? and coalesce(t.project, '{GLOBAL}') in ({marks})"
            )
        sql = f"select id, r from ({inner} order by f.rowid desc limit ?) order by r limit ?"
        return [(int(i), float(r)) for i, r in self.query(sql, (match, *partitions, lexical.ROWS, k))]

    @cached_property
    def _materialized(self) -> str:
        """`materialized ` where SQLite (3.35+) takes the hint; without it a twice-read CTE runs twice."""
        version = tuple(int(p) for p in str(self.one("select sqlite_version()")[0]).split(".")[:2])
        return "materialized " if version >= (3, 35) else ""

    def task_keywords(
        self, task: str, partitions: Sequence[str], limit: int, excluded: set[int]
    ) -> tuple[list[int], list[int]]:
        """Past tasks by BM25 over their text and files, and by BM25 over their files alone.

        Both rankings come from one FTS5 match, materialized once: about the cost of the keyword
        search alone, where a second match would double it. The first weighs the files twice as
        much as the text, as `keyword` does; the second is past work on the files and
        modules this task names, or whose file names share its words.
        """
        match, bm25 = self.match_plan("task_fts", task) if partitions else ("", True)
        if not match:
            return [], []
        marks = ",".join("?" * len(partitions))
        if not bm25:  # every word is common: the rows holding the two rarest, newest first
            rows = self.query(
                "select f.rowid from task_fts f join trajectories t on t.id = f.rowid "
                f"where task_fts match ? and coalesce(t.project, '{GLOBAL}') in ({marks}) "
                "order by f.rowid desc limit ?",
                (match, *partitions, min(lexical.ROWS, limit + len(excluded))),
            )
            return [int(i) for (i,) in rows if i not in excluded][:limit], []
        rows = self.query(
            f"with m as {self._materialized}(select f.rowid as id, bm25(task_fts, 1.0, 2.0) as r, "
            "bm25(task_fts, 0.0, 1.0) as rf from task_fts f join trajectories t on t.id = f.rowid "
            f"where task_fts match ? and coalesce(t.project, '{GLOBAL}') in ({marks}) "
            "order by f.rowid desc limit ?) "
            "select * from (select id, 0, r from m order by r limit ?) "
            "union all select * from (select id, 1, rf from m where rf < 0 order by rf limit ?)",
            (match, *partitions, lexical.ROWS, limit, limit),
        )
        ranked = sorted(rows, key=lambda row: row[2])
        by_text = [int(i) for i, files_only, _ in ranked if not files_only and i not in excluded]
        by_files = [int(i) for i, files_only, _ in ranked if files_only and i not in excluded]
        return by_text, by_files
