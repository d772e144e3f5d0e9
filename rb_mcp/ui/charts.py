"""The effect page's charts as geometry: the templates draw them as inline SVG (`_charts.html`), so
every label goes through the template engine's escaping and the page needs no script or library."""

from __future__ import annotations

from dataclasses import dataclass, field

from rb_mcp.models import EffectGroup, ItemEffect

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


def success_rates(group: EffectGroup) -> Chart:
    """Success rate after memory, in control recalls and without memory, as bars with their 95%
    Wilson intervals in the tips (`rb_mcp.loop.effect.effect_stats`)."""
    styles = {"memory": ("after recalled memory", "bar good"), "control": ("control (memory withheld)", "bar base"),
              "without": ("without memory", "bar faint")}  # fmt: skip
    chart = Chart(
        f"Success rate of judged tasks ({group.project}; successes among successes and failures)", 210
    )
    left, top, right, bottom = PLOT
    slot = (right - left) / max(1, len(group.arms))
    _y_ticks(chart, top, bottom, [(0, "0%"), (0.5, "50%"), (1, "100%")])
    for n, arm in enumerate(group.arms):
        label, cls = styles.get(arm.arm, (arm.arm, "bar base"))
        h = (arm.rate or 0.0) * (bottom - top)
        x = left + n * slot + slot * 0.2
        interval = f", 95% CI {_pct(arm.low)}-{_pct(arm.high)}" if arm.rate is not None else ""
        tip = f"{label}: {arm.successes} succeeded, {arm.failures} failed, {arm.impossible} impossible{interval}"
        chart.rects.append(Rect(x, bottom - h, slot * 0.6, h, cls, label, _pct(arm.rate), tip))
        chart.xlabels.append((x + slot * 0.3, bottom + 16, f"{label} ({arm.successes + arm.failures})"))
    if not any(arm.successes + arm.failures for arm in group.arms):
        chart.empty = "No judged task yet: record trajectories with an outcome to see this."
    return chart


def credit(items: list[ItemEffect], helped: bool) -> Chart:
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
        tip = f"#{item.id} {item.title}: helped {item.helped}, harmed {item.harmed}, recalled {item.recalls}"
        chart.rects.append(Rect(left, y, max(w, 1.0), row - 8, "bar good" if helped else "bar bad", title,
                                str(value), tip, f"/items/{item.id}"))  # fmt: skip
    return chart
