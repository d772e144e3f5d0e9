"""Choosing the dedupe threshold (RB_MCP_DEDUPE_THRESHOLD) on labelled data.

`store_items` merges a new memory item into the nearest active item of the same scope when the cosine
of their embeddings (of `item_text`: title, description, content) is at least `dedupe_threshold`, and
across kinds only at >= 0.97. This script measures, with the real offline model, how that cosine
separates true duplicates from items that are merely about the same thing, and picks the threshold.

Data: benchmarks/data/item_pairs.jsonl, written by the rb-mcp developers for this benchmark (not taken
from any user bank or public dataset). Each line is a pair of memory items of the kind coding agents
store, over 35 topics (testing, flaky tests, migrations, concurrency, packaging, CI, HTTP, security,
performance, git, refactoring, types, dependencies, frontend, databases, ...), labelled
- duplicate: the same lesson as another agent would write it on another day (other wording, order,
  level of detail, often another `kind`: a pitfall from a failure vs a strategy from a success);
- related: same area, different lesson; these must not merge, since a merge keeps one lesson's text;
- unrelated: different areas, some sharing surface words (cache, lock, key, timeout).
The labels were fixed before any similarity was computed and were not changed after seeing scores.

Protocol:
1. Embed both items of every pair with the model `store_items` uses; cosine = dot of unit rows.
2. Print the cosine distribution per label (min / p10 / median / p90 / max).
3. Sweep thresholds 0.50..0.98 (step 0.01). Positives are duplicates; a "merge" is cosine >= t.
   Report precision, recall, F1 and the false-merge rate on related and on unrelated pairs. The grid
   starts below 0.70 because with this model reworded duplicates sit around 0.6-0.8: a grid starting
   at 0.70 made its floor the answer.
4. Rule: highest recall subject to precision >= 0.97, read as the lowest t from which precision stays
   >= 0.97 at every higher t of the grid (so one lucky grid point cannot pick it). Why favour precision:
   a wrong merge loses a lesson (one item's wording replaces the other's), a missed merge only leaves
   a twin that recall ranks next to its sibling and `forget` can clean later.
5. Guard against overfitting: grouped 5-fold cross-validation, folds by topic so a threshold is always
   tested on areas it was not chosen on (pairs that share an item share a topic, so no item is in both
   halves), repeated over 20 shuffles. Reports the mean/std of the chosen threshold and the pooled
   held-out precision, recall and related false-merge rate.
6. The kind gate: at the chosen t, compare "cosine alone" with the rule in `_nearest` (same kind, or
   any kind at >= 0.97), split by same-kind and cross-kind pairs.

Precision depends on the mix of labels in this file; the false-merge rate on related pairs does not,
and is the number to read for what a bank full of neighbouring lessons will see.

    python benchmarks/dedupe_threshold.py [--pairs FILE] [--min-precision 0.97] [--folds 5] [--repeats 20]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine_info, print_machine, print_table, write_json  # noqa: E402

from rb_mcp.embed import FastEmbedder  # noqa: E402
from rb_mcp.loop.items import item_text  # noqa: E402

DEFAULT_PAIRS = Path(__file__).parent / "data" / "item_pairs.jsonl"
LABELS = ("duplicate", "related", "unrelated")
THRESHOLDS = tuple(round(0.50 + 0.01 * i, 2) for i in range(49))  # 0.50 .. 0.98
CROSS_KIND_BAR = 0.97  # the any-kind bar hard-coded in rb_mcp.items._nearest
CURRENT_DEFAULT = 0.88  # config default before this benchmark


@dataclass(frozen=True)
class Pair:
    a: dict[str, str]
    b: dict[str, str]
    label: str
    topic: str
    note: str

    @property
    def same_kind(self) -> bool:
        return self.a.get("kind") == self.b.get("kind")


@dataclass(frozen=True)
class Scores:
    """One row of the sweep: what merging at `threshold` does to the labelled pairs."""

    threshold: float
    merges: int
    tp: int
    fp: int
    fn: int
    related_merged: int
    related_total: int
    unrelated_merged: int
    unrelated_total: int

    @property
    def precision(self) -> float | None:
        # No merge at all makes no false merge: None, and the rule treats it as meeting any bar.
        return self.tp / self.merges if self.merges else None

    @property
    def recall(self) -> float:
        positives = self.tp + self.fn
        return self.tp / positives if positives else 0.0

    @property
    def f1(self) -> float:
        p = self.precision or 0.0
        r = self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def related_fmr(self) -> float:
        return self.related_merged / self.related_total if self.related_total else 0.0

    @property
    def unrelated_fmr(self) -> float:
        return self.unrelated_merged / self.unrelated_total if self.unrelated_total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "merges": self.merges,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "related_false_merge_rate": self.related_fmr,
            "unrelated_false_merge_rate": self.unrelated_fmr,
        }


def load_pairs(path: Path) -> list[Pair]:
    pairs = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            raw = json.loads(line)
            if raw["label"] not in LABELS:
                raise ValueError(f"{path}:{n}: unknown label {raw['label']!r}")
            pairs.append(Pair(raw["a"], raw["b"], raw["label"], raw.get("topic", "?"), raw.get("note", "")))
    return pairs


def text_of(item: dict[str, str]) -> str:
    # Exactly what store_items embeds, so the scores are the ones the bank compares to the threshold.
    return item_text(item["title"], item["description"], item["content"])


def cosines(pairs: Sequence[Pair], embedder: FastEmbedder) -> np.ndarray:
    """Cosine of every pair; each distinct text is embedded once (items recur across pairs)."""
    texts = sorted({text_of(p.a) for p in pairs} | {text_of(p.b) for p in pairs})
    index = {t: i for i, t in enumerate(texts)}
    vecs = embedder.embed(texts)
    a = vecs[[index[text_of(p.a)] for p in pairs]]
    b = vecs[[index[text_of(p.b)] for p in pairs]]
    return np.einsum("ij,ij->i", a, b)


def score(cos: np.ndarray, labels: np.ndarray, threshold: float, gate: np.ndarray | None = None) -> Scores:
    """Counts at one threshold; `gate` (bool per pair) further restricts which pairs may merge."""
    merged = cos >= threshold - 1e-9  # the grid is decimal, the cosines float32
    if gate is not None:
        merged &= gate
    dup = labels == "duplicate"
    rel = labels == "related"
    unr = labels == "unrelated"
    return Scores(
        threshold=threshold,
        merges=int(merged.sum()),
        tp=int((merged & dup).sum()),
        fp=int((merged & ~dup).sum()),
        fn=int((~merged & dup).sum()),
        related_merged=int((merged & rel).sum()),
        related_total=int(rel.sum()),
        unrelated_merged=int((merged & unr).sum()),
        unrelated_total=int(unr.sum()),
    )


def sweep(cos: np.ndarray, labels: np.ndarray, gate: np.ndarray | None = None) -> list[Scores]:
    return [score(cos, labels, t, gate) for t in THRESHOLDS]


def choose(rows: Sequence[Scores], min_precision: float) -> tuple[float, str]:
    """The lowest threshold from which precision stays >= min_precision at every higher grid point.

    Recall only falls as the threshold rises, so the lowest qualifying threshold has the highest
    recall. Requiring every higher point to qualify too keeps a noisy dip-and-recover in precision
    from choosing a threshold whose neighbours above it fail the bar.
    """
    chosen = None
    for row in sorted(rows, key=lambda r: r.threshold, reverse=True):
        p = row.precision
        if p is not None and p < min_precision:
            break
        chosen = row.threshold
    if chosen is not None:
        return chosen, f"lowest t with precision >= {min_precision} at t and above"
    # No threshold meets the bar even at the top of the grid: be as precise as possible.
    best = max(rows, key=lambda r: (r.precision or 0.0, r.recall))
    return best.threshold, f"no t reaches precision {min_precision}; highest precision"


def group_folds(topics: Sequence[str], k: int, rng: random.Random) -> list[set[str]]:
    """Split topics into k groups of similar pair counts (largest topics first, to the lightest fold)."""
    counts: dict[str, int] = {}
    for t in topics:
        counts[t] = counts.get(t, 0) + 1
    names = list(counts)
    rng.shuffle(names)  # ties in size are broken randomly, so repeats give different splits
    names.sort(key=lambda n: counts[n], reverse=True)
    folds: list[set[str]] = [set() for _ in range(k)]
    sizes = [0] * k
    for name in names:
        lightest = min(range(k), key=lambda i: (sizes[i], rng.random()))
        folds[lightest].add(name)
        sizes[lightest] += counts[name]
    return folds


def cross_validate(
    cos: np.ndarray, labels: np.ndarray, topics: np.ndarray, k: int, repeats: int, min_precision: float
) -> dict[str, Any]:
    chosen: list[float] = []
    per_repeat: list[dict[str, float]] = []
    fold_precisions: list[float] = []
    fold_recalls: list[float] = []
    for seed in range(repeats):
        rng = random.Random(seed)
        tp = fp = fn = rel_merged = rel_total = 0
        for fold in group_folds(list(topics), k, rng):
            test = np.isin(topics, list(fold))
            train = ~test
            t, _ = choose(sweep(cos[train], labels[train]), min_precision)
            chosen.append(t)
            s = score(cos[test], labels[test], t)
            tp, fp, fn = tp + s.tp, fp + s.fp, fn + s.fn
            rel_merged, rel_total = rel_merged + s.related_merged, rel_total + s.related_total
            if s.precision is not None:
                fold_precisions.append(s.precision)
            if s.tp + s.fn:
                fold_recalls.append(s.recall)
        # Pool the five held-out folds of one repeat: each fold alone holds only ~14 duplicates.
        per_repeat.append(
            {
                "precision": tp / (tp + fp) if tp + fp else 1.0,
                "recall": tp / (tp + fn) if tp + fn else 0.0,
                "related_fmr": rel_merged / rel_total if rel_total else 0.0,
            }
        )

    def mean_std(values: Sequence[float]) -> dict[str, float]:
        return {
            "mean": statistics.fmean(values),
            "std": statistics.pstdev(values),
            "min": min(values),
            "max": max(values),
        }

    return {
        "folds": k,
        "repeats": repeats,
        "grouped_by": "topic",
        "chosen_threshold": mean_std(chosen),
        "chosen_threshold_counts": {f"{t:.2f}": chosen.count(t) for t in sorted(set(chosen))},
        "held_out_pooled_precision": mean_std([r["precision"] for r in per_repeat]),
        "held_out_pooled_recall": mean_std([r["recall"] for r in per_repeat]),
        "held_out_pooled_related_false_merge_rate": mean_std([r["related_fmr"] for r in per_repeat]),
        "held_out_per_fold_precision": mean_std(fold_precisions),
        "held_out_per_fold_recall": mean_std(fold_recalls),
    }


def distribution(values: np.ndarray) -> dict[str, float | int]:
    if not len(values):
        return {"n": 0}
    p10, p50, p90 = np.percentile(values, [10, 50, 90])
    return {
        "n": int(len(values)),
        "min": float(values.min()),
        "p10": float(p10),
        "median": float(p50),
        "p90": float(p90),
        "max": float(values.max()),
    }


def kind_rule(cos: np.ndarray, labels: np.ndarray, same: np.ndarray, t: float) -> dict[str, Any]:
    """At threshold t: cosine alone vs the store's rule (same kind, or any kind at >= 0.97)."""
    gate = same | (cos >= CROSS_KIND_BAR - 1e-9)
    out: dict[str, Any] = {
        "threshold": t,
        "cross_kind_bar": CROSS_KIND_BAR,
        "cosine_alone": score(cos, labels, t).as_dict(),
        "with_kind_rule": score(cos, labels, t, gate).as_dict(),
    }
    for label in LABELS:
        for name, mask in (("same_kind", same), ("cross_kind", ~same)):
            sel = (labels == label) & mask
            out[f"{label}_{name}"] = {
                "n": int(sel.sum()),
                "merged_cosine_alone": int((sel & (cos >= t - 1e-9)).sum()),
                "merged_with_kind_rule": int((sel & (cos >= t - 1e-9) & gate).sum()),
                "at_or_above_cross_kind_bar": int((sel & (cos >= CROSS_KIND_BAR - 1e-9)).sum()),
            }
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pairs", type=Path, default=DEFAULT_PAIRS)
    parser.add_argument("--min-precision", type=float, default=0.97)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    info = machine_info()
    print_machine(info)
    pairs = load_pairs(args.pairs)
    data_sha = hashlib.sha256(args.pairs.read_bytes()).hexdigest()
    labels = np.array([p.label for p in pairs])
    topics = np.array([p.topic for p in pairs])
    same = np.array([p.same_kind for p in pairs])
    counts = {label: int((labels == label).sum()) for label in LABELS}
    print(
        f"pairs: {len(pairs)} from {args.pairs.name} ({counts}), {len(set(topics))} topics, sha256 {data_sha[:12]}"
    )

    embedder = FastEmbedder()
    t0 = time.perf_counter()
    cos = cosines(pairs, embedder)
    embed_s = time.perf_counter() - t0
    print(f"model: {embedder.name} (dim {embedder.dim}); embedded in {embed_s:.1f}s")

    # 1. Where each label sits.
    dists: dict[str, Any] = {}
    rows = []
    for label in LABELS:
        for name, mask in (("all", np.ones_like(same)), ("same kind", same), ("cross kind", ~same)):
            d = distribution(cos[(labels == label) & mask])
            dists[f"{label}/{name}"] = d
            if d["n"]:
                rows.append(
                    [f"{label} ({name})", d["n"], d["min"], d["p10"], d["median"], d["p90"], d["max"]]
                )
    print_table("Cosine by label", ["label", "n", "min", "p10", "median", "p90", "max"], rows)

    # 2. The sweep on all pairs.
    full = sweep(cos, labels)
    print_table(
        "Sweep, cosine alone (positives = duplicates)",
        ["t", "merges", "TP", "FP", "precision", "recall", "F1", "related FMR", "unrelated FMR"],
        [
            [
                f"{r.threshold:.2f}",
                r.merges,
                r.tp,
                r.fp,
                r.precision,
                r.recall,
                r.f1,
                r.related_fmr,
                r.unrelated_fmr,
            ]
            for r in full
        ],
    )
    chosen, how = choose(full, args.min_precision)
    at = {r.threshold: r for r in full}
    c = at[chosen]
    print(f"\nrule: highest recall with precision >= {args.min_precision} ({how})")
    print(
        f"chosen on all pairs: t = {chosen:.2f}: precision {c.precision or 0:.3f}, recall {c.recall:.3f}, "
        f"related false merges {c.related_merged}/{c.related_total}, "
        f"unrelated {c.unrelated_merged}/{c.unrelated_total}"
    )
    # How much the answer depends on the precision bar: the bar is a judgement, so show its neighbours.
    sensitivity = {}
    for bar in (0.90, 0.95, 0.99):
        t_bar, _ = choose(full, bar)
        sensitivity[f"{bar:.2f}"] = at[t_bar].as_dict()
        r = at[t_bar]
        print(
            f"  with precision bar {bar:.2f}: t = {t_bar:.2f}, precision {r.precision or 0:.3f}, "
            f"recall {r.recall:.3f}, related false merges {r.related_merged}/{r.related_total}"
        )
    old = at[CURRENT_DEFAULT]
    print(
        f"current default t = {CURRENT_DEFAULT:.2f}: precision {old.precision or 0:.3f}, recall {old.recall:.3f}, "
        f"related false merges {old.related_merged}/{old.related_total}"
    )

    # 3. Is the choice stable on topics it was not chosen on?
    cv = cross_validate(cos, labels, topics, args.folds, args.repeats, args.min_precision)
    ct = cv["chosen_threshold"]
    print_table(
        f"Cross-validation: {args.folds}-fold grouped by topic, {args.repeats} shuffles (choose on 4/5, test on 1/5)",
        ["quantity", "mean", "std", "min", "max"],
        [
            ["chosen threshold", ct["mean"], ct["std"], ct["min"], ct["max"]],
            *[
                [name, v["mean"], v["std"], v["min"], v["max"]]
                for name, v in (
                    ("held-out precision (pooled)", cv["held_out_pooled_precision"]),
                    ("held-out recall (pooled)", cv["held_out_pooled_recall"]),
                    ("held-out related FMR (pooled)", cv["held_out_pooled_related_false_merge_rate"]),
                    ("held-out precision (per fold)", cv["held_out_per_fold_precision"]),
                    ("held-out recall (per fold)", cv["held_out_per_fold_recall"]),
                )
            ],
        ],
    )
    print(
        "chosen threshold per fold: "
        + ", ".join(f"{t}: {n}" for t, n in cv["chosen_threshold_counts"].items())
    )

    # 4. The kind gate of _nearest at the chosen threshold.
    kr = kind_rule(cos, labels, same, chosen)
    print_table(
        f"Kind gate at t = {chosen:.2f} (merge needs same kind, or cosine >= {CROSS_KIND_BAR})",
        ["pairs", "n", "merged, cosine alone", "merged, with kind gate", f">= {CROSS_KIND_BAR}"],
        [
            [
                f"{label} {name.replace('_', ' ')}",
                kr[f"{label}_{name}"]["n"],
                kr[f"{label}_{name}"]["merged_cosine_alone"],
                kr[f"{label}_{name}"]["merged_with_kind_rule"],
                kr[f"{label}_{name}"]["at_or_above_cross_kind_bar"],
            ]
            for label in LABELS
            for name in ("same_kind", "cross_kind")
        ],
    )
    gated = kr["with_kind_rule"]
    print(
        f"with kind gate: precision {gated['precision'] if gated['precision'] is not None else float('nan'):.3f}, "
        f"recall {gated['recall']:.3f} (cosine alone: {c.precision or 0:.3f}, {c.recall:.3f})"
    )

    # 5. The hardest cases, to read by eye.
    order = np.argsort(cos)
    dup_idx = [i for i in order if labels[i] == "duplicate"][:5]
    rel_idx = [i for i in order[::-1] if labels[i] == "related"][:5]
    hard = {
        "lowest_duplicates": [
            {
                "cosine": float(cos[i]),
                "a": pairs[i].a["title"],
                "b": pairs[i].b["title"],
                "note": pairs[i].note,
            }
            for i in dup_idx
        ],
        "highest_related": [
            {
                "cosine": float(cos[i]),
                "a": pairs[i].a["title"],
                "b": pairs[i].b["title"],
                "note": pairs[i].note,
            }
            for i in rel_idx
        ],
    }
    print("\nlowest-scoring duplicates:")
    for h in hard["lowest_duplicates"]:
        print(f"  {h['cosine']:.3f}  {h['a']}  |  {h['b']}")
    print("highest-scoring related (must not merge):")
    for h in hard["highest_related"]:
        print(f"  {h['cosine']:.3f}  {h['a']}  |  {h['b']}")

    elapsed = time.perf_counter() - started
    result = {
        "benchmark": "dedupe_threshold",
        "machine": info,
        "model": embedder.name,
        "data": {
            "file": str(args.pairs.name),
            "sha256": data_sha,
            "pairs": len(pairs),
            "labels": counts,
            "topics": len(set(topics)),
            "same_kind_pairs": int(same.sum()),
        },
        "rule": {
            "min_precision": args.min_precision,
            "description": how,
            "why": "a wrong merge loses a lesson; a missed merge only leaves a twin",
        },
        "recommended_threshold": chosen,
        "at_recommended": c.as_dict(),
        "at_current_default": old.as_dict(),
        "precision_bar_sensitivity": sensitivity,
        "distributions": dists,
        "sweep": [r.as_dict() for r in full],
        "cross_validation": cv,
        "kind_rule": kr,
        "hard_cases": hard,
        "seconds": {"embed": embed_s, "total": elapsed},
    }
    path = write_json("dedupe_threshold.json", result)
    print(f"\nrecommended RB_MCP_DEDUPE_THRESHOLD = {chosen:.2f}; wrote {path} in {elapsed:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
