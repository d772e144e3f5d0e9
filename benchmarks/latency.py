"""Latency and scale: recall and record in process and over stdio, start-up and memory, 1k-1M items.

    python benchmarks/latency.py                       # 1k, 10k and 100k items
    python benchmarks/latency.py --sizes 1k,10k,100k,1m
    python benchmarks/latency.py --peer-setup          # first install the peer server under --cache

Banks are built once and cached under --cache (a tmp dir); each run measures a copy. Up to 10k
items, every item and task carries the real embedding of its synthetic text; beyond that the
extra rows get synthetic vectors (a real vector plus noise shaped like the real vectors' spread,
cosine ~0.9 to it), written through the store's API: a 1M bank is not 1M embedding calls.
Queries always take the real path: text -> model -> hybrid recall.

Baselines run in the same process and are printed as ratios: a bare mcp stdio server with one
trivial tool (the floor for start-up and round trip); exact numpy cosine over the same float
vectors held in memory (the floor for search); and mcp-memory-service, the peer memory server,
when it can run here (see `peer_reason`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

# As in rb-mcp's own processes (rb_mcp.cli.one_blas_thread): the in-process numbers run under the
# server's conditions.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine_info, print_table, shared_eval, write_json  # noqa: E402
from _common import percentiles as _percentiles  # noqa: E402

from rb_mcp import embed  # noqa: E402
from rb_mcp.clock import now  # noqa: E402
from rb_mcp.config import DEFAULT_MODEL, Config  # noqa: E402
from rb_mcp.loop.bank import Bank  # noqa: E402
from rb_mcp.project import resolve  # noqa: E402
from rb_mcp.store import GLOBAL, Store, open_store  # noqa: E402

VERSION = "1"  # bump when the generated banks change, so cached ones are rebuilt
SIZES = {"1k": 1_000, "10k": 10_000, "100k": 100_000, "1m": 1_000_000}
REAL = 10_000  # items with real embeddings; one task per three items
PROJECT = "bench-project"
OTHERS = [f"other-project-{i}" for i in range(8)]
TARGETS = {
    "spawn -> tools/list vs bare": ("<=", 1.2),
    "spawn -> first recall vs bare tools/list": ("<=", 1.6),
    "stdio recall p50 @10k, real tasks (ms)": ("<=", 30.0),
    "stdio recall p95 @10k, real tasks (ms)": ("<=", 45.0),
    "server RSS after 50 real recalls @10k (MB)": ("<=", 200.0),
    "stdio recall p50 @10k (ms)": ("<=", 15.0),
    "stdio recall p50 @100k (ms)": ("<=", 25.0),
    "search vs numpy exact @100k (p50 ratio)": ("<=", 1.5),
    "recall p95 @1m (ms, in process)": ("<=", 60.0),
    "stdio recall p95 @1m (ms)": ("<=", 60.0),
    "recall@10 vs exact @1m": (">=", 0.95),
    "store open @1m (s)": ("<=", 1.0),
    "prompt hook p95 @10k, cold process (ms)": ("<=", 1000.0),
}
BARE_SERVER = '''from mcp.server import MCPServer

app = MCPServer("bare")


@app.tool()
def echo(text: str) -> str:
    """Return the text."""
    return text


app.run()
'''

# ---- synthetic text ------------------------------------------------------------------------
VERBS = (
    "validate parse cache retry reproduce isolate bisect profile mock pin migrate serialize escape normalize "
    "debounce batch stream paginate lock index vacuum rotate flush sanitize dedupe throttle sandbox lint "
    "type-check benchmark rollback backfill"
).split()
THINGS = (
    "input,config file,timeout,database migration,HTTP client,JSON payload,unicode path,environment variable,"
    "dependency version,cache key,test fixture,async task,thread pool,file handle,log line,regex,date parsing,"
    "time zone,CSV export,SQL query,ORM session,API token,feature flag,docker image,CI pipeline,git history,"
    "lock file,websocket,retry policy,connection pool,memory leak,race condition,flaky test,import cycle,"
    "build cache,schema change,error message,stack trace,config loader,CLI argument,plugin hook,event loop"
).split(",")
PLACES = (
    "in the CLI,in the test suite,for async code,in production,behind a proxy,on Windows,with large files,"
    "under load,after an upgrade,in a monorepo,with pytest,with Django,with React,in Rust code,in Go services,"
    "in shell scripts,in SQL migrations,with Docker compose,in GitHub Actions,with Kubernetes,in TypeScript,"
    "in the ORM layer,with Postgres,with SQLite,with Redis"
).split(",")
WHY = (
    "because silent failures hide the real cause,so that the fix is proven and stays fixed,since the error "
    "only shows up intermittently,as callers relied on the old behaviour,because defaults differ between "
    "environments,so that reviewers can follow the change,because the library changed its API,since partial "
    "writes corrupt state"
).split(",")
STEPS = (
    "write a failing test first,read the full stack trace,check the library changelog,print the effective "
    "config,run the narrowest test,compare with the last good commit,add a regression test,log the inputs at "
    "the boundary,keep the change small,re-run the whole suite,check the encoding explicitly,set explicit "
    "timeouts,wrap the writes in a transaction,close resources in finally,pin the version,measure before "
    "optimizing"
).split(",")


def item_text(rng: random.Random) -> tuple[str, str, str]:
    verb, thing, place = rng.choice(VERBS), rng.choice(THINGS), rng.choice(PLACES)
    steps = rng.sample(STEPS, 3)
    return (
        f"{verb.capitalize()} the {thing} {place}",
        f"When working with the {thing} {place}, {rng.choice(VERBS)} it first {rng.choice(WHY)}.",
        f"{steps[0].capitalize()}, then {steps[1]}; finally {steps[2]}. Watch the {rng.choice(THINGS)} "
        f"{rng.choice(WHY)}, and confirm the result with the narrowest check that covers it.",
    )


def task_text(rng: random.Random) -> str:
    action = rng.choice(["Fix", "Debug", "Investigate", "Implement", "Refactor", "Speed up"])
    symptom = rng.choice(["bug", "crash", "failure", "regression", "slowness", "feature"])
    when = rng.choice(["is empty", "times out", "changes", "is missing", "is large", "has unicode"])
    return f"{action} the {rng.choice(THINGS)} {symptom} {rng.choice(PLACES)} when the {rng.choice(THINGS)} {when}"


def queries_for(n: int) -> list[str]:
    rng = random.Random("queries")
    return [task_text(rng) for _ in range(n)]


REAL_TASKS = shared_eval("swe-lite-tasks.jsonl")


def real_queries(n: int = 50) -> list[str]:
    """Real issue texts (SWE-bench Lite problem statements), as an agent would pass them to recall:
    hundreds of tokens, where the synthetic queries above have about twenty."""
    if not REAL_TASKS.is_file():
        return []
    with REAL_TASKS.open() as fh:
        return [json.loads(line)["problem_statement"] for line, _ in zip(fh, range(n))]


# ---- corpus and banks (cached) -------------------------------------------------------------
def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def slug(model: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in model.split("/")[-1].lower())


def embed_corpus(cache: Path, embedder: embed.FastEmbedder) -> dict[str, Any]:
    """Texts and real embeddings of 10k items and their tasks; embedded once, in resumable parts."""
    rng = random.Random("corpus")
    n_tasks = -(-REAL // 3)
    tasks = [task_text(rng) for _ in range(n_tasks)]
    items = [item_text(rng) for _ in range(REAL)]
    texts = {"tasks": tasks, "items": ["\n".join(t) for t in items]}
    vecs: dict[str, np.ndarray] = {}
    for kind, batch in texts.items():
        parts = []
        for start in range(0, len(batch), 1000):
            part = cache / f"corpus-v{VERSION}-{slug(embedder.name)}-{kind}-{start}.npy"
            if not part.exists():
                say(f"embedding {kind} {start}-{start + 1000} of {len(batch)}")
                np.save(part, embedder.embed(batch[start : start + 1000]))
            parts.append(np.load(part))
        vecs[kind] = np.vstack(parts)
    return {"tasks": tasks, "items": items, "task_vecs": vecs["tasks"], "item_vecs": vecs["items"],
            "model": embedder.name}  # fmt: skip


class Synthetic:
    """Vectors near real ones: base + noise with the real vectors' covariance, normalised."""

    def __init__(self, real: np.ndarray, seed: int, spread: float = 0.6):
        self.real, self.spread = real, spread
        self.mean = real.mean(axis=0)
        _, s, self.vt = np.linalg.svd(real - self.mean, full_matrices=False)
        self.std = (s / np.sqrt(len(real) - 1)).astype(np.float32)
        self.rng = np.random.default_rng(seed)

    def __call__(self, n: int) -> np.ndarray:
        base = self.real[self.rng.integers(0, len(self.real), n)]
        noise = (self.rng.standard_normal((n, len(self.std)), dtype=np.float32) * self.std) @ self.vt
        out = base + self.spread * noise
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def build_bank(cache: Path, n_items: int, corpus: dict[str, Any]) -> Path:
    """A bank of n_items items (3 per task) over 10 scopes, through the store's own index calls."""
    path = cache / f"bank-v{VERSION}-{slug(corpus['model'])}-{n_items}.sqlite3"
    if path.exists() and (cache / f"{path.name}.ready").exists():
        return path
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    say(f"building {path.name}")
    started = time.perf_counter()
    rng = random.Random(f"bank-{n_items}")
    scopes = [resolve(PROJECT, None)] * 6 + [None] * 2 + [resolve(p, None) for p in OTHERS[:2]]
    n_tasks = -(-n_items // 3)
    fake_items, fake_tasks = Synthetic(corpus["item_vecs"], 1), Synthetic(corpus["task_vecs"], 2)
    store = open_store(path)
    store.ensure_vectors(corpus["model"], corpus["item_vecs"].shape[1])
    stamp = now()
    for start in range(0, n_tasks, 2000):
        count = min(2000, n_tasks - start)
        real_t = max(0, min(count, len(corpus["tasks"]) - start))
        task_vecs = np.vstack([corpus["task_vecs"][start : start + real_t], fake_tasks(count - real_t)])
        item_start = 3 * start
        real_i = max(0, min(3 * count, REAL - item_start))
        item_vecs = np.vstack(
            [corpus["item_vecs"][item_start : item_start + real_i], fake_items(3 * count - real_i)]
        )
        with store.transaction() as db:
            for t in range(count):
                number = start + t
                project = scopes[rng.randrange(len(scopes))]
                task = corpus["tasks"][number] if number < len(corpus["tasks"]) else task_text(rng)
                cur = db.execute(
                    "insert into trajectories (task, project, steps, summary, outcome, status, role, "
                    "task_embedding, created_at, updated_at) values (?, ?, ?, ?, ?, 'distilled', 'task', ?, ?, ?)",
                    (task, project, json.dumps([{"action": s} for s in rng.sample(STEPS, 3)]), task[:80],
                     rng.choice(["success", "success", "failure"]), task_vecs[t].tobytes(), stamp, stamp),
                )  # fmt: skip
                trajectory_id = int(cur.lastrowid)
                store.index_task(db, trajectory_id)
                for j in range(3):
                    number_i = item_start + 3 * t + j
                    if number_i >= n_items:
                        break
                    title, description, content = (
                        corpus["items"][number_i] if number_i < REAL else item_text(rng)
                    )
                    cur = db.execute(
                        "insert into items (title, description, content, kind, scope, trajectory_id, embedding, "
                        "content_hash, created_at, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (title, description, content, rng.choice(["strategy", "strategy", "pitfall"]),
                         project or GLOBAL, trajectory_id, item_vecs[3 * t + j].tobytes(), f"h{number_i}", stamp, stamp),
                    )  # fmt: skip
                    item_id = int(cur.lastrowid)
                    db.execute(
                        "insert into item_sources (item_id, trajectory_id) values (?, ?)",
                        (item_id, trajectory_id),
                    )
                    store.index_item(db, item_id)
        if start % 50_000 == 0 and start:
            say(f"  {3 * start} items, {time.perf_counter() - started:.0f} s")
    store.knn("item_vec", corpus["item_vecs"][0], [GLOBAL], 1)  # load the index and write its snapshot
    store.db.execute("pragma wal_checkpoint(truncate)")
    store.close()
    (cache / f"{path.name}.ready").write_text(f"{time.perf_counter() - started:.1f} s\n")
    say(f"built {path.name} in {time.perf_counter() - started:.0f} s")
    return path


# ---- small helpers -------------------------------------------------------------------------
def percentiles(samples_ms: list[float]) -> dict[str, float]:
    """p50, p95 and mean, plus the minimum: on a loaded machine it is the best guess of an idle one."""
    return _percentiles(samples_ms) | {"min": min(samples_ms) if samples_ms else 0.0}


def ms(seconds: float) -> float:
    return seconds * 1000.0


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return ms(time.perf_counter() - start)


def rss_of(pid: int) -> dict[str, float]:
    """Resident and peak resident memory of a process in MB (Linux /proc)."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out["rss_mb" if key == "VmRSS" else "peak_rss_mb"] = round(int(value.split()[0]) / 1024, 1)
    except OSError:
        pass
    return out


def children() -> set[int]:
    """Direct children of this process: the stdio servers the mcp client spawned."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == os.getpid():
                    found.add(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def ram_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20, 1)
    return 0.0


def fresh_copy(src: Path, dst: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{dst}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(src, dst)
    # Flush the copy now: a 3.6 GB file still being written back made the first open of it wait
    # on the disk (1.8 s once), which is the benchmark's copying, not the bank opening.
    os.sync()
    return dst


# ---- in process ----------------------------------------------------------------------------
def record_args(rng: random.Random, i: int) -> dict[str, Any]:
    items = []
    for j in range(3):
        title, description, content = item_text(rng)
        items.append({"title": f"{title} (variant {i}.{j})", "description": description, "content": content})
    return {
        "task": task_text(rng),
        "steps": [
            "read the failing test output",
            "changed the parser to validate its input",
            "ran the suite: green",
        ],
        "outcome": "success",
        "rationale": "the failing test passes and the whole suite is green",
        "items": items,
        "project": PROJECT,
    }


def measure_in_process(
    work: Path, embedder: embed.FastEmbedder, queries: list[str], n_record: int
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    opens, loads = [], []
    qvec = embedder.embed([queries[0]])[0]
    for _ in range(3):
        start = time.perf_counter()
        store = open_store(work)
        opened = time.perf_counter()
        store.knn("item_vec", qvec, [GLOBAL], 10)
        opens.append(ms(opened - start))
        loads.append(ms(time.perf_counter() - opened))
        store.close()
    out["store_open_ms"] = percentiles(opens)
    out["index_load_ms"] = percentiles(loads)
    with Bank(Config(bank=work, project=None, preload=False), embedder=embedder) as bank:
        bank.default_project = None
        parts = [bank.scope_of(PROJECT) or GLOBAL, GLOBAL]
        for q in queries[:5]:
            bank.recall(q, PROJECT)
        out["recall_ms"] = percentiles([timed(lambda q=q: bank.recall(q, PROJECT)) for q in queries])
        out["anchors"] = measure_anchors(bank, work.parent / "anchor-repo", queries)
        if real := real_queries():
            out["recall_real_ms"] = percentiles([timed(lambda q=q: bank.recall(q, PROJECT)) for q in real])
            # The floor under a real-text recall: embedding the text alone (cut at the model's
            # length); and the recall the prompt hook makes, by keyword only.
            out["embed_real_ms"] = percentiles([timed(lambda q=q: embedder.embed([q])) for q in real])
            out["recall_real_keyword_ms"] = percentiles(
                [timed(lambda q=q: bank.recall(q, PROJECT, vectors=False)) for q in real]
            )
        store, qvecs = bank.store, embedder.embed(queries)
        stages: dict[str, list[float]] = {
            k: [] for k in ("embed", "knn_task", "knn_item", "fts_task", "fts_item")
        }
        for q, v in zip(queries, qvecs):
            stages["embed"].append(timed(lambda q=q: embedder.embed([q])))
            stages["knn_task"].append(timed(lambda v=v: store.knn("task_vec", v, parts, 50)))
            stages["knn_item"].append(timed(lambda v=v: store.knn("item_vec", v, parts, 50)))
            stages["fts_task"].append(timed(lambda q=q: store.keyword("task_fts", q, parts, 50)))
            stages["fts_item"].append(timed(lambda q=q: store.keyword("item_fts", q, parts, 50)))
        out["stages_ms"] = {k: percentiles(v) for k, v in stages.items()}
        out["search"] = search_vs_exact(store, parts, qvecs)
        rng = random.Random("record-inproc")
        calls = [record_args(rng, i) for i in range(n_record)]
        out["record_ms"] = percentiles([timed(lambda a=a: bank.record(**a)) for a in calls])
        out["index"] = store.vector_index().stats()
    return out


def anchor_repo(repo: Path, n_files: int = 60, defs: int = 300) -> list[tuple[str, list[str]]]:
    """A git repository of `n_files` Python modules (~20 KB each): (path, function names) of each."""
    shutil.rmtree(repo, ignore_errors=True)
    (repo / "pkg").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    modules = []
    for i in range(n_files):
        names = [f"step_{i}_{j}" for j in range(defs)]
        body = "\n\n".join(f"def {n}(value):\n    return helper(value, {j})\n" for j, n in enumerate(names))
        (repo / "pkg" / f"mod_{i}.py").write_text(body)
        modules.append((f"pkg/mod_{i}.py", names))
    return modules


def measure_anchors(bank: Bank, repo: Path, queries: list[str], k: int = 3) -> dict[str, Any]:
    """Recall with anchors checked against a working tree, beside the same recalls with no tree in
    sight. The items the queries recall, and the candidates behind them that a recall checks
    (`recall.WINDOW` x k), get anchors into a synthetic repository: two named files, one touched
    file and four symbols each. Also the anchor step alone, with the file cache warm and cold (every
    file of the window re-read: the worst case, as after a checkout that touched them all)."""
    from rb_mcp.loop import anchors
    from rb_mcp.loop.recall import WINDOW
    from rb_mcp.models import Anchors

    modules = anchor_repo(repo)
    tree = anchors.Tree.at(repo)
    rng = random.Random("anchors")
    scope = bank.scope_of(PROJECT)
    windows = [
        [h.id for h in bank.retriever.recall(q, scope, WINDOW * k, log_event=False).items] for q in queries
    ]
    ids = {i for window in windows for i in window}
    given: dict[int, Anchors] = {}
    with bank.store.transaction() as tx:
        for item_id in sorted(ids):
            (a, names), (b, _), (c, _) = rng.sample(modules, 3)
            given[item_id] = Anchors(
                repo=tree.key, files=[c], named=[a, b], symbols={s: [a] for s in rng.sample(names, 4)}
            )
            bank.store.set_item_anchors(tx, item_id, given[item_id].model_dump_json())
    local, bank._local_tree = bank._local_tree, None  # the recalls "without" see no working tree
    try:
        without, with_tree, verified = [], [], 0
        for q in queries:
            without.append(timed(lambda q=q: bank.recall(q, PROJECT)))
            start = time.perf_counter()
            result = bank.recall(q, PROJECT, root=repo)
            with_tree.append(ms(time.perf_counter() - start))
            verified += sum(h.verified is True for h in result.items)
        # The anchor step of a recall alone (`Retriever._check_anchors`): read the window's anchors,
        # parse them and check them until k hold.
        ranked = [[(False, 0.0, i, 0.0, []) for i in window] for window in windows]
        step = bank.retriever._check_anchors
        warm = [timed(lambda r=r: step(r, k, tree)) for r in ranked]
        cold = []
        for r in ranked:
            anchors._cache.clear()
            cold.append(timed(lambda r=r: step(r, k, tree)))
    finally:
        bank._local_tree = local
    return {
        "anchored_items": len(ids),
        "verified_hits": verified,
        "recall_no_tree_ms": percentiles(without),
        "recall_with_tree_ms": percentiles(with_tree),
        "checks_warm_ms": percentiles(warm),
        "checks_cold_ms": percentiles(cold),
    }


def search_vs_exact(store: Store, parts: list[str], qvecs: np.ndarray, k: int = 50) -> dict[str, Any]:
    """The index against exact numpy cosine over the same float vectors, held in memory."""
    rows = store.query(
        "select id, embedding from items where status = 'active' and embedding is not null and scope in (?, ?)",
        parts,
    )
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    mat = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    del rows

    def exact(q: np.ndarray) -> np.ndarray:
        sims = mat @ q
        top = np.argpartition(-sims, k)[:k]
        return ids[top[np.argsort(-sims[top])]]

    for q in qvecs[:3]:
        exact(q), store.knn("item_vec", q, parts, k)
    t_exact, t_index, found = [], [], 0
    for q in qvecs:
        start = time.perf_counter()
        want = exact(q)
        t_exact.append(ms(time.perf_counter() - start))
        start = time.perf_counter()
        got = store.knn("item_vec", q, parts, k)
        t_index.append(ms(time.perf_counter() - start))
        found += len(set(want[:10].tolist()) & {i for i, _ in got[:10]})
    p_exact, p_index = percentiles(t_exact), percentiles(t_index)
    return {
        "vectors": len(ids),
        "numpy_exact_ms": p_exact,
        "index_ms": p_index,
        "ratio_p50": p_index["p50"] / p_exact["p50"],
        "recall_at_10": found / (10 * len(qvecs)),
    }


# ---- over stdio ----------------------------------------------------------------------------
Work = Callable[[Any], Awaitable[dict[str, Any]]]
SERVER = {"pid": 0}  # the stdio server of the current session, for reading its memory mid-session


async def session(command: list[str], env: dict[str, str], work: Work) -> dict[str, Any]:
    """Spawn a stdio server, time spawn -> tools/list, run `work`, read the server's memory."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    before = children()
    start = time.perf_counter()
    async with Client(StdioServerParameters(command=command[0], args=command[1:], env=env)) as client:
        await client.list_tools()
        ready = ms(time.perf_counter() - start)
        SERVER["pid"] = next(iter(sorted(children() - before)), 0)
        out = await work(client)
        out["spawn_ms"] = ready
        pids = sorted(children() - before)
        if pids:
            out.update(rss_of(pids[0]))
    return out


async def timed_calls(client: Any, tool: str, args: list[dict[str, Any]]) -> list[float]:
    times = []
    for a in args:
        start = time.perf_counter()
        result = await client.call_tool(tool, a)
        times.append(ms(time.perf_counter() - start))
        if result.is_error:
            raise RuntimeError(f"{tool} failed: {result.content}")
    return times


async def spawn_series(
    command: list[str], env: dict[str, str], spawns: int, main: Work, first: Work
) -> dict[str, Any]:
    runs = [await session(command, env, main)] + [
        await session(command, env, first) for _ in range(spawns - 1)
    ]
    out = {"spawn_ms": percentiles([r["spawn_ms"] for r in runs])}
    if "first_ms" in runs[0]:
        out["first_call_ms"] = percentiles([r["first_ms"] for r in runs])
    out |= {k: v for k, v in runs[0].items() if k not in ("spawn_ms", "first_ms")}
    return out


def prebuild_model(cache: Path) -> None:
    """Build the int8 model into the servers' cache dir now: a server's first start would otherwise."""
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(cache / "xdg")
    try:
        embed.default_model_file()
    finally:
        if saved is None:
            os.environ.pop("XDG_CACHE_HOME")
        else:
            os.environ["XDG_CACHE_HOME"] = saved


def rb_env(work: Path, cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RB_MCP_")}
    env |= {
        "RB_MCP_BANK": str(work),
        "XDG_DATA_HOME": str(cache / "xdg-data"),
        "XDG_CACHE_HOME": str(cache / "xdg"),
    }
    return env | extra


def rb_command() -> list[str]:
    script = Path(sys.executable).parent / "rb-mcp"
    return [str(script), "serve"] if script.exists() else [sys.executable, "-m", "rb_mcp", "serve"]


async def measure_stdio(
    work: Path, cache: Path, queries: list[str], spawns: int, n_record: int, model: str = DEFAULT_MODEL
) -> dict[str, Any]:
    """Start-up interleaved with the bare server's (the machine's load drifts), then one long session.

    The first recall after start is a real task text; the long session times the synthetic queries,
    then the real task texts, and reads the server's memory right after those."""
    recall = [{"task": q, "project": PROJECT} for q in queries]
    real = [{"task": q, "project": PROJECT} for q in real_queries()]
    bare = [sys.executable, str(cache / "bare_server.py")]
    env = rb_env(work, cache, RB_MCP_MODEL=model)

    async def first(client: Any) -> dict[str, Any]:
        return {"first_ms": (await timed_calls(client, "recall_strategies", (real or recall)[:1]))[0]}

    async def nothing(_client: Any) -> dict[str, Any]:
        return {}

    async def main(client: Any) -> dict[str, Any]:
        out = await first(client)
        await timed_calls(client, "recall_strategies", recall[1:6])
        out["recall_ms"] = percentiles(await timed_calls(client, "recall_strategies", recall))
        if real:
            out["recall_real_ms"] = percentiles(await timed_calls(client, "recall_strategies", real))
            out["rss_after_real"] = rss_of(SERVER["pid"])
        rng = random.Random("record-stdio")
        out["record_ms"] = percentiles(
            await timed_calls(client, "record_trajectory", [record_args(rng, i) for i in range(n_record)])
        )
        return out

    pairs = [
        (await session(bare, dict(os.environ), nothing), await session(rb_command(), env, first))
        for _ in range(spawns)
    ]
    out = await session(rb_command(), env, main)
    rb_spawn = percentiles([r["spawn_ms"] for _, r in pairs])
    bare_spawn = percentiles([b["spawn_ms"] for b, _ in pairs])
    first_from_spawn = percentiles([r["spawn_ms"] + r["first_ms"] for _, r in pairs])
    return {
        "spawn_ms": rb_spawn,
        "bare_spawn_ms": bare_spawn,
        "spawn_vs_bare": rb_spawn["p50"] / bare_spawn["p50"],
        "first_call_ms": percentiles([r["first_ms"] for _, r in pairs]),
        "first_recall_from_spawn_ms": first_from_spawn,
        "first_recall_vs_bare": first_from_spawn["p50"] / bare_spawn["p50"],
        "recall_ms": out["recall_ms"],
        "recall_real_ms": out.get("recall_real_ms"),
        "rss_after_real_mb": out.get("rss_after_real", {}).get("rss_mb"),
        "record_ms": out["record_ms"],
        "rss_mb": out.get("rss_mb"),
        "peak_rss_mb": out.get("peak_rss_mb"),
    }


async def measure_bare(cache: Path, spawns: int, n_calls: int) -> dict[str, Any]:
    script = cache / "bare_server.py"
    script.write_text(BARE_SERVER)

    async def calls(client: Any) -> dict[str, Any]:
        await timed_calls(client, "echo", [{"text": "warm"}] * 5)
        return {"call_ms": percentiles(await timed_calls(client, "echo", [{"text": "ping"}] * n_calls))}

    async def nothing(_client: Any) -> dict[str, Any]:
        return {}

    return await spawn_series([sys.executable, str(script)], dict(os.environ), spawns, calls, nothing)


async def import_profile(cache: Path, preload: str) -> dict[str, Any]:
    """What `rb-mcp serve` has imported when it answers tools/list (python -X importtime)."""
    log = cache / f"importtime-preload{preload}.log"
    work = fresh_copy(cache / "empty.sqlite3", cache / "importtime.sqlite3")
    command = ["/bin/sh", "-c", f'exec "{sys.executable}" -X importtime -m rb_mcp serve 2>"{log}"']
    seen: dict[str, str] = {}

    async def grab(_client: Any) -> dict[str, Any]:
        seen["log"] = log.read_text(errors="replace")  # as of tools/list, before anything later
        return {}

    out = await session(command, rb_env(work, cache, RB_MCP_PRELOAD=preload), grab)
    # importtime prints children before their parent, indented one level deeper: read it backwards
    # and charge each package the cumulative time of the imports that enter it from another package.
    packages: dict[str, float] = {}
    total, stack = 0.0, []  # (level, package) of the enclosing imports
    for line in reversed(seen.get("log", "").splitlines()):
        fields = line.split("|")
        if not line.startswith("import time:") or len(fields) != 3 or "cumulative" in line:
            continue
        name = fields[2][1:]
        level = (len(name) - len(name.lstrip(" "))) // 2
        package = name.strip().split(".")[0]
        while stack and stack[-1][0] >= level:
            stack.pop()
        if level == 0:
            total += int(fields[1]) / 1000
        if not stack or stack[-1][1] != package:
            packages[package] = packages.get(package, 0.0) + int(fields[1]) / 1000
        stack.append((level, package))
    tops = packages
    return {
        "spawn_ms": out["spawn_ms"],
        "imports_ms": round(total, 1),
        "top": {m: round(t, 1) for m, t in sorted(tops.items(), key=lambda kv: -kv[1])[:12]},
        "heavy_loaded": sorted(set(tops) & {"fastembed", "onnxruntime", "numpy", "tokenizers", "huggingface_hub", "sqlite_vec", "sqlean"}),
    }  # fmt: skip


# ---- the Claude Code prompt hook, from a cold process -----------------------------------------
def measure_hook(work: Path, cache: Path, runs: int) -> dict[str, Any] | None:
    """`rb-mcp hook user-prompt-submit` as Claude Code runs it on every prompt: a new process, the
    documented payload on stdin, real task texts as prompts, recall by keyword (the default)."""
    import hook_latency as hl

    prompts = real_queries(runs) or queries_for(runs)
    home = Path(tempfile.mkdtemp(prefix="rb-mcp-hook-", dir=cache))
    transcript = home / "transcript.jsonl"
    transcript.write_text("")
    env = rb_env(work, cache, RB_MCP_PROJECT=PROJECT, XDG_STATE_HOME=str(home / "state"))
    command, _ = hl.hook_command()
    times, answered = [], 0
    for prompt in prompts[:runs]:
        ms_taken, out = hl.timed(
            [*command, "user-prompt-submit"], hl.prompt_payload(prompt, home, transcript), env
        )
        times.append(ms_taken)
        answered += bool(out.strip())
    shutil.rmtree(home, ignore_errors=True)
    return percentiles(times) | {"runs": len(times), "context_added": answered}


# What the first recall after start must do once tools/list is answered, step by step, in a fresh
# process that has already imported what the server imports before tools/list.
FIRST_RECALL_STEPS = """
import json, sys, time
from rb_mcp import cli
from rb_mcp.server import app
from rb_mcp.config import Config
config = Config.from_env()
t = [time.perf_counter()]
from rb_mcp.loop.bank import Bank
t.append(time.perf_counter())
import onnxruntime, tokenizers
t.append(time.perf_counter())
bank = Bank(config)
bank.embedder.load()
t.append(time.perf_counter())
bank.store.warm_vectors()
t.append(time.perf_counter())
bank.embed_one(sys.argv[1])
t.append(time.perf_counter())
names = ["import the loop (numpy, store, rules)", "import onnxruntime", "open the bank, load the model",
         "load the vector index", "embed the real text"]
print(json.dumps({n: round((b - a) * 1000, 1) for n, a, b in zip(names, t, t[1:])}))
"""


def first_recall_steps(work: Path, cache: Path, runs: int = 5) -> dict[str, float]:
    """p50 ms of each step between tools/list and the first recall's answer (see FIRST_RECALL_STEPS)."""
    text = (real_queries(1) or queries_for(1))[0]
    env = rb_env(work, cache, RB_MCP_PRELOAD="0")
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", FIRST_RECALL_STEPS, text], env=env, capture_output=True,
                              text=True, timeout=300, check=True)  # fmt: skip
        for name, took in json.loads(done.stdout.strip().splitlines()[-1]).items():
            samples.setdefault(name, []).append(took)
    return {name: sorted(v)[len(v) // 2] for name, v in samples.items()}


# ---- the peer: mcp-memory-service --------------------------------------------------------------
PEER_LOADER = """
import asyncio, json, sys
from mcp_memory_service.models.memory import Memory
from mcp_memory_service.storage.sqlite_vec import SqliteVecMemoryStorage
from mcp_memory_service.utils.hashing import generate_content_hash

async def main(db, texts):
    storage = SqliteVecMemoryStorage(db)
    await storage.initialize()
    for start in range(0, len(texts), 256):
        batch = [Memory(content=t, content_hash=generate_content_hash(t)) for t in texts[start:start + 256]]
        results = await storage.store_batch(batch)
        bad = [m for ok, m in results if not ok]
        if bad:
            sys.exit("store_batch failed: " + bad[0])
    storage.close() if hasattr(storage, "close") and not asyncio.iscoroutinefunction(storage.close) else None

asyncio.run(main(sys.argv[1], json.load(open(sys.argv[2]))))
"""


def extension_python() -> str | None:
    """A Python whose sqlite3 can load extensions: the peer needs it for sqlite-vec."""
    for candidate in ("/usr/bin/python3.11", "/usr/bin/python3", shutil.which("python3") or ""):
        if candidate and Path(candidate).exists():
            probe = "import sqlite3; sqlite3.connect(':memory:').enable_load_extension(True)"
            if subprocess.run([candidate, "-c", probe], capture_output=True).returncode == 0:
                return candidate
    return None


def peer_home(root: Path) -> Path:
    """A HOME whose model cache holds the model rb-mcp ships: the peer would download it otherwise."""
    home = root / "home"
    target = home / ".cache/mcp_memory/onnx_models/all-MiniLM-L6-v2/onnx"
    target.mkdir(parents=True, exist_ok=True)
    sources = {"model.onnx": embed.onnx_path()} | {f: embed.bundled_dir() / f for f in embed.TOKENIZER_FILES}
    for name, src in sources.items():
        (target / name).unlink(missing_ok=True)
        (target / name).symlink_to(src)
    return home


def peer_setup(root: Path) -> str | None:
    """Install mcp-memory-service in its own venv (it pins mcp<2); returns why it cannot run, or None."""
    python = extension_python()
    if python is None:
        return "no Python here can load SQLite extensions, and its sqlite-vec backend needs that"
    venv = root / "venv"
    steps = [[python, "-m", "venv", str(venv)],
             [str(venv / "bin/pip"), "install", "-q", "mcp-memory-service", "onnxruntime", "tokenizers"]]  # fmt: skip
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode:
            return f"`{' '.join(step[:4])}` failed: {(done.stderr or done.stdout).strip()[-300:]}"
    return None


def peer_version(python: Path) -> str:
    code = "import importlib.metadata as m; print(m.version('mcp-memory-service'), m.version('mcp'))"
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout.strip()


def run_peer(cache: Path, corpus: dict[str, Any], queries: list[str], labels: list[str], spawns: int,
             setup: bool, n_calls: int) -> dict[str, Any]:  # fmt: skip
    root = cache / "peer"
    python = root / "venv/bin/python"
    if setup and not python.exists():
        root.mkdir(parents=True, exist_ok=True)
        say("installing mcp-memory-service into " + str(root / "venv"))
        reason = peer_setup(root)
        if reason:
            return {"ran": False, "reason": reason}
    if not python.exists():
        return {"ran": False, "reason": f"not installed; run with --peer-setup (a venv under {root})"}
    home = peer_home(root)
    out: dict[str, Any] = {
        "ran": True,
        "version (mcp-memory-service, mcp)": peer_version(python),
        "offline_note": "it downloads all-MiniLM-L6-v2 ONNX (onnx.tar.gz) on first use, which cannot work "
        "offline; its model cache is seeded with the int8 MiniLM that rb-mcp ships, and the run is offline "
        "(MCP_MEMORY_ONNX_ALLOW_DOWNLOAD=0, HF_HUB_OFFLINE=1)",
        "sizes": {},
    }
    for label in labels:
        n = SIZES[label]
        bank = root / f"peer-v{VERSION}-{n}.db"
        if not (root / f"{bank.name}.ready").exists():
            say(f"loading {n} memories into the peer (it embeds each one)")
            texts = root / "texts.json"
            texts.write_text(json.dumps(["\n".join(t) for t in corpus["items"][:n]]))
            bank.unlink(missing_ok=True)
            (root / "loader.py").write_text(PEER_LOADER)
            done = subprocess.run([str(python), str(root / "loader.py"), str(bank), str(texts)], capture_output=True,
                                  text=True, env=peer_env(home, bank))  # fmt: skip
            if done.returncode:
                out["sizes"][label] = {"error": done.stderr.strip()[-400:]}
                continue
            (root / f"{bank.name}.ready").write_text("ok\n")
        work = fresh_copy(bank, root / "work.db")
        out["sizes"][label] = asyncio.run(measure_peer(python, home, work, root, queries[:n_calls], spawns))
    return out


def peer_env(home: Path, db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCP_", "VIRTUAL_ENV"))}
    return env | {
        "HOME": str(home), "MCP_MEMORY_STORAGE_BACKEND": "sqlite_vec", "MCP_MEMORY_SQLITE_PATH": str(db),
        "MCP_MEMORY_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
        "MCP_MEMORY_ONNX_ALLOW_DOWNLOAD": "0", "MCP_MEMORY_USE_ONNX": "1",
    }  # fmt: skip


async def measure_peer(
    python: Path, home: Path, work: Path, root: Path, queries: list[str], spawns: int
) -> dict[str, Any]:
    # Its stderr goes to a file: the mcp 1.x server logs a validation error for the 2.x client's
    # discovery request (harmless: the client falls back to the classic handshake).
    command = ["/bin/sh", "-c", f'exec "{python}" -m mcp_memory_service.server 2>>"{root / "server.log"}"']
    search = [{"query": q, "limit": 3} for q in queries]

    async def first(client: Any) -> dict[str, Any]:
        return {"first_ms": (await timed_calls(client, "memory_search", search[:1]))[0]}

    async def main(client: Any) -> dict[str, Any]:
        out = await first(client)
        await timed_calls(client, "memory_search", search[1:6])
        out["recall_ms"] = percentiles(await timed_calls(client, "memory_search", search))
        rng = random.Random("record-peer")
        stores = [{"content": "\n".join(item_text(rng)) + f" (variant {i})"} for i in range(20)]
        out["record_ms"] = percentiles(await timed_calls(client, "memory_store", stores))
        return out

    return await spawn_series(command, peer_env(home, work), spawns, main, first)


# ---- report --------------------------------------------------------------------------------
def p(d: dict[str, Any] | None, key: str = "p50") -> float | None:
    return None if not d else d.get(key)


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def report(r: dict[str, Any]) -> list[list[Any]]:
    m = r["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM, {m['os']}, python {m['python']}, "
          f"sqlite {m['sqlite']}, sqlite-vec {m['sqlite_vec']}, numpy {m['numpy']}; load average "
          f"{r['load_average']['before'][0]:.1f} before, {r['load_average']['after'][0]:.1f} after")  # fmt: skip
    bare, sizes, peer = r["bare_server"], r["sizes"], r.get("peer", {})
    peer_sizes = peer.get("sizes", {}) if peer.get("ran") else {}
    rows = [["bare mcp server", p(bare["spawn_ms"]), p(bare["spawn_ms"], "p95"), 1.0, None, p(bare["call_ms"]),
             bare.get("rss_mb")]]  # fmt: skip
    for label, e in sizes.items():
        s = e["stdio"]
        rows.append([f"rb-mcp {label}", p(s["spawn_ms"]), p(s["spawn_ms"], "p95"), s["spawn_vs_bare"],
                     p(s["first_call_ms"]), p(s["recall_ms"]), s.get("rss_mb")])  # fmt: skip
    for label, e in peer_sizes.items():
        if "spawn_ms" in e:
            rows.append([f"mcp-memory-service {label}", p(e["spawn_ms"]), p(e["spawn_ms"], "p95"),
                         ratio(p(e["spawn_ms"]), p(bare["spawn_ms"])), p(e["first_call_ms"]), p(e["recall_ms"]), e.get("rss_mb")])  # fmt: skip
    print_table("Start-up over stdio (ms; x bare = p50 over the bare server's p50, spawned in turn with it)",
                ["server", "spawn->tools/list p50", "p95", "x bare", "first recall", "recall p50", "RSS MB"], rows, 1)  # fmt: skip
    runs = [(DEFAULT_MODEL, label, e["stdio"]) for label, e in sizes.items()] + [
        (model, label, e["stdio"]) for model, by in r.get("compare", {}).items() for label, e in by.items()]  # fmt: skip
    rows = [[model, label, p(s["spawn_ms"]), s["spawn_vs_bare"], p(s.get("first_recall_from_spawn_ms")),
             s.get("first_recall_vs_bare"), p(s["recall_ms"]), p(s["recall_ms"], "p95"), p(s.get("recall_real_ms")),
             p(s.get("recall_real_ms"), "p95"), s.get("rss_after_real_mb"), s.get("peak_rss_mb")]
            for model, label, s in runs]  # fmt: skip
    print_table("rb-mcp serve over stdio, models side by side (ms; x bare = over the bare server's spawn -> tools/list "
                "p50; first recall = spawn -> the first recall answered, a real task text; real = 50 SWE-bench Lite "
                "issue texts as the query; RSS MB right after those)",
                ["model", "items", "spawn p50", "x bare", "spawn->1st recall", "x bare", "recall p50", "p95",
                 "real p50", "real p95", "RSS after real", "peak RSS"], rows, 2)  # fmt: skip
    rows = []
    for label, e in sizes.items():
        i, s, pe = e["in_process"], e["stdio"], peer_sizes.get(label, {})
        rows.append([label, p(i["recall_ms"]), p(i["recall_ms"], "p95"), p(i["recall_ms"], "min"), p(s["recall_ms"]),
                     p(s["recall_ms"], "p95"), p(s["recall_ms"], "min"), ratio(p(s["recall_ms"]), p(bare["call_ms"])),
                     p(pe.get("recall_ms")), p(pe.get("recall_ms"), "p95"), ratio(p(s["recall_ms"]), p(pe.get("recall_ms"))),
                     p(i.get("recall_real_ms")), p(i.get("recall_real_ms"), "p95")])  # fmt: skip
    print_table("Recall latency (ms): rb-mcp in process and over stdio; peer = mcp-memory-service memory_search; "
                "real task = in process with 30 SWE-bench Lite issue texts as the query (hundreds of tokens)",
                ["items", "in-proc p50", "p95", "min", "stdio p50", "p95", "min", "x bare call", "peer p50", "peer p95",
                 "x peer", "real task p50", "p95"], rows, 1)  # fmt: skip
    rows = []
    for label, e in sizes.items():
        i, s, h = e["in_process"], e["stdio"], e.get("hook") or {}
        # Over stdio a real-text recall costs at least its embedding plus a short query's recall
        # without the short query's embedding.
        floor = None
        if i.get("embed_real_ms") and s.get("recall_ms"):
            floor = p(i["embed_real_ms"]) + p(s["recall_ms"]) - p(i["stages_ms"]["embed"])
        rows.append([label, p(i.get("embed_real_ms")), p(i.get("embed_real_ms"), "p95"), floor,
                     p(s.get("recall_real_ms")), p(s.get("recall_real_ms"), "p95"),
                     p(i.get("recall_real_keyword_ms")), p(i.get("recall_real_keyword_ms"), "p95"),
                     p(h), p(h, "p95"), h.get("context_added"), h.get("runs")])  # fmt: skip
    print_table("Real task texts (SWE-bench Lite issues): embedding one alone, the stdio recall and its floor "
                "(embed real + stdio recall of a short query - embed short), the keyword-only recall the prompt "
                "hook makes, in process, and the hook as Claude Code runs it (a cold `rb-mcp hook "
                "user-prompt-submit` process per prompt); ms",
                ["items", "embed p50", "p95", "stdio floor p50", "stdio p50", "p95", "keyword p50", "p95",
                 "hook p50", "hook p95", "context added", "of"], rows, 1)  # fmt: skip
    rows = []
    for label, e in sizes.items():
        st = e["in_process"]["stages_ms"]
        rows.append(
            [
                label,
                p(e["in_process"]["recall_ms"]),
                *(p(st[k]) for k in ("embed", "knn_task", "knn_item", "fts_task", "fts_item")),
                p(st["knn_task"], "p95") + p(st["knn_item"], "p95"),
            ]
        )
    print_table("Where a recall's time goes, in process (p50 ms; k=50 per list)",
                ["items", "recall", "embed query", "task vectors", "item vectors", "task keywords", "item keywords",
                 "vectors p95"], rows, 2)  # fmt: skip
    rows = []
    for label, e in sizes.items():
        x = e["in_process"]["search"]
        rows.append(
            [
                label,
                x["vectors"],
                p(x["numpy_exact_ms"]),
                p(x["numpy_exact_ms"], "min"),
                p(x["index_ms"]),
                p(x["index_ms"], "p95"),
                p(x["index_ms"], "min"),
                x["ratio_p50"],
                x["recall_at_10"],
            ]
        )
    print_table("Item vector search: rb-mcp index vs exact numpy cosine in memory (same vectors, project + global, k=50)",
                ["items", "vectors", "numpy p50", "min", "index p50", "p95", "min", "x numpy", "recall@10"], rows, 2)  # fmt: skip
    rows = []
    for label, e in sizes.items():
        pe = peer_sizes.get(label, {})
        rows.append([label, p(e["in_process"]["record_ms"]), p(e["in_process"]["record_ms"], "p95"), p(e["stdio"]["record_ms"]),
                     p(e["stdio"]["record_ms"], "p95"), p(pe.get("record_ms")), p(pe.get("record_ms"), "p95")])  # fmt: skip
    print_table("Record a finished task with 3 agent-written items (ms; peer = memory_store of one memory)",
                ["items", "in-proc p50", "p95", "stdio p50", "p95", "peer p50", "peer p95"], rows, 1)  # fmt: skip
    rows = []
    for label, e in sizes.items():
        a = e["in_process"].get("anchors")
        if a:
            rows.append([label, a["anchored_items"], p(a["recall_no_tree_ms"]), p(a["recall_with_tree_ms"]),
                         p(a["recall_with_tree_ms"], "p95"), p(a["checks_warm_ms"]), p(a["checks_warm_ms"], "p95"),
                         p(a["checks_cold_ms"]), p(a["checks_cold_ms"], "p95")])  # fmt: skip
    print_table("Anchors checked at recall, in process (ms; k=3; each item: 2 named files, 1 touched, 4 symbols in "
                "~16 KB modules; anchor step = read, parse and check the candidates' anchors; cold = every file re-read)",
                ["items", "anchored", "recall no tree p50", "with tree p50", "p95", "anchor step warm p50", "p95",
                 "cold p50", "p95"], rows, 2)  # fmt: skip
    rows = [[label, e["bank_file_mb"], p(e["in_process"]["store_open_ms"]), p(e["in_process"]["index_load_ms"]),
             e["in_process"]["index"]["item_vec"]["loaded_from"], e["in_process"]["index"]["item_vec"]["bytes"] / 2**20,
             e["stdio"].get("peak_rss_mb")] for label, e in sizes.items()]  # fmt: skip
    print_table("Opening a bank (ms)", ["items", "file MB", "Store.open p50", "index load p50", "index from",
                                        "index MB", "server peak RSS MB"], rows, 1)  # fmt: skip
    rows = [[f"preload={k}", v["spawn_ms"], v["imports_ms"], ", ".join(f"{n} {t:.0f}" for n, t in list(v["top"].items())[:6]),
             ", ".join(v["heavy_loaded"])] for k, v in r["import_profile"].items()]  # fmt: skip
    print_table("What `rb-mcp serve` has imported when tools/list returns (python -X importtime, ms)",
                ["run", "spawn", "imports", "largest top-level imports", "heavy modules loaded"], rows, 0)  # fmt: skip
    steps = r.get("first_recall_steps_ms") or {}
    if steps:
        bare_ms = p(bare["spawn_ms"]) or 0
        rows = [[name, took, took / bare_ms if bare_ms else None] for name, took in steps.items()]
        rows.append(["sum", sum(steps.values()), sum(steps.values()) / bare_ms if bare_ms else None])
        print_table("After tools/list, before the first recall answers: each step in a fresh process (p50 ms; "
                    "x bare = over the bare server's spawn -> tools/list)", ["step", "ms", "x bare"], rows, 2)  # fmt: skip
    if not peer.get("ran"):
        print(f"\npeer mcp-memory-service: not run: {peer.get('reason', 'skipped (--no-peer)')}")
    else:
        print(
            f"\npeer mcp-memory-service {peer['version (mcp-memory-service, mcp)']}: {peer['offline_note']}"
        )
    checks = target_rows(r)
    print_table(
        "Targets (min = the run's fastest sample)", ["target", "want", "measured", "min", "met"], checks, 3
    )
    return checks


def target_rows(r: dict[str, Any]) -> list[list[Any]]:
    """Each target with its measured value and, for latencies, the run's minimum (an idle-machine guess)."""
    sizes = r["sizes"]

    def at(label: str, *keys: str) -> Any:
        node: Any = sizes.get(label, {})
        for key in keys:
            node = node.get(key, {}) if isinstance(node, dict) else {}
        return node or None

    def pair(d: dict[str, float] | None, key: str) -> tuple[float | None, float | None]:
        return p(d, key), p(d, "min")

    got: dict[str, tuple[float | None, float | None]] = {
        "spawn -> tools/list vs bare": (max(e["stdio"]["spawn_vs_bare"] for e in sizes.values()) if sizes else None,
                                        max(p(e["stdio"]["spawn_ms"], "min") / p(e["stdio"]["bare_spawn_ms"], "min")
                                            for e in sizes.values()) if sizes else None),
        "spawn -> first recall vs bare tools/list": (
            max((e["stdio"]["first_recall_vs_bare"] for e in sizes.values()), default=None), None),
        "stdio recall p50 @10k, real tasks (ms)": pair(at("10k", "stdio", "recall_real_ms"), "p50"),
        "stdio recall p95 @10k, real tasks (ms)": pair(at("10k", "stdio", "recall_real_ms"), "p95"),
        "server RSS after 50 real recalls @10k (MB)": (at("10k", "stdio", "rss_after_real_mb"), None),
        "stdio recall p50 @10k (ms)": pair(at("10k", "stdio", "recall_ms"), "p50"),
        "stdio recall p50 @100k (ms)": pair(at("100k", "stdio", "recall_ms"), "p50"),
        "search vs numpy exact @100k (p50 ratio)": (at("100k", "in_process", "search", "ratio_p50"), None),
        "recall p95 @1m (ms, in process)": pair(at("1m", "in_process", "recall_ms"), "p95"),
        "stdio recall p95 @1m (ms)": pair(at("1m", "stdio", "recall_ms"), "p95"),
        "recall@10 vs exact @1m": (at("1m", "in_process", "search", "recall_at_10"), None),
        "prompt hook p95 @10k, cold process (ms)": pair(at("10k", "hook"), "p95"),
        "store open @1m (s)": tuple(x / 1000 if x is not None else None
                                    for x in pair(at("1m", "in_process", "store_open_ms"), "p95")),
    }  # fmt: skip
    rows = []
    for name, (op, want) in TARGETS.items():
        value, idle = got.get(name, (None, None))
        met = None if value is None else (value <= want if op == "<=" else value >= want)
        idle_met = None if idle is None else (idle <= want if op == "<=" else idle >= want)
        label = {None: "not run", True: "yes", False: "NO"}[met]
        if met is False and idle_met:
            label = "NO (min meets it)"
        rows.append([name, f"{op} {want}", value, idle, label])
    return rows


# ---- main ----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="rb-mcp latency and scale benchmark")
    parser.add_argument("--sizes", default="1k,10k,100k", help="comma list of 1k, 10k, 100k, 1m")
    parser.add_argument("--queries", type=int, default=100, help="timed recalls per size and path")
    parser.add_argument("--records", type=int, default=20, help="timed records per size and path")
    parser.add_argument("--spawns", type=int, default=5, help="server starts per server and size")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "rb-mcp-latency")
    parser.add_argument(
        "--peer-setup", action="store_true", help="install mcp-memory-service in a venv under --cache"
    )
    parser.add_argument("--no-peer", action="store_true", help="skip the peer server")
    parser.add_argument(
        "--peer-sizes",
        default="1k",
        help="bank sizes for the peer (it embeds every memory itself: 10k is slow)",
    )
    parser.add_argument("--build-only", action="store_true", help="build the cached banks and stop")
    parser.add_argument(
        "--hook-runs", type=int, default=20, help="cold prompt-hook processes per size (0 = none)"
    )
    parser.add_argument(
        "--compare",
        default=embed.LEGACY_MODEL,
        help="comma list of other models measured over stdio beside the default, at sizes up to 10k ('' = none)",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="also SQLite vs PostgreSQL side by side (benchmarks/pg_latency.py)",
    )
    parser.add_argument(
        "--json", type=Path, help="write results here instead of benchmarks/results/latency.json"
    )
    args = parser.parse_args(argv)
    labels = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    if bad := [s for s in labels if s not in SIZES]:
        parser.error(f"unknown size(s) {bad}; choose from {', '.join(SIZES)}")
    cache: Path = args.cache
    cache.mkdir(parents=True, exist_ok=True)
    started, load_before = time.perf_counter(), os.getloadavg()
    embedder = embed.FastEmbedder()
    embedder.load()
    corpus = embed_corpus(cache, embedder)
    banks = {label: build_bank(cache, SIZES[label], corpus) for label in labels}
    others = [m for m in args.compare.split(",") if m and m != DEFAULT_MODEL]
    other_banks = {}
    for model in others:
        corpus_m = embed_corpus(cache, embed.FastEmbedder(model))
        other_banks[model] = {
            lab: build_bank(cache, SIZES[lab], corpus_m) for lab in labels if SIZES[lab] <= REAL
        }
    prebuild_model(cache)
    if args.build_only:
        return 0
    queries = queries_for(args.queries)
    empty = open_store(cache / "empty.sqlite3")
    info = machine_info(empty) | {"ram_gb": ram_gb(), "numpy": np.__version__}
    empty.close()
    info["sqlite_vec"] = info.get("sqlite_vec") or "absent"
    results: dict[str, Any] = {
        "version": VERSION,
        "machine": info,
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    results["bare_server"] = asyncio.run(measure_bare(cache, args.spawns, args.queries))
    results["import_profile"] = {flag: asyncio.run(import_profile(cache, flag)) for flag in ("0", "1")}
    floor_bank = banks.get("10k") or next(iter(banks.values()))
    results["first_recall_steps_ms"] = first_recall_steps(
        fresh_copy(floor_bank, cache / "work.sqlite3"), cache
    )
    results["sizes"] = {}
    for label in labels:
        say(f"measuring {label}")
        work = fresh_copy(banks[label], cache / "work.sqlite3")
        entry: dict[str, Any] = {
            "items": SIZES[label],
            "bank_file_mb": round(banks[label].stat().st_size / 2**20, 1),
        }
        entry["in_process"] = measure_in_process(work, embedder, queries, args.records)
        work = fresh_copy(banks[label], cache / "work.sqlite3")
        entry["stdio"] = asyncio.run(measure_stdio(work, cache, queries, args.spawns, args.records))
        if args.hook_runs:
            entry["hook"] = measure_hook(
                fresh_copy(banks[label], cache / "work.sqlite3"), cache, args.hook_runs
            )
        results["sizes"][label] = entry
    results["compare"] = {}
    for model, by_label in other_banks.items():
        for label, bank_path in by_label.items():
            say(f"measuring {label} with {model}")
            work = fresh_copy(bank_path, cache / "work.sqlite3")
            results["compare"].setdefault(model, {})[label] = {"stdio": asyncio.run(
                measure_stdio(work, cache, queries, args.spawns, args.records, model))}  # fmt: skip
    if args.no_peer:
        results["peer"] = {"ran": False, "reason": "skipped (--no-peer)"}
    else:
        peer_labels = [lab for lab in args.peer_sizes.split(",") if lab in SIZES and SIZES[lab] <= REAL]
        results["peer"] = run_peer(
            cache, corpus, queries, peer_labels, args.spawns, args.peer_setup, min(args.queries, 50)
        )
    if args.postgres:
        import pg_latency

        results["postgres"] = pg_latency.run(labels, cache, args.queries, 10.0)
        pg_latency.show(results["postgres"])
    results["load_average"] = {"before": load_before, "after": os.getloadavg()}
    results["wall_s"] = round(time.perf_counter() - started, 1)
    results["targets"] = report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwritten {args.json} in {results['wall_s']} s")
    else:
        print(f"\nwritten {write_json('latency.json', results)} in {results['wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
