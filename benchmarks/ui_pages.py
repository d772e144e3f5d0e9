"""How fast the review page (`rb-mcp ui`) answers on a large bank: each page through the whole app
(the guard, the Bank calls, the templates), in process with Starlette's test client.

    python benchmarks/ui_pages.py                      # 10k items (the bank latency.py builds)
    python benchmarks/ui_pages.py --sizes 10k,100k --rounds 30

The banks are `latency.py`'s (built once, cached under --cache); each run works on a copy, first
logs --recalls real recalls and records an outcome for each (so the effect page and the inbox have
something to count), then times every page --rounds times. Side by side: the agent's own recall
(`Bank.recall`) on the same bank, the floor any page that previews a recall stands on.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import machine_info, print_machine, print_table, write_json  # noqa: E402
from latency import SIZES, build_bank, embed_corpus, fresh_copy, percentiles, queries_for  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from rb_mcp import embed  # noqa: E402
from rb_mcp.config import Config  # noqa: E402
from rb_mcp.loop.bank import Bank  # noqa: E402
from rb_mcp.ui.app import build_app  # noqa: E402
from rb_mcp.ui.security import Launch  # noqa: E402

PORT = 18799


def seed_recalls(bank: Bank, n: int, rng: random.Random) -> None:
    for task in queries_for(n):
        result = bank.recall(task)
        outcome = rng.choice(["success", "success", "failure"])
        bank.record(task=task, summary="benchmark", outcome=outcome, recall_id=result.recall_id, items=[])


def time_pages(bank: Bank, rounds: int) -> list[list]:
    launch = Launch.new("127.0.0.1", PORT)
    client = TestClient(build_app(bank, launch), base_url=f"http://127.0.0.1:{PORT}")
    client.cookies.set(launch.cookie, launch.token)
    item = bank.items(limit=1)[0].id
    task = queries_for(1)[0]
    pages = {
        "items list (newest 50)": "/",
        "items, full-text search": "/?q=retry+cache",
        "items, sorted by helped": "/?sort=helped&status=any",
        "item page (history, sources, recalls)": f"/items/{item}",
        "review inbox": "/inbox",
        "pending work": "/pending",
        "recall preview (what the agent gets)": f"/recall?task={task}",
        "effect (stats and 5 SVG charts)": "/effect",
    }
    rows = []
    for name, path in pages.items():
        assert client.get(path).status_code == 200, path
        samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            client.get(path)
            samples.append((time.perf_counter() - started) * 1000)
        p = percentiles(samples)
        rows.append([name, p["p50"], p["p95"]])
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        bank.recall(task)
        samples.append((time.perf_counter() - started) * 1000)
    p = percentiles(samples)
    rows.append(["(agent's recall, Bank.recall, for comparison)", p["p50"], p["p95"]])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="review page latency on large banks")
    parser.add_argument("--sizes", default="10k", help="comma list of 1k, 10k, 100k, 1m")
    parser.add_argument("--rounds", type=int, default=20, help="timed requests per page")
    parser.add_argument(
        "--recalls", type=int, default=300, help="recalls (with outcomes) logged before timing"
    )
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "rb-mcp-latency")
    args = parser.parse_args(argv)
    args.cache.mkdir(parents=True, exist_ok=True)
    embedder = embed.FastEmbedder()
    corpus = embed_corpus(args.cache, embedder)
    results = {}
    with tempfile.TemporaryDirectory(prefix="rb-mcp-ui-bench-") as work_dir:
        for label in args.sizes.split(","):
            work = fresh_copy(build_bank(args.cache, SIZES[label], corpus), Path(work_dir) / "work.sqlite3")
            with Bank(Config(bank=work, project=None, preload=False), embedder=embedder) as bank:
                bank.default_project = None
                seed_recalls(bank, args.recalls, random.Random(label))
                rows = time_pages(bank, args.rounds)
                info = machine_info(bank.store)
            print_machine(info)
            print_table(f"review page at {label} items ({args.recalls} recalls logged), ms", ["page", "p50", "p95"],
                        rows, digits=1)  # fmt: skip
            results[label] = {
                "machine": info,
                "pages": {r[0]: {"p50_ms": r[1], "p95_ms": r[2]} for r in rows},
            }
    write_json("ui_pages.json", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
