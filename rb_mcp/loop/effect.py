"""Does memory help? Success rates of judged trajectories after recalled memory and without it.

Each judged trajectory (task or parallel attempt; refinement notes are not outcomes) falls in one
arm by the recall it answers (its recall_id, or the hook session's recall): `memory` when that
recall returned items, `control` when it was a control recall that withheld memory on purpose
(RB_MCP_CONTROL_RATE), `without` when there was no recall or it found nothing. Controls are
drawn at random, so memory vs control is a randomized comparison; memory vs without is only
observational (which tasks get a recall is the agent's choice).

A rate is successes / (successes + failures): a task judged impossible says nothing about
memory and is counted apart. Each rate carries a 95% Wilson score interval and each difference
Newcombe's hybrid score interval (Newcombe 1998, method 10), which stay inside [0, 1] and [-1, 1]
and behave at small counts, where the normal approximation does not.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING

from rb_mcp.models import EffectArm, EffectDiff, EffectGroup, EffectReport, ItemEffect

if TYPE_CHECKING:
    from rb_mcp.loop.bank import Bank
    from rb_mcp.store import Store

Z = 1.959963984540054  # the 97.5% quantile of the standard normal: a two-sided 95% interval
ARMS = ("memory", "control", "without")
TOP_ITEMS = 5


def wilson(successes: int, n: int, z: float = Z) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion successes / n; None when n is 0."""
    if n <= 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(x1: int, n1: int, x2: int, n2: int, z: float = Z) -> tuple[float, float, float] | None:
    """p1 - p2 with Newcombe's hybrid score interval built from both Wilson intervals; None when
    either group is empty."""
    a, b = wilson(x1, n1, z), wilson(x2, n2, z)
    if a is None or b is None:
        return None
    p1, p2 = x1 / n1, x2 / n2
    d = p1 - p2
    low = d - math.sqrt((p1 - a[0]) ** 2 + (b[1] - p2) ** 2)
    high = d + math.sqrt((a[1] - p1) ** 2 + (p2 - b[0]) ** 2)
    return d, max(-1.0, low), min(1.0, high)


def effect_stats(source: Store | Bank, project: str | None = None) -> EffectReport:
    """Success rates after memory, under control and without, with 95% intervals, overall and per
    project, and the items credited most as helping and as harming.

    `project` (a scope key such as "github.com/acme/app", or None for every project) limits the
    trajectories and items counted; only what the caller may see (rb_mcp.visibility) is counted.
    """
    # A Bank's store, or the store given: no import of Bank here (its review methods import this module).
    store = getattr(source, "store", source)
    counts: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    for where, arm, outcome, n in store.effect_counts(project):
        arm = "without" if arm in ("none", "empty") else arm
        counts[where][arm][outcome] += n
        counts["all"][arm][outcome] += n
    overall = _group("all", counts.get("all", {}))
    if project is not None:
        overall = overall.model_copy(update={"project": project})
    return EffectReport(
        overall=overall,
        projects=[_group(where, arms) for where, arms in sorted(counts.items()) if where != "all"],
        most_helped=_items(store, project, "helped"),
        most_harmed=_items(store, project, "harmed"),
    )


def _group(where: str, arms: dict[str, dict[str, int]]) -> EffectGroup:
    built = {name: _arm(name, arms.get(name, {})) for name in ARMS}
    return EffectGroup(
        project=where,
        arms=list(built.values()),
        comparisons=[_diff(built["memory"], built[other]) for other in ("control", "without")],
    )


def _arm(name: str, outcomes: dict[str, int]) -> EffectArm:
    wins, losses = outcomes.get("success", 0), outcomes.get("failure", 0)
    n = wins + losses
    interval = wilson(wins, n)
    return EffectArm(
        arm=name,  # type: ignore[arg-type]
        trajectories=n + outcomes.get("impossible", 0),
        successes=wins,
        failures=losses,
        impossible=outcomes.get("impossible", 0),
        rate=wins / n if n else None,
        low=interval[0] if interval else None,
        high=interval[1] if interval else None,
    )


def _diff(a: EffectArm, b: EffectArm) -> EffectDiff:
    found = newcombe(a.successes, a.successes + a.failures, b.successes, b.successes + b.failures)
    d, low, high = found if found else (None, None, None)
    return EffectDiff(
        arm=a.arm, versus=b.arm, randomized=b.arm == "control", difference=d, low=low, high=high
    )


def _items(store: Store, project: str | None, by: str) -> list[ItemEffect]:
    return [
        ItemEffect(id=r[0], title=r[1], scope=r[2], helped=r[3], harmed=r[4], recalls=r[5])
        for r in store.credited_items(project, by, TOP_ITEMS)
    ]


def render(report: EffectReport) -> list[str]:
    """The report as the lines `rb-mcp stats --effect` prints."""
    lines = ["success rate of judged trajectories (successes / (successes + failures), 95% Wilson interval):"]
    for group in [report.overall, *(report.projects if len(report.projects) > 1 else [])]:
        lines.append(f"\n{group.project}")
        lines.append(
            f"  {'arm':<8} {'judged':>6} {'success':>7} {'failure':>7} {'imposs.':>7}  rate  [95% CI]"
        )
        for a in group.arms:
            rate = f"{a.rate:6.1%}  [{a.low:.1%}, {a.high:.1%}]" if a.rate is not None else "     -"
            lines.append(
                f"  {a.arm:<8} {a.trajectories:>6} {a.successes:>7} {a.failures:>7} {a.impossible:>7}  {rate}"
            )
        for c in group.comparisons:
            kind = "randomized" if c.randomized else "observational"
            shown = f"{c.difference:+.1%}  [{c.low:+.1%}, {c.high:+.1%}]" if c.difference is not None else "-"
            lines.append(f"  {c.arm} - {c.versus} ({kind}, Newcombe 95% CI): {shown}")
    for title, items in (("most helped", report.most_helped), ("most harmed", report.most_harmed)):
        lines.append(f"\n{title}:" + ("" if items else " none yet"))
        lines += [
            f"  #{i.id} helped {i.helped} harmed {i.harmed} recalled {i.recalls}  {i.title[:70]}"
            for i in items
        ]
    return lines
