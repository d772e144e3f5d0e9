"""PostgreSQL's searches: pgvector HNSW nearest neighbours and tsvector keyword search ranked per
word by ts_rank weighted with the word's inverse document frequency (PostgreSQL's ts_rank knows
nothing of how common a word is), planned with `rb_mcp.store.lexical` as on SQLite."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from rb_mcp.store import lexical
from rb_mcp.store.common import GLOBAL
from rb_mcp.store.pgsql import VEC_TABLES, ts_atoms, vector_param

# ts_rank weights {D, C, B, A}: content 1, description/tags/files 2, title 3, as bm25 on SQLite.
_ITEM_WEIGHTS = "{0.333, 0.5, 0.667, 1.0}"
_TASK_WEIGHTS = "{0.5, 0.5, 0.5, 1.0}"  # task text 1 (D), files 2 (A)


class PgSearch:
    """Mixed into `PgStore`: uses its `query`, `one`, `_planners`, `_vec_dim` and transactions."""

    # ---- search ----------------------------------------------------------------------------
    def knn(self, table: str, vec: np.ndarray, partitions: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Nearest neighbours by cosine similarity, best first, within the given partitions.

        The HNSW index answers first. pgvector (before 0.8) filters the partitions after the
        index scan, so a small partition in a large bank can come back short: then the partition
        is searched exactly (it is small, or the index would have filled the list).
        """
        if not partitions or self._vec_dim is None:
            return []
        key, part = VEC_TABLES[table]
        q = vector_param(vec)
        parts = list(partitions)
        with self.transaction() as db:
            db.execute(f"set local hnsw.ef_search = {min(1000, max(64, 2 * k))}")
            sql = (
                f"select {key}, 1 - (vec <=> ?::vector) from {table} where {part} = any(?) "
                "order by vec <=> ?::vector limit ?"
            )
            rows = db.execute(sql, (q, parts, q, k)).fetchall()
            if len(rows) < k:
                there = db.execute(
                    f"select count(*) from (select 1 from {table} where {part} = any(?) limit ?) s",
                    (parts, k),
                ).fetchone()[0]
                if there > len(rows):
                    rows = db.execute(sql.replace("order by vec <=> ?::vector", "order by (vec <=> ?::vector) + 0"),
                                      (q, parts, q, k)).fetchall()  # fmt: skip
        found = [(int(i), float(s)) for i, s in rows]
        found.sort(key=lambda pair: -pair[1])
        return found

    def _knn_numpy(
        self, table: str, vec: np.ndarray, partitions: Sequence[str], k: int
    ) -> list[tuple[int, float]]:
        """Exact cosine over the partitions, bypassing the index: the reference HNSW is measured against."""
        key, part = VEC_TABLES[table]
        if not partitions or self._vec_dim is None:
            return []
        q = vector_param(vec)
        rows = self.query(
            f"select {key}, 1 - (vec <=> ?::vector) from {table} where {part} = any(?) "
            "order by (vec <=> ?::vector) + 0 limit ?",
            (q, list(partitions), q, k),
        )
        return [(int(i), float(s)) for i, s in rows]

    def keyword(self, table: str, text: str, partitions: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Full-text matches, best first, as (rowid, -rank): lower is better, as bm25 on SQLite."""
        plan = self._keyword_plan(table, text) if partitions else None
        if plan is None:
            return []
        match, rank, rank_params = plan
        weights = _ITEM_WEIGHTS if table == "item_fts" else _TASK_WEIGHTS
        if table == "item_fts":
            rows = "from item_fts f join items i on i.id = f.rowid where f.doc @@ to_tsquery('english', ?) and i.scope = any(?)"
        else:
            rows = (
                "from task_fts f join trajectories t on t.id = f.rowid where f.doc @@ to_tsquery('english', ?) "
                f"and coalesce(t.project, '{GLOBAL}') = any(?)"
            )
        sql = (
            f"select m.rowid, -({rank.format(doc='m.doc', weights=weights)}) as r from "
            f"(select f.rowid, f.doc {rows} order by f.rowid desc limit ?) m order by r limit ?"
        )
        params = (*rank_params, match, list(partitions), lexical.ROWS, k)
        return [(int(i), float(r)) for i, r in self.query(sql, params)]

    def task_keywords(
        self, task: str, partitions: Sequence[str], limit: int, excluded: set[int]
    ) -> tuple[list[int], list[int]]:
        """Past tasks by rank over text and files, and by rank over files alone (see `Retriever`)."""
        plan = self._keyword_plan("task_fts", task) if partitions else None
        if plan is None:
            return [], []
        match, rank, rank_params = plan
        text_rank = rank.format(doc="f.doc", weights=_TASK_WEIGHTS)
        files_rank = rank.format(doc="f.files", weights="{1, 1, 1, 1}")
        rows = self.query(
            f"with m as materialized (select f.rowid as id, {text_rank} as r, f.files @@ q as fm, {files_rank} as rf "
            "from task_fts f join trajectories t on t.id = f.rowid, to_tsquery('english', ?) q "
            f"where f.doc @@ q and coalesce(t.project, '{GLOBAL}') = any(?) order by f.rowid desc limit ?) "
            "select * from (select id, 0, r from m order by r desc limit ?) a "
            "union all select * from (select id, 1, rf from m where fm order by rf desc limit ?) b",
            (
                *rank_params,
                *rank_params,
                match,
                list(partitions),
                lexical.ROWS,
                limit,
                limit,
            ),
        )
        ordered = sorted(rows, key=lambda row: -row[2])
        by_text = [int(i) for i, files_only, _ in ordered if not files_only and i not in excluded]
        by_files = [int(i) for i, files_only, _ in ordered if files_only and i not in excluded]
        return by_text, by_files

    def _keyword_plan(self, table: str, text: str) -> tuple[str, str, list[Any]] | None:
        """(tsquery to match, rank SQL with {doc} and {weights} to fill, its parameters); None when
        there is nothing to search.

        ts_rank knows nothing of how common a word is, so each word is ranked on its own and
        weighted by its inverse document frequency, as BM25 does (recall quality on SWE-bench
        Lite: hit@5 0.713 with one ts_rank over all words). The words are counted and chosen as on
        SQLite (`rb_mcp.lexical`): past 1,000 rows only the rarest are searched; when every word
        is common there is no keyword search (see below).
        """
        atoms = ts_atoms(text)
        if not atoms:
            return None
        planner = self._planner(table)
        counts = planner.counts(atoms)
        total = planner.total()
        if total <= planner.rows:
            chosen, ranked = [a for a in atoms if counts[a]], True
        else:
            chosen, ranked = lexical.choose(atoms, counts, planner.rows)
        if not chosen or not ranked:
            # Every word is common: the rows holding the two rarest would cost PostgreSQL a walk
            # over tens of thousands of rows (its primary key backwards, 4-36 ms at 1M items, and
            # 16 clients at once saturate it), for a ranking that tells little. The vectors
            # carry such a query; SQLite, whose postings are in row order, still lists the newest.
            return None
        # Every chosen word is in at least one row (choose() and the filter above drop the rest).
        terms = [
            (a, math.log(1.0 + (max(total, counts[a]) - counts[a] + 0.5) / (counts[a] + 0.5))) for a in chosen
        ]
        rank = " + ".join(["ts_rank('{weights}', {doc}, to_tsquery('english', ?), 1) * ?"] * len(terms))
        return " | ".join(f"({a})" for a in chosen), f"({rank})", [v for term in terms for v in term]

    def _planner(self, table: str) -> lexical.Planner:
        with self.lock:
            planner = self._planners.get(table)
            if planner is None:
                rows_of = "items" if table == "item_fts" else "trajectories"

                def count(atoms: list[str], cap: int) -> list[int]:
                    sub = (
                        f"(select count(*) from (select 1 from {table} where doc @@ to_tsquery('english', ?) "
                        "limit ?) s)"
                    )
                    row = self.one(
                        "select " + ", ".join([sub] * len(atoms)), [v for a in atoms for v in (a, cap)]
                    )
                    return [int(n) for n in row]

                def total() -> int:
                    return int(self.one(f"select coalesce(max(id), 0) from {rows_of}")[0])

                # Counts only up to the row budget: a GIN count reads the word's whole posting
                # list, and beyond the budget a word is not searched (and no AND is planned here).
                planner = lexical.Planner(count, total, cap=lexical.ROWS + 1)
                self._planners[table] = planner
            return planner
