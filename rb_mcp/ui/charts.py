"""The effect page's charts as geometry: the templates draw them as inline SVG (`_charts.html`), so
every label goes through the template engine's escaping and the page needs no script or library."""

from __future__ import annotations

from dataclasses import dataclass, field

from rb_mcp.loop.effect import CreditedItem, EffectStats, GuidanceTokens, OutcomeCounts

WIDTH = 640
PLOT = (56, 16, 620, 176)  # left, top, right, bottom of the plotting area


@dataclass
class Rect:
    x: float
    y: float
    w: float
    h: float
    cls: str
    label: str = ""
    value: str = ""
    tip: str = ""
    href: str = ""


@dataclass
class Chart:
    """What a template needs to draw one chart."""

    title: str
    height: int
    rects: list[Rect] = field(default_factory=list)
    lines: list[tuple[str, str, str]] = field(default_factory=list)  # (css class, points, legend)
    dots: list[tuple[float, float, str, str]] = field(default_factory=list)  # (x, y, css class, tip)
    ticks: list[tuple[float, float, str]] = field(default_factory=list)  # y-axis: (y, x, label)
    xlabels: list[tuple[float, float, str]] = field(default_factory=list)
    empty: str = ""


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.0f}%"


def _y_ticks(chart: Chart, top: float, bottom: float, labels: list[tuple[float, str]]) -> None:
    left = PLOT[0]
    for fraction, text in labels:
        chart.ticks.append((bottom - fraction * (bottom - top), left - 6, text))


def success_rates(stats: EffectStats) -> Chart:
    """Success rate with memory and without it (no recall, or nothing recalled), as bars."""
    groups: list[tuple[str, OutcomeCounts, str]] = [
        ("with memory", stats.with_memory, "bar good"),
        ("without memory", stats.without_memory, "bar base"),
        ("no recall", stats.no_recall, "bar faint"),
        ("recall returned nothing", stats.empty_recall, "bar faint"),
    ]
    chart = Chart("Success rate of judged tasks (successes among successes and failures)", 210)
    left, top, right, bottom = PLOT
    slot = (right - left) / len(groups)
    _y_ticks(chart, top, bottom, [(0, "0%"), (0.5, "50%"), (1, "100%")])
    for n, (label, counts, cls) in enumerate(groups):
        rate = counts.success_rate or 0.0
        h = rate * (bottom - top)
        x = left + n * slot + slot * 0.2
        tip = f"{label}: {counts.success} succeeded, {counts.failure} failed, {counts.impossible} impossible"
        chart.rects.append(Rect(x, bottom - h, slot * 0.6, h, cls, label, _pct(counts.success_rate), tip))
        chart.xlabels.append((x + slot * 0.3, bottom + 16, f"{label} ({counts.success + counts.failure})"))
    if not (stats.with_memory.judged or stats.without_memory.judged):
        chart.empty = "No judged task yet: record trajectories with an outcome to see this."
    return chart


def weekly(stats: EffectStats) -> Chart:
    """Success rate per week, with memory and without, as two lines."""
    chart = Chart("Success rate per week", 210)
    left, top, right, bottom = PLOT
    _y_ticks(chart, top, bottom, [(0, "0%"), (0.5, "50%"), (1, "100%")])
    weeks = stats.weeks
    if not weeks:
        chart.empty = "No judged task yet."
        return chart
    step = (right - left) / max(1, len(weeks) - 1) if len(weeks) > 1 else 0
    every = max(1, len(weeks) // 6)
    for series, cls, legend in (("with_memory", "line good", "with memory"), ("without_memory", "line base",
                                                                              "without memory")):  # fmt: skip
        points = []
        for n, week in enumerate(weeks):
            counts: OutcomeCounts = getattr(week, series)
            if counts.success_rate is None:
                continue
            x = left + n * step if len(weeks) > 1 else (left + right) / 2
            y = bottom - counts.success_rate * (bottom - top)
            points.append(f"{x:.1f},{y:.1f}")
            tip = f"week of {week.week}, {legend}: {_pct(counts.success_rate)} of {counts.success + counts.failure}"
            chart.dots.append((x, y, cls.replace("line", "dot"), tip))
        if points:
            chart.lines.append((cls, " ".join(points), legend))
    for n, week in enumerate(weeks):
        if n % every == 0 or n == len(weeks) - 1:
            x = left + n * step if len(weeks) > 1 else (left + right) / 2
            chart.xlabels.append((x, bottom + 16, week.week[5:]))
    return chart


def tokens(found: GuidanceTokens) -> Chart:
    """How many recalls injected how many guidance tokens, as a histogram."""
    chart = Chart(f"Guidance tokens per recall (estimated; latest {found.recalls} recalls)", 210)
    left, top, right, bottom = PLOT
    buckets = found.histogram
    if not buckets:
        chart.empty = "No recall has returned memory yet."
        return chart
    most = max(b.recalls for b in buckets) or 1
    _y_ticks(chart, top, bottom, [(0, "0"), (0.5, f"{most / 2:g}"), (1, str(most))])
    slot = (right - left) / len(buckets)
    every = max(1, len(buckets) // 6)
    for n, b in enumerate(buckets):
        h = b.recalls / most * (bottom - top)
        x = left + n * slot
        tip = f"{b.recalls} recalls injected {b.low}-{b.high - 1} tokens"
        chart.rects.append(Rect(x + 1, bottom - h, max(1.0, slot - 2), h, "bar base", "", "", tip))
        if n % every == 0:
            chart.xlabels.append((x + slot / 2, bottom + 16, str(b.low)))
    return chart


def credit(items: list[CreditedItem], helped: bool) -> Chart:
    """The items that helped (or harmed) most, as horizontal bars with their titles."""
    name = "helped" if helped else "harmed"
    row = 26
    chart = Chart(f"Items that {name} most (tasks that {'succeeded' if helped else 'failed'} after recalling them)",
                  max(60, 12 + row * len(items)))  # fmt: skip
    if not items:
        chart.empty = f"No item has {name} yet."
        return chart
    most = max(getattr(i, name) for i in items) or 1
    left, right = 330, WIDTH - 40
    for n, item in enumerate(items):
        value = getattr(item, name)
        w = value / most * (right - left)
        y = 8 + n * row
        title = item.title if len(item.title) <= 44 else item.title[:43] + "…"
        tip = f"#{item.id} {item.title}: helped {item.helped}, harmed {item.harmed}, recalled {item.recall_count}"
        chart.rects.append(Rect(left, y, max(w, 1.0), row - 8, "bar good" if helped else "bar bad", title,
                                str(value), tip, f"/items/{item.id}"))  # fmt: skip
    return chart
