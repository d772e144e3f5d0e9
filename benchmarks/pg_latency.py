"""SQLite and PostgreSQL side by side: recall latency and throughput with 16 concurrent clients.

    python benchmarks/latency.py --postgres --sizes 10k,100k     # after the SQLite measurements
    python benchmarks/pg_latency.py --sizes 10k,100k              # this part alone

Each size's cached SQLite bank (built by latency.py) is copied into a fresh PostgreSQL database
with `rb-mcp copy` (vectors reused), then both banks answer the same queries in one run: recall
p50/p95 in process (text -> model -> hybrid recall, recall logged as in real use), and recalls per
second with 16 client processes at once, each with its own model and bank handle (its own
connection; its own pool on PostgreSQL), as 16 agents on one team bank would. The server is `pgserver` (PostgreSQL 16 +
pgvector, started here) unless RB_MCP_BENCH_PG_URL names one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import latency  # noqa: E402
from _common import machine_info, print_machine, print_table, write_json  # noqa: E402

from rb_mcp import embed  # noqa: E402
from rb_mcp.config import Config  # noqa: E402
from rb_mcp.loop.bank import Bank  # noqa: E402
from rb_mcp.store import open_store  # noqa: E402
from rb_mcp.store.copy import copy_bank  # noqa: E402

CLIENTS = 16


def start_server(cache: Path) -> tuple[str, Any]:
    url = os.environ.get("RB_MCP_BENCH_PG_URL")
    if url:
        return url, None
    import pgserver

    server = pgserver.get_server(cache / "pgdata", cleanup_mode="stop")
    return server.get_uri(), server


def pg_bank(base: str, label: str, sqlite_bank: Path) -> tuple[str, float]:
    """A PostgreSQL copy of the cached SQLite bank (built once; reused while it is complete)."""
    import psycopg

    name = f"rb_bench_{latency.VERSION}_{label}"
    url = with_database_of(base, name)
    with psycopg.connect(base, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if exists:
            with psycopg.connect(url) as c:
                ready = c.execute("select to_regclass('bench_ready')").fetchone()[0]
            if ready:
                return url, 0.0
            conn.execute(f"drop database {name} with (force)")
        conn.execute(f"create database {name}")
    started = time.perf_counter()
    src, dst = open_store(sqlite_bank), open_store(url)
    try:
        copy_bank(src, dst)
        with dst.transaction() as db:
            db.execute("create table bench_ready (built_s double precision)")
            db.execute("insert into bench_ready values (?)", (time.perf_counter() - started,))
    finally:
        src.close()
        dst.close()
    return url, time.perf_counter() - started


def recall_latency(target: Any, embedder: embed.FastEmbedder, queries: list[str]) -> dict[str, float]:
    with Bank(Config(bank=target, project=None, preload=False), embedder=embedder) as bank:
        bank.default_project = None
        for q in queries[:5]:
            bank.recall(q, latency.PROJECT)
        return latency.percentiles(
            [latency.timed(lambda q=q: bank.recall(q, latency.PROJECT)) for q in queries]
        )


def _client(target: Any, queries: list[str], offset: int, ready: Any, go: Any, until: Any, out: Any) -> None:
    """One client process: its own model, its own bank handle (connection / pool), recall in a loop."""
    embedder = embed.FastEmbedder()
    done = errors = 0
    with Bank(Config(bank=target, project=None, preload=False), embedder=embedder) as bank:
        bank.default_project = None
        bank.recall(queries[offset % len(queries)], latency.PROJECT)  # model, index and pool warm
        ready.release()
        go.wait()
        i = offset
        while time.time() < until.value:
            try:
                bank.recall(queries[i % len(queries)], latency.PROJECT)
                done += 1
            except Exception:  # counted, not fatal: the table says how many failed
                errors += 1
            i += CLIENTS
    out.put((done, errors))


def throughput(target: Any, queries: list[str], seconds: float) -> dict[str, Any]:
    """Recalls per second from CLIENTS processes at once (16 agents on one team bank), each with its
    own model and bank handle; counted over the same `seconds` for all."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    ready, go, until, out = ctx.Semaphore(0), ctx.Event(), ctx.Value("d", 0.0), ctx.Queue()
    procs = [
        ctx.Process(target=_client, args=(target, queries, n, ready, go, until, out), daemon=True)
        for n in range(CLIENTS)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        if not ready.acquire(timeout=600):
            raise RuntimeError("a client process did not start within 10 minutes")
    until.value = time.time() + seconds
    go.set()
    results = [out.get(timeout=seconds + 600) for _ in procs]
    for proc in procs:
        proc.join()
    done = sum(d for d, _ in results)
    return {
        "recalls_per_s": round(done / seconds, 1),
        "recalls": done,
        "errors": sum(e for _, e in results),
        "clients": "processes",
    }


def run(labels: list[str], cache: Path, n_queries: int, seconds: float) -> dict[str, Any]:
    embedder = embed.FastEmbedder()
    embedder.load()
    corpus = latency.embed_corpus(cache, embedder)
    queries = latency.queries_for(n_queries)
    base, server = start_server(cache)
    empty = open_store(cache / "empty.sqlite3")  # the SQLite (and sqlite-vec) the banks really use
    out: dict[str, Any] = {"clients": CLIENTS, "sizes": {}, "machine": machine_info(empty)}
    empty.close()
    try:
        for label in labels:
            sqlite_bank = latency.build_bank(cache, latency.SIZES[label], corpus)
            latency.say(f"postgres copy of {label}")
            url, built = pg_bank(base, label, sqlite_bank)
            work = latency.fresh_copy(sqlite_bank, cache / "work.sqlite3")
            entry: dict[str, Any] = {"pg_copy_s": round(built, 1)}
            pg = open_store(url)
            entry["postgres_server"] = pg.server_info()
            pg.close()
            for name, target in (("sqlite", work), ("postgres", url)):
                latency.say(f"measuring {label} on {name}")
                entry[name] = {
                    "recall_ms": recall_latency(target, embedder, queries),
                    "throughput": throughput(target, queries, seconds),
                }
            out["sizes"][label] = entry
    finally:
        if server is not None:
            server.cleanup()
    return out


def with_database_of(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def table(results: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for label, entry in results["sizes"].items():
        s, p = entry["sqlite"], entry["postgres"]
        for key, name in (("p50", "recall p50 (ms)"), ("p95", "recall p95 (ms)")):
            a, b = s["recall_ms"][key], p["recall_ms"][key]
            rows.append([label, name, round(a, 1), round(b, 1), round(b / a, 2) if a else None])
        a, b = s["throughput"]["recalls_per_s"], p["throughput"]["recalls_per_s"]
        rows.append([label, f"recalls/s, {CLIENTS} clients", a, b, round(b / a, 2) if a else None])
    return rows


def show(results: dict[str, Any]) -> None:
    print_machine(results["machine"])
    print_table(
        f"SQLite vs PostgreSQL (same run, same queries; throughput with {CLIENTS} clients)",
        ["size", "measure", "SQLite", "PostgreSQL", "PG / SQLite"],
        table(results),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10k,100k")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each throughput run")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "rb-mcp-latency")
    args = parser.parse_args(argv)
    labels = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    args.cache.mkdir(parents=True, exist_ok=True)
    results = run(labels, args.cache, args.queries, args.seconds)
    show(results)
    print(f"\nwritten {write_json('pg_latency.json', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
