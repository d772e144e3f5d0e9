"""Helpers shared by the benchmark scripts: the machine they ran on, tables, timings, JSON results.

Benchmarks print their numbers together with the machine (CPU, cores, Python, SQLite), so a table
read later still says where it came from; the same facts go into the JSON result file.
"""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"


def shared_eval(name: str) -> Path:
    """A file of the evaluation data in `shared/eval/`, beside the checkout (or beside a worktree's parent)."""
    root = Path(__file__).resolve().parent.parent
    for base in (root.parent, root.parent.parent):
        if (base / "shared" / "eval" / name).is_file():
            return base / "shared" / "eval" / name
    return root.parent / "shared" / "eval" / name


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(store: Any | None = None) -> dict[str, Any]:
    """CPU model, cores, OS, Python and the SQLite (and sqlite-vec) that the bank really uses."""
    sqlite_version = sqlite3.sqlite_version
    vec_version = None
    if store is not None:
        sqlite_version = store.one("select sqlite_version()")[0]
        vec_version = getattr(store, "vec_version", None)
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite_version,
        "sqlite_vec": vec_version,
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def print_machine(info: dict[str, Any]) -> None:
    print(
        f"machine: {info['cpu']}, {info['cores']} cores, {info['os']}, python {info['python']}, "
        f"sqlite {info['sqlite']}, sqlite-vec {info.get('sqlite_vec') or 'absent'}, "
        f"load average {info.get('load_average')}"
    )


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = 3) -> None:
    """A plain-text table: first column left-aligned, the numbers right-aligned."""
    cells = [[fmt(v, digits) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths)))

    print(f"\n{title}")
    print(line(list(headers)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print(line(row))


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50, p95 and mean of a list of durations in milliseconds."""
    if not samples_ms:
        return {"p50": 0.0, "p95": 0.0, "mean": 0.0}
    ordered = sorted(samples_ms)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": statistics.median(ordered), "p95": p95, "mean": statistics.fmean(ordered)}


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """`with stopwatch() as t: ...` then t[0] is the elapsed wall time in milliseconds."""
    out: list[float] = []
    start = time.perf_counter()
    try:
        yield out
    finally:
        out.append((time.perf_counter() - start) * 1000)


def write_json(name: str, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / name
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path
