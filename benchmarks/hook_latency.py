"""How long a Claude Code hook of rb-mcp takes, from a cold process, at 10k items.

    python benchmarks/hook_latency.py                    # 30 runs per variant, 10k items
    python benchmarks/hook_latency.py --runs 50 --launcher --uv

Each run starts a new process, as Claude Code does for every hook, feeds it the documented
UserPromptSubmit payload for a task prompt (a new session id each time, so nothing is skipped as
already injected) and waits for its answer. Variants, run interleaved so load hits them alike:

    keyword   RB_MCP_HOOK_RECALL=keyword (the default): recall by the keyword lanes only
    hybrid    RB_MCP_HOOK_RECALL=hybrid: fastembed imported and the model loaded in the process
    session-start, stop, session-end   the other hooks, on a short transcript with one edit (the
              Stop hook opens no bank; SessionEnd stores a pending trajectory: it loads the model)
    python    `python -c pass`, the floor of any Python process

The hook runs as `rb-mcp hook user-prompt-submit` when the CLI has that subcommand, else as the
same import and dispatch in `python -c` (what `rb_mcp.cli.main` will do). With --launcher the
plugin's launcher (plugin/scripts/rb-mcp) is timed against a plain `rb-mcp --version`, and with
--uv `uvx --from <wheel> rb-mcp --version`, the way the plugin does not start rb-mcp. The 10k
bank is the one benchmarks/latency.py builds (cached under --cache). Besides time: how good the
keyword-only recall is next to the hybrid one, on real tasks with recall_quality.py's protocol.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).parent))
import latency  # noqa: E402
import recall_quality as rq  # noqa: E402
from _common import machine_info, percentiles, print_machine, print_table, write_json  # noqa: E402
from latency import PROJECT, build_bank, embed_corpus, fresh_copy, queries_for, real_queries  # noqa: E402

from rb_mcp import embed  # noqa: E402
from rb_mcp.config import Config  # noqa: E402
from rb_mcp.loop.bank import Bank  # noqa: E402
from rb_mcp.store import open_store  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 1000.0
FOREIGN = Path(__file__).parent / "data" / "shop-admin-tasks.jsonl"
SHIM = (
    "import sys; from rb_mcp import cli; cli.one_blas_thread(); cli.build_parser(); "
    "from rb_mcp.hooks.cli import run; sys.exit(run(sys.argv[1], sys.stdin, sys.stdout))"
)


def tool(name: str) -> str:
    """A console script beside this interpreter (not a pyenv shim, which adds a shell per start)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name) or name


def hook_command() -> tuple[list[str], str]:
    """`rb-mcp hook` once the CLI has it, else its stand-in: the same imports and dispatch."""
    rb_mcp = tool("rb-mcp")
    if subprocess.run([rb_mcp, "hook", "--help"], capture_output=True).returncode == 0:
        return [rb_mcp, "hook"], "rb-mcp hook"
    return [sys.executable, "-c", SHIM], "python -c <rb_mcp.cli + rb_mcp.hooks.cli.run>"


def timed(command: list[str], stdin: str, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, env=env, timeout=120)
    elapsed = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        raise SystemExit(f"{command} failed: {done.stderr[-2000:]}")
    return elapsed, done.stdout


def prompt_payload(prompt: str, cwd: Path, transcript: Path) -> str:
    return json.dumps({
        "session_id": str(uuid.uuid4()), "transcript_path": str(transcript), "cwd": str(cwd),
        "permission_mode": "default", "hook_event_name": "UserPromptSubmit", "prompt": prompt,
    })  # fmt: skip


def keyword_quality(tasks_path: Path, embedder: embed.FastEmbedder) -> dict[str, Any] | None:
    """recall_quality.py's protocol on real tasks: hybrid recall vs the hook's keyword-only recall.

    Both read the same bank (every SWE-bench Lite task recorded as a trajectory of its repository);
    each task's problem statement is the query, its own trajectory left out. Besides nDCG@5, hit@5
    and MRR, the k=3 row says what a hook with the default k puts in front of the agent.
    """
    if not tasks_path.is_file():
        return None
    tasks = rq.load_tasks(tasks_path)
    best = rq.other_grades(tasks)
    rankings: dict[str, list[list[int]]] = {"hybrid": [], "keyword": []}
    top3: dict[str, list[list[int]]] = {"hybrid": [], "keyword": []}
    with rq.throwaway_bank() as target:
        config = Config(bank=target, project=None, preload=False)
        with Bank(config, embedder=rq.CachedEmbedder(embedder)) as hybrid:
            hybrid.default_project = None
            row_of = rq._record_all(hybrid, tasks, rq.Run(tasks=tasks))
            tid_of = {i: t for t, i in row_of.items()}
            for i, task in enumerate(tasks):
                for name, bank in (("hybrid", hybrid), ("keyword", hybrid)):
                    scope, own, vectors = bank.scope_of(task.repo), [tid_of[i]], name == "hybrid"
                    with _quiet_recall():
                        deep = bank.retriever.recall(
                            task.problem, scope, rq.DEPTH, exclude_trajectories=own, log_event=False,
                            vectors=vectors,
                        )  # fmt: skip
                        short = bank.retriever.recall(
                            task.problem, scope, 3, exclude_trajectories=own, log_event=False, vectors=vectors
                        )
                    rankings[name].append(rq._sources(deep, row_of))
                    top3[name].append(rq._sources(short, row_of)[:3])
            # Prompts foreign to every project of the bank (web-shop admin questions), each asked in
            # one of the repositories: whatever a hook would add there is noise.
            repos = sorted({t.repo for t in tasks})
            foreign = [
                json.loads(line)["problem_statement"] for line in FOREIGN.read_text().splitlines() if line
            ]
            noise = dict.fromkeys(rankings, 0)
            for i, prompt in enumerate(foreign):
                for name in rankings:
                    with _quiet_recall():
                        got = hybrid.retriever.recall(
                            prompt, hybrid.scope_of(repos[i % len(repos)]), 3, log_event=False, vectors=name == "hybrid"
                        )  # fmt: skip
                    noise[name] += bool(got.items or got.episodes)
    return {
        name: rq.quality(tasks, rankings[name], best)
        | {"k3": rq.sweep_row(tasks, top3[name], best, 3), "foreign_with_context": noise[name]}
        for name in rankings
    } | {"tasks": len(tasks), "foreign_prompts": len(foreign)}


@contextlib.contextmanager
def _quiet_recall() -> Iterator[None]:
    recall_log = logging.getLogger("rb_mcp.recall")
    level = recall_log.level
    recall_log.setLevel(logging.ERROR)  # "recall without vectors" is the point here, not a fault
    try:
        yield
    finally:
        recall_log.setLevel(level)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="cold-process latency of rb-mcp's Claude Code hooks")
    parser.add_argument("--runs", type=int, default=30, help="timed processes per variant")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "rb-mcp-latency")
    parser.add_argument(
        "--launcher", action="store_true", help="also time the plugin's launcher (installs with uv)"
    )
    parser.add_argument("--uv", action="store_true", help="also time uvx starting rb-mcp from a wheel")
    parser.add_argument(
        "--tasks", type=Path, default=rq.DEFAULT_TASKS, help="real tasks: prompts, and the quality comparison"
    )
    parser.add_argument("--no-quality", action="store_true", help="skip the quality comparison (minutes)")
    parser.add_argument(
        "--json", type=Path, help="write results here instead of benchmarks/results/hook_latency.json"
    )
    args = parser.parse_args(argv)
    cache: Path = args.cache
    cache.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    embedder = embed.FastEmbedder()
    embedder.load()
    bank = fresh_copy(build_bank(cache, 10_000, embed_corpus(cache, embedder)), cache / "hooks-10k.sqlite3")
    work = Path(tempfile.mkdtemp(prefix="rb-mcp-hooks-"))
    transcript = work / "transcript.jsonl"
    edit = {"type": "tool_use", "id": "toolu_1", "name": "Edit", "input": {"file_path": "a.py"}}
    transcript.write_text(
        json.dumps({"type": "user", "message": {"role": "user", "content": "Fix the cache key bug"}}) + "\n"
        + json.dumps({"type": "assistant", "message": {"role": "assistant", "content": [edit]}}) + "\n"
    )  # fmt: skip
    env = {**os.environ, "RB_MCP_BANK": str(bank), "RB_MCP_PROJECT": PROJECT, "XDG_STATE_HOME": str(work / "state"),
           "RB_MCP_HOOK_STOP": "ask", "XDG_CACHE_HOME": str(cache / "xdg"), "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}  # fmt: skip
    command, how = hook_command()
    latency.REAL_TASKS = args.tasks
    synthetic, real = queries_for(args.runs), real_queries(args.runs)
    # Short task texts and real issue texts in turn: the model's cost grows with the prompt's tokens.
    queries = [q for pair in zip(synthetic, real) for q in pair][: args.runs] if real else synthetic
    variants: dict[str, list[float]] = {
        "keyword": [], "hybrid": [], "session-start": [], "stop": [], "session-end": [], "python": []
    }  # fmt: skip
    injected = {"keyword": 0, "hybrid": 0}
    for i in range(args.runs):
        prompt = queries[i % len(queries)]
        for mode in ("keyword", "hybrid"):
            ms, out = timed([*command, "user-prompt-submit"], prompt_payload(prompt, work, transcript),
                            {**env, "RB_MCP_HOOK_RECALL": mode})  # fmt: skip
            variants[mode].append(ms)
            injected[mode] += bool(out.strip())
        for name, event, extra in (("session-start", "SessionStart", {"source": "startup"}),
                                   ("stop", "Stop", {"stop_hook_active": False}),
                                   ("session-end", "SessionEnd", {"reason": "other"})):  # fmt: skip
            body = json.dumps({"session_id": str(uuid.uuid4()), "transcript_path": str(transcript),
                               "cwd": str(work), "hook_event_name": event, **extra})  # fmt: skip
            variants[name].append(timed([*command, name], body, env)[0])
        variants["python"].append(timed([sys.executable, "-c", "pass"], "", env)[0])
    others: dict[str, list[float]] = {}
    if args.launcher:
        others.update(launcher_times(work, args.runs))
    if args.uv:
        others.update(uvx_times(work, args.runs))
    quality = None if args.no_quality else keyword_quality(args.tasks, embedder)
    store = open_store(bank)
    info = machine_info(store) | {"load_average_before": [round(x, 2) for x in load_before]}
    store.close()
    print_machine(info)
    print(f"hook command: {how}; bank: 10k items ({PROJECT}), {args.runs} cold processes per variant")
    rows, results = [], {}
    for name, samples in {**variants, **others}.items():
        p = percentiles(samples) | {"min": min(samples)}  # on a loaded machine, min is the idle guess
        results[name] = p | {"runs": len(samples)}
        verdict = ""
        if name in injected:
            verdict = "met" if p["p95"] <= TARGET_P95_MS else "MISSED"
            results[name]["injected_share"] = injected[name] / args.runs
        rows.append([name, p["min"], p["p50"], p["p95"], p["mean"], verdict])
    print_table(
        "cold hook processes (ms)",
        ["variant", "min", "p50", "p95", "mean", f"p95 <= {TARGET_P95_MS:.0f}"],
        rows,
        0,
    )
    print(
        f"\nkeyword / hybrid p50: {results['keyword']['p50'] / results['hybrid']['p50']:.2f}x; prompts with "
        f"context added: keyword {injected['keyword']}/{args.runs}, hybrid {injected['hybrid']}/{args.runs}"
    )
    if quality:
        rows = [
            [name, q["ndcg@5"], q["hit@5"], q["mrr"], q["k3"]["any_grade>=2@k"], q["k3"]["mean_grade"], q["k3"]["returned"],
             f"{q['foreign_with_context']}/{quality['foreign_prompts']}"]
            for name, q in quality.items() if isinstance(q, dict)
        ]  # fmt: skip
        print_table(
            f"recall quality on {quality['tasks']} real tasks (recall_quality.py protocol); foreign = web-shop "
            "questions asked in the bank's repositories that got anything added",
            ["recall", "nDCG@5", "hit@5", "MRR", "top 3 has grade>=2", "top 3 mean grade", "top 3 returned",
             "foreign with context"], rows,
        )  # fmt: skip
    print(f"load average after: {[round(x, 2) for x in os.getloadavg()]}")
    out = write_json(args.json.name if args.json else "hook_latency.json",
                     {"machine": info, "command": how, "results": results, "quality": quality})  # fmt: skip
    print(f"results: {out}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


def launcher_times(work: Path, runs: int) -> dict[str, list[float]]:
    """The plugin's launcher (installed once with uv) against the plain console script, on --version."""
    env = {**os.environ, "CLAUDE_PLUGIN_DATA": str(work / "plugin-data")}
    launcher = [str(ROOT / "plugin" / "scripts" / "rb-mcp"), "--version"]
    started = time.perf_counter()
    timed(launcher, "", env)  # the first start installs
    print(f"launcher first start (uv tool install): {time.perf_counter() - started:.1f} s", file=sys.stderr)
    plain = [str(work / "plugin-data" / "bin" / "rb-mcp"), "--version"]
    out: dict[str, list[float]] = {"launcher --version": [], "installed rb-mcp --version": []}
    for _ in range(runs):
        out["launcher --version"].append(timed(launcher, "", env)[0])
        out["installed rb-mcp --version"].append(timed(plain, "", env)[0])
    return out


def uvx_times(work: Path, runs: int) -> dict[str, list[float]]:
    """uvx starting rb-mcp from a wheel (online it re-checks every dependency on the index)."""
    dist = work / "dist"
    uv, uvx = tool("uv"), tool("uvx")
    subprocess.run([uv, "build", "--wheel", "-q", "-o", str(dist), str(ROOT)], check=True)
    wheel = str(next(dist.glob("*.whl")))
    env = {**os.environ, "UV_TOOL_DIR": str(work / "uv-tools")}
    timed([uvx, "--from", wheel, "rb-mcp", "--version"], "", env)  # the first start installs
    out: dict[str, list[float]] = {"uvx --version": [], "uvx --offline --version": []}
    for _ in range(runs):
        out["uvx --version"].append(timed([uvx, "--from", wheel, "rb-mcp", "--version"], "", env)[0])
        out["uvx --offline --version"].append(
            timed([uvx, "--offline", "--from", wheel, "rb-mcp", "--version"], "", env)[0]
        )
    return out


if __name__ == "__main__":
    sys.exit(main())
