"""Recall quality on real coding tasks: does recall_strategies bring up the related past work?

Protocol (the README of the eval data describes the input format):
1. In a throwaway bank, record every task as a trajectory through `Bank.record`, the code path of
   the record_trajectory tool: task = problem statement, project = repo, files = files the fix
   edited, outcome from `resolved` (absent = success). No items are written by hand, so every
   trajectory stays pending_items and comes back from recall as an episode.
2. For every task, recall with its problem statement and project through `Retriever.recall`, the
   code path of recall_strategies, leaving the task's own trajectory out, and rank the distinct
   past tasks of what comes back (the trajectories items were distilled from, then the episodes).
3. Grade each recalled task against the query: 3 = same repo and the fixes share a file, 2 = same
   repo and share a directory, 1 = same repo, 0 = another repo. A task set without code (e.g.
   benchmarks/data/shop-admin-tasks.jsonl) gives each task an `intent` "area/intent" instead,
   never recorded: 3 = same intent, 2 = same area.

Reported side by side in one run: rb-mcp's recall, BM25 alone, vectors alone, the two fused with
RRF (what recall did before file and symbol matching) and a seeded same-repo random order. Then a
sweep over k (the RB_MCP_K default) and the same protocol repeated on halves of the file, each
half in its own bank, to show that the numbers hold on data they were not looked at on.

    python benchmarks/recall_quality.py [--tasks FILE] [--splits parity,time|none] [--postgres] [--min-score X]

--min-score sets recall's similarity floor (e.g. -1: none) to see what the floor does to a task
set; "returned" is how many distinct past tasks each system gave, of the 10 read.

With --postgres every throwaway bank is a fresh PostgreSQL database (pgserver started here, or the
server RB_MCP_BENCH_PG_URL names): the same protocol on the team backend, where keyword ranking is
PostgreSQL's ts_rank instead of FTS5's BM25 (the "BM25 only" row is then ts_rank only).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import posixpath
import random
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine_info, percentiles, print_machine, print_table, shared_eval, stopwatch, write_json  # noqa: E402

from rb_mcp.config import Config  # noqa: E402
from rb_mcp.embed import Embedder, FastEmbedder  # noqa: E402
from rb_mcp.loop.bank import Bank  # noqa: E402
from rb_mcp.loop.recall import rrf  # noqa: E402
from rb_mcp.store import GLOBAL  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TASKS = shared_eval("swe-lite-tasks.jsonl")
DEPTH = 10  # how deep rankings are read: nDCG and hit at 5, reciprocal rank up to 10
SEEDS = (0, 1, 2, 3, 4)
SWEEP_KS = (1, 3, 5)
SYSTEMS = ("rb-mcp recall", "BM25 only", "vector only", "vector+BM25 RRF", "same-repo random")


@dataclass(frozen=True)
class Task:
    row: int
    instance_id: str
    repo: str
    problem: str
    files: frozenset[str]  # what relevance is graded on: the fix's files, or the intent
    dirs: frozenset[str]
    recorded_files: tuple[str, ...]  # what the trajectory records
    resolved: bool | None
    created_at: str


def load_tasks(path: Path) -> list[Task]:
    tasks = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            if not line.strip():
                continue
            raw = json.loads(line)
            recorded = tuple(sorted(raw.get("files") or []))
            # A task set without code grades on an `intent` ("area/intent") instead of files;
            # it is never recorded, so no channel can read the answer.
            files = frozenset([raw["intent"]]) if raw.get("intent") else frozenset(recorded)
            tasks.append(
                Task(
                    row=n,
                    instance_id=str(raw.get("instance_id", n)),
                    repo=raw["repo"],
                    problem=raw["problem_statement"],
                    files=files,
                    dirs=frozenset(posixpath.dirname(f) for f in files),
                    recorded_files=recorded,
                    resolved=raw.get("resolved"),
                    created_at=str(raw.get("created_at", "")),
                )
            )
    return tasks


def grade(query: Task, other: Task) -> int:
    if query.repo != other.repo:
        return 0
    if query.files & other.files:
        return 3
    return 2 if query.dirs & other.dirs else 1


class CachedEmbedder:
    """Wraps the real embedder: times each distinct text once, then serves it from a cache.

    Recall is called several times per query (the k sweep); the cache keeps the run short and
    lets the timing table split recall into embedding and retrieval.
    """

    def __init__(self, inner: Embedder):
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.cache: dict[str, np.ndarray] = {}
        self.first_ms: dict[str, float] = {}

    def embed(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        for text in missing:
            with stopwatch() as ms:
                self.cache[text] = self.inner.embed([text])[0]
            self.first_ms[text] = ms[0]
        return np.vstack([self.cache[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


@dataclass
class Run:
    """One bank holding `tasks`, with the rankings each system gave for each task as the query."""

    tasks: list[Task]
    rankings: dict[str, list[list[int]]] = field(default_factory=dict)
    random_rankings: list[list[list[int]]] = field(default_factory=list)
    sweep: dict[int, list[list[int]]] = field(default_factory=dict)
    guidance_chars: dict[int, list[int]] = field(default_factory=dict)
    timing: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)


POSTGRES: dict[str, str] = {}  # {"url": server URL} with --postgres
FLOOR: dict[str, float] = {}  # {"min_score": x} with --min-score
_DATABASES = itertools.count()


@contextlib.contextmanager
def throwaway_bank() -> Iterator[Path | str]:
    """A new empty bank: a SQLite file in a temporary directory, or a new PostgreSQL database."""
    base = POSTGRES.get("url")
    if not base:
        with tempfile.TemporaryDirectory(prefix="rb-mcp-recall-") as tmp:
            yield Path(tmp) / "bank.sqlite3"
        return
    import psycopg
    from pg_latency import with_database_of

    name = f"rb_quality_{os.getpid()}_{next(_DATABASES)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"create database {name}")
    try:
        yield with_database_of(base, name)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"drop database if exists {name} with (force)")


def run_protocol(tasks: list[Task], embedder: CachedEmbedder) -> Run:
    run = Run(tasks=tasks)
    with throwaway_bank() as target:
        settings = {"min_score": FLOOR["min_score"]} if FLOOR else {}
        bank = Bank(Config(bank=target, project=None, preload=False, **settings), embedder=embedder)
        bank.default_project = None
        try:
            sqlite = bank.store.dialect == "sqlite"
            run.machine = machine_info(bank.store if sqlite else None)
            if not sqlite:
                run.machine["postgres"] = bank.store.server_info()
            row_of = _record_all(bank, tasks, run)
            _recall_all(bank, tasks, row_of, run)
        finally:
            bank.close()
    return run


def _record_all(bank: Bank, tasks: list[Task], run: Run) -> dict[int, int]:
    bank.ready_vectors()
    row_of: dict[int, int] = {}
    with stopwatch() as ms:
        for i, task in enumerate(tasks):
            outcome = "success" if task.resolved is None or task.resolved else "failure"
            result = bank.record(
                task=task.problem,
                summary=f"Fixed by editing {', '.join(task.recorded_files) or 'nothing'}.",
                outcome=outcome,
                files=list(task.recorded_files),
                project=task.repo,
            )
            row_of[result.trajectory_id] = i
    run.timing["record_total_s"] = ms[0] / 1000
    run.timing["record_per_task_ms"] = ms[0] / max(1, len(tasks))
    return row_of


def _recall_all(bank: Bank, tasks: list[Task], row_of: dict[int, int], run: Run) -> None:
    tid_of = {i: t for t, i in row_of.items()}
    names = SYSTEMS[:4]
    run.rankings = {name: [] for name in names}
    run.sweep = {k: [] for k in SWEEP_KS}
    run.guidance_chars = {k: [] for k in SWEEP_KS}
    embed_ms, retrieval_ms = [], []
    same_repo = _same_repo_index(tasks)
    for i, task in enumerate(tasks):
        scope = bank.scope_of(task.repo)
        own = [tid_of[i]]
        qvec = bank.embed_one(task.problem)  # embedded (and timed) once here; recall gets the cached vector
        embed_ms.append(bank.embedder.first_ms.get(task.problem, 0.0))
        with stopwatch() as ms:
            result = bank.retriever.recall(
                task.problem, scope, DEPTH, exclude_trajectories=own, log_event=False
            )
        retrieval_ms.append(ms[0])
        run.rankings["rb-mcp recall"].append(_sources(result, row_of))
        partitions = [scope, GLOBAL] if scope and scope != GLOBAL else [GLOBAL]
        kw = [
            row_of[t] for t, _ in bank.store.keyword("task_fts", task.problem, partitions, 50) if t not in own
        ]
        vec = [row_of[t] for t, _ in bank.store.knn("task_vec", qvec, partitions, 50) if t not in own]
        fused = rrf(vec, kw)
        run.rankings["BM25 only"].append(kw[:DEPTH])
        run.rankings["vector only"].append(vec[:DEPTH])
        run.rankings["vector+BM25 RRF"].append(sorted(fused, key=lambda r: -fused[r])[:DEPTH])
        for k in SWEEP_KS:
            result = bank.retriever.recall(task.problem, scope, k, exclude_trajectories=own, log_event=False)
            run.sweep[k].append(_sources(result, row_of)[:k])
            run.guidance_chars[k].append(len(result.guidance))
    for seed in SEEDS:
        rng = random.Random(seed)
        run.random_rankings.append(
            [rng.sample(same_repo[i], len(same_repo[i]))[:DEPTH] for i in range(len(tasks))]
        )
    run.timing["embed_ms"] = percentiles(embed_ms)
    run.timing["recall_without_embedding_ms"] = percentiles(retrieval_ms)
    run.timing["recall_total_s"] = (sum(embed_ms) + sum(retrieval_ms)) / 1000
    run.timing["queries"] = len(tasks)


def _same_repo_index(tasks: list[Task]) -> list[list[int]]:
    by_repo: dict[str, list[int]] = {}
    for i, task in enumerate(tasks):
        by_repo.setdefault(task.repo, []).append(i)
    return [[j for j in by_repo[t.repo] if j != i] for i, t in enumerate(tasks)]


def _sources(result: Any, row_of: dict[int, int]) -> list[int]:
    """Distinct past tasks behind a recall, in the order shown: item provenance, then episodes."""
    ids = [h.provenance.trajectory_id for h in result.items] + [e.trajectory_id for e in result.episodes]
    seen: dict[int, None] = {}
    for t in ids:
        if t is not None and t in row_of:
            seen.setdefault(row_of[t], None)
    return list(seen)


# ---- metrics ---------------------------------------------------------------------------------
def _dcg(grades: Sequence[int]) -> float:
    return sum((2**g - 1) / np.log2(rank + 2) for rank, g in enumerate(grades))


def other_grades(tasks: list[Task]) -> list[list[int]]:
    """For each task, the grades of all other tasks of its repo, best first (other repos grade 0)."""
    same = _same_repo_index(tasks)
    return [sorted((grade(tasks[i], tasks[j]) for j in same[i]), reverse=True) for i in range(len(tasks))]


def quality(tasks: list[Task], rankings: list[list[int]], best: list[list[int]]) -> dict[str, Any]:
    """nDCG@5 (ideal from all other tasks), hit@5 (a grade-3 task in the top 5), MRR (first grade >= 2)."""
    ndcg, hit, rr = [], [], []
    for i, ranked in enumerate(rankings):
        query, others = tasks[i], best[i]
        grades = [grade(query, tasks[j]) for j in ranked]
        ideal = _dcg(others[:5])
        if ideal > 0:
            ndcg.append(_dcg(grades[:5]) / ideal)
        if others and others[0] == 3:
            hit.append(float(3 in grades[:5]))
        if others and others[0] >= 2:
            first = next((r for r, g in enumerate(grades[:DEPTH]) if g >= 2), None)
            rr.append(0.0 if first is None else 1.0 / (first + 1))
    return {
        "ndcg@5": _mean(ndcg),
        "hit@5": _mean(hit),
        "mrr": _mean(rr),
        "returned": _mean([float(len(r)) for r in rankings]),
        "queries_ndcg": len(ndcg),
        "queries_hit": len(hit),
        "queries_mrr": len(rr),
    }


def sweep_row(tasks: list[Task], rankings: list[list[int]], best: list[list[int]], k: int) -> dict[str, Any]:
    """Precision-style numbers of the top k, over queries with at least one same-repo past task."""
    top_grades, returned, hits, useful, at_k = [], [], [], [], []
    for i, ranked in enumerate(rankings):
        others = best[i]
        if not others:
            continue
        grades = [grade(tasks[i], tasks[j]) for j in ranked[:k]]
        returned.append(len(grades))
        top_grades.extend(grades)
        if len(grades) == k:
            at_k.append(grades[-1])
        if 3 in others:
            hits.append(float(3 in grades))
        if max(others) >= 2:
            useful.append(float(any(g >= 2 for g in grades)))
    return {
        "k": k,
        "returned": _mean(returned),
        "mean_grade": _mean(top_grades),
        "share_grade>=2": _mean([float(g >= 2) for g in top_grades]),
        "share_grade3": _mean([float(g == 3) for g in top_grades]),
        "grade_at_rank_k": _mean(at_k),
        "grade>=2_at_rank_k": _mean([float(g >= 2) for g in at_k]),
        "hit@k": _mean(hits),
        "any_grade>=2@k": _mean(useful),
    }


def _mean(values: Sequence[float]) -> float:
    return float(statistics.fmean(values)) if values else 0.0


def summarize(run: Run) -> dict[str, Any]:
    best = other_grades(run.tasks)
    systems = {name: quality(run.tasks, ranked, best) for name, ranked in run.rankings.items()}
    per_seed = [quality(run.tasks, ranked, best) for ranked in run.random_rankings]
    systems["same-repo random"] = {key: _mean([q[key] for q in per_seed]) for key in per_seed[0]}
    sweep = []
    for k in SWEEP_KS:
        row = sweep_row(run.tasks, run.sweep[k], best, k)
        row["guidance_tokens"] = _mean(run.guidance_chars[k]) / 4
        sweep.append(row)
    base = {
        "mean_grade": _mean([_mean(g) for g in best if g]),
        "share_grade>=2": _mean([_mean([float(x >= 2) for x in g]) for g in best if g]),
        "share_grade3": _mean([_mean([float(x == 3) for x in g]) for g in best if g]),
    }
    return {
        "tasks": len(run.tasks),
        "systems": systems,
        "k_sweep": sweep,
        "base_rate": base,
        "timing": run.timing,
    }


# ---- reporting -------------------------------------------------------------------------------
def print_quality(title: str, systems: dict[str, dict[str, Any]]) -> None:
    base = systems["same-repo random"]["ndcg@5"] or 1.0
    rows = [
        [name, q["ndcg@5"], q["hit@5"], q["mrr"], f"{q['ndcg@5'] / base:.2f}x", q.get("returned")]
        for name, q in ((n, systems[n]) for n in SYSTEMS)
    ]
    print_table(title, ["system", "nDCG@5", "hit@5", "MRR", "nDCG vs random", "returned (of 10)"], rows)


def print_report(summary: dict[str, Any]) -> None:
    q = summary["systems"]["rb-mcp recall"]
    print_quality(
        f"Recall quality, {summary['tasks']} tasks (nDCG@5 over {q['queries_ndcg']} queries, hit@5 over "
        f"{q['queries_hit']} with a same-file task, MRR (first grade>=2 in the top {DEPTH}) over "
        f"{q['queries_mrr']} with a same-directory task)",
        summary["systems"],
    )
    columns = [
        ("k", "k"),
        ("returned", "returned"),
        ("mean grade", "mean_grade"),
        ("grade>=2", "share_grade>=2"),
        ("grade=3", "share_grade3"),
        ("grade at rank k", "grade_at_rank_k"),
        ("rank k grade>=2", "grade>=2_at_rank_k"),
        ("hit@k", "hit@k"),
        ("any>=2 in top k", "any_grade>=2@k"),
        ("guidance tokens", "guidance_tokens"),
    ]
    print_table(
        "k sweep (rb-mcp recall with k; grades of the top k, queries with a same-repo past task)",
        [h for h, _ in columns],
        [[r[key] for _, key in columns] for r in summary["k_sweep"]],
    )
    base = summary["base_rate"]
    print(
        f"base rate (a random past task of the same repo): mean grade {base['mean_grade']:.3f}, "
        f"grade>=2 {base['share_grade>=2']:.3f}, grade=3 {base['share_grade3']:.3f}"
    )
    t = summary["timing"]
    print_table(
        "Timing",
        ["step", "total s", "p50 ms", "p95 ms"],
        [
            ["record (per task, incl. embedding)", t["record_total_s"], t["record_per_task_ms"], None],
            ["embed query", None, t["embed_ms"]["p50"], t["embed_ms"]["p95"]],
            [
                "recall without embedding",
                None,
                t["recall_without_embedding_ms"]["p50"],
                t["recall_without_embedding_ms"]["p95"],
            ],
            ["recall all queries (embed + recall)", t["recall_total_s"], None, None],
        ],
        digits=2,
    )


def halves(tasks: list[Task], how: str) -> list[tuple[str, list[Task]]]:
    if how == "parity":
        return [("even rows", tasks[0::2]), ("odd rows", tasks[1::2])]
    if how == "time":
        ordered = sorted(tasks, key=lambda t: (t.created_at, t.row))
        mid = len(ordered) // 2
        return [("earlier half", ordered[:mid]), ("later half", ordered[mid:])]
    raise SystemExit(f"unknown split {how!r}; use parity, time or none")


def main(argv: Sequence[str] | None = None, embedder_factory: Callable[[], Embedder] = FastEmbedder) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tasks", type=Path, default=DEFAULT_TASKS, help="JSONL of tasks (see shared/eval/README.md)"
    )
    parser.add_argument("--splits", default="parity,time", help="halves to rerun on: parity,time or none")
    parser.add_argument("--out", default=None, help="file name under benchmarks/results/")
    parser.add_argument("--postgres", action="store_true", help="banks on PostgreSQL instead of SQLite")
    parser.add_argument(
        "--min-score",
        type=float,
        help="recall's similarity floor (RB_MCP_MIN_SCORE; -1 = none) instead of 0.30",
    )
    args = parser.parse_args(argv)
    if args.min_score is not None:
        FLOOR["min_score"] = args.min_score
    out = args.out or ("recall_quality_postgres.json" if args.postgres else "recall_quality.json")
    with contextlib.ExitStack() as stack:
        if args.postgres:
            POSTGRES["url"] = stack.enter_context(_postgres_server())
        return _main(args, out, embedder_factory)


@contextlib.contextmanager
def _postgres_server() -> Iterator[str]:
    url = os.environ.get("RB_MCP_BENCH_PG_URL")
    if url:
        yield url
        return
    import pgserver

    with tempfile.TemporaryDirectory(prefix="rb-mcp-quality-pg-") as tmp:
        server = pgserver.get_server(tmp, cleanup_mode="delete")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


def _main(args: argparse.Namespace, out: str, embedder_factory: Callable[[], Embedder]) -> int:
    tasks = load_tasks(args.tasks)
    embedder = CachedEmbedder(embedder_factory())
    run = run_protocol(tasks, embedder)
    print_machine(run.machine)
    print(f"tasks: {args.tasks} ({len(tasks)} tasks, {len({t.repo for t in tasks})} repos)")
    print(
        f"bank: {'PostgreSQL (keyword ranking: ts_rank)' if POSTGRES else 'SQLite (keyword ranking: FTS5 BM25)'}"
    )
    summary = summarize(run)
    print_report(summary)
    splits: dict[str, Any] = {}
    for how in [s for s in args.splits.split(",") if s and s != "none"]:
        for label, subset in halves(tasks, how):
            part = summarize(run_protocol(subset, embedder))
            splits[f"{how}: {label}"] = part
            print_quality(f"Split {how}, {label} ({len(subset)} tasks in their own bank)", part["systems"])
    backend = "postgresql" if POSTGRES else "sqlite"
    path = write_json(
        out,
        {
            "machine": run.machine,
            "backend": backend,
            "tasks_file": str(args.tasks),
            **summary,
            "splits": splits,
        },
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
