"""Does the memory help? Outcomes of tasks that had recalled memory against tasks that had none.

`effect_stats(store)` is the one definition, used by the review page (`rb-mcp ui`), `rb-mcp stats
--effect` and the client hooks. A task "had memory" when it was recorded with the recall_id of a
recall that returned items; "without memory" when it was recorded without a recall, or its recall
returned nothing. Only judged tasks and parallel attempts count (refinement notes never have a
verdict). This is an observational comparison, not an experiment: tasks with memory are those an
earlier lesson was related to, so a difference suggests an effect without proving one.

Guidance tokens per recall are estimated from the items each recall logged, as the recall formats
them (`rb_mcp.loop.recall`: four characters per token), with their current wording; past tasks
returned as episodes are not logged and not counted.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from statistics import median

from pydantic import BaseModel, Field, computed_field

from rb_mcp.loop.recall import CHARS_PER_TOKEN, INTRO, RECORD_HINT, STRATEGIES
from rb_mcp.models import Kind
from rb_mcp.store import Store

# What a recall's guidance holds besides its items: the intro line, one section header, the hint.
_FRAME_CHARS = len(f"{INTRO}. Apply what fits this task; ignore what does not.\n\n{STRATEGIES}\n") + len(
    "\nWhen the task is done, " + RECORD_HINT.format(recall_id=1000) + "."
)
_ITEM_CHARS = len("- : \n  ")  # what the guidance adds around an item's title, description and content
WEEKS = 26
_BUCKET_WIDTHS = (10, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000)


class OutcomeCounts(BaseModel):
    success: int = 0
    failure: int = 0
    impossible: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def judged(self) -> int:
        return self.success + self.failure + self.impossible

    @computed_field  # type: ignore[prop-decorator]
    @property
    def success_rate(self) -> float | None:
        """Successes among successes and failures (impossible tasks are left out); None without any."""
        decided = self.success + self.failure
        return round(self.success / decided, 4) if decided else None

    def add(self, outcome: str, n: int) -> None:
        if outcome in ("success", "failure", "impossible"):
            setattr(self, outcome, getattr(self, outcome) + n)


class WeekEffect(BaseModel):
    week: str = Field(description="The Monday (UTC) the week starts on.")
    with_memory: OutcomeCounts
    without_memory: OutcomeCounts


class CreditedItem(BaseModel):
    id: int
    title: str
    kind: Kind
    scope: str
    helped: int
    harmed: int
    recall_count: int


class TokenBucket(BaseModel):
    low: int = Field(description="Tokens from (inclusive).")
    high: int = Field(description="Tokens up to (exclusive).")
    recalls: int


class GuidanceTokens(BaseModel):
    """Estimated guidance tokens injected per recall that returned items, over the latest recalls."""

    recalls: int = Field(description="Recalls looked at (the latest, up to the limit).")
    with_items: int = Field(description="Of those, recalls that returned at least one item.")
    mean: float | None = None
    median: float | None = None
    p90: float | None = None
    max: int | None = None
    total: int = Field(0, description="Tokens over all recalls looked at.")
    histogram: list[TokenBucket] = Field(default_factory=list)


class EffectStats(BaseModel):
    with_memory: OutcomeCounts = Field(description="Judged tasks whose recall returned memory items.")
    without_memory: OutcomeCounts = Field(description="Judged tasks without: no recall, or nothing recalled.")
    no_recall: OutcomeCounts = Field(description="Judged tasks recorded without a recall_id.")
    empty_recall: OutcomeCounts = Field(description="Judged tasks whose recall returned no item.")
    difference: float | None = Field(
        description="Success rate with memory minus without, in percentage points (None until both have "
        "a success or failure)."
    )
    weeks: list[WeekEffect] = Field(
        description=f"The last {WEEKS} weeks that had judged tasks, oldest first."
    )
    helped_most: list[CreditedItem]
    harmed_most: list[CreditedItem]
    tokens: GuidanceTokens


def _monday(day: str) -> str:
    try:
        d = date.fromisoformat(day)
    except ValueError:
        return day
    return (d - timedelta(days=d.weekday())).isoformat()


def _credited(store: Store, sort: str, top: int) -> list[CreditedItem]:
    ids, _ = store.browse_item_ids(status=None, sort=sort, limit=top)
    found = store.items_by_id(ids)
    out = []
    for i in ids:
        item = found.get(i)
        if item is not None and getattr(item, sort) > 0:
            out.append(CreditedItem(**item.model_dump(include=set(CreditedItem.model_fields))))
    return out


def _percentile(sorted_values: list[int], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return float(sorted_values[index])


def _tokens(store: Store, limit: int) -> GuidanceTokens:
    sizes = store.recall_sizes(limit)
    tokens = sorted(
        round((chars + n * _ITEM_CHARS + _FRAME_CHARS) / CHARS_PER_TOKEN) for _, _, n, chars in sizes if n
    )
    result = GuidanceTokens(recalls=len(sizes), with_items=len(tokens))
    if not tokens:
        return result
    first, last = tokens[0], tokens[-1]
    width = next((w for w in _BUCKET_WIDTHS if last // w - first // w < 12), _BUCKET_WIDTHS[-1])
    counts: dict[int, int] = defaultdict(int)
    for t in tokens:
        counts[t // width] += 1
    result.histogram = [
        TokenBucket(low=b * width, high=(b + 1) * width, recalls=counts.get(b, 0))
        for b in range(first // width, last // width + 1)
    ]
    result.mean = round(sum(tokens) / len(tokens), 1)
    result.median = float(median(tokens))
    result.p90 = _percentile(tokens, 0.9)
    result.max = tokens[-1]
    result.total = sum(tokens)
    return result


def effect_stats(store: Store, top: int = 10, recalls: int = 5000) -> EffectStats:
    """Outcomes with and without recalled memory (overall and per week), the `top` items that helped
    and harmed most, and the guidance tokens of the latest `recalls` recalls; in the scopes the
    caller may see."""
    groups = {"items": OutcomeCounts(), "none": OutcomeCounts(), "empty": OutcomeCounts()}
    weekly: dict[str, dict[bool, OutcomeCounts]] = defaultdict(
        lambda: {True: OutcomeCounts(), False: OutcomeCounts()}
    )
    for day, memory, outcome, n in store.outcome_counts():
        groups.get(memory, groups["none"]).add(outcome, n)
        weekly[_monday(day)][memory == "items"].add(outcome, n)
    without = OutcomeCounts()
    for name in ("none", "empty"):
        for outcome in ("success", "failure", "impossible"):
            without.add(outcome, getattr(groups[name], outcome))
    rate_with, rate_without = groups["items"].success_rate, without.success_rate
    difference = (
        round(100 * (rate_with - rate_without), 1)
        if rate_with is not None and rate_without is not None
        else None
    )
    weeks = [
        WeekEffect(week=w, with_memory=weekly[w][True], without_memory=weekly[w][False])
        for w in sorted(weekly)[-WEEKS:]
    ]
    return EffectStats(
        with_memory=groups["items"],
        without_memory=without,
        no_recall=groups["none"],
        empty_recall=groups["empty"],
        difference=difference,
        weeks=weeks,
        helped_most=_credited(store, "helped", top),
        harmed_most=_credited(store, "harmed", top),
        tokens=_tokens(store, recalls),
    )
