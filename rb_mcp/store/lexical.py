"""Keyword search whose cost does not grow with the bank.

FTS5 scores every row that matches a query, and an OR of a task's words matches most of a large
bank: at 1M items one recall used to score hundreds of thousands of rows (seconds). Ranking is
only worth its cost on the rows a query's informative words pick out, so a query is planned
before it runs:

- A small bank (at most `ROWS` rows) is searched with every word, as it always was.
- Otherwise each word and file phrase is counted in the index (a count that stops early, so it
  stays cheap, and is cached for a few minutes: the counts of a bank change slowly) and the
  rarest ones are kept while together they match at most `ROWS` rows. These carry nearly all of BM25's
  weight anyway: a word in a tenth of the bank has a small inverse document frequency.
- When every word is common, rows must hold the two rarest words, and they come newest first:
  ranking them by BM25 would cost a walk over both words' postings (see `Planner.planned`).
- Whatever the plan, the search scores at most `ROWS` matching rows, newest first, and ranks
  those: a hard bound for the worst case.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence

from rb_mcp.store.fts import query_parts

ROWS = 1000  # matching rows scored per keyword search, at most
ORDER_CAP = 16  # common words are told apart by counts up to ORDER_CAP * ROWS
TTL_SECONDS = 300.0
_CACHE_MAX = 20_000


def choose(parts: Sequence[str], counts: Mapping[str, int], rows: int) -> tuple[list[str], bool]:
    """The parts to search a large table with: the rarest while together they match at most `rows`
    rows (to be OR-ed and ranked), else the two rarest (to be AND-ed, newest first)."""
    present = sorted((p for p in parts if counts[p] > 0), key=lambda p: counts[p])
    chosen: list[str] = []
    used = 0
    for part in present:
        if counts[part] > rows or (chosen and used + counts[part] > rows):
            break
        chosen.append(part)
        used += counts[part]
    if chosen or len(present) < 2:
        return chosen or present, True
    return present[:2], False


class Planner:
    """Plans the MATCH expression for one FTS table.

    `count(exprs, cap)` counts the rows matching each expression, stopping at cap (one call for
    all of them: one round trip to a database server); `total()` is an upper bound on the table's
    rows (the largest id: cheap, and a deleted row only makes it plan sooner).
    """

    def __init__(
        self,
        count: Callable[[list[str], int], list[int]],
        total: Callable[[], int],
        rows: int | None = None,
        cap: int | None = None,
    ):
        self.count = count
        self.total = total
        self.rows = rows or ROWS
        # Counting stops here; beyond `rows` a count only tells common words apart.
        self.cap = cap or ORDER_CAP * self.rows
        self._counts: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def plan(self, text: str) -> str:
        return self.planned(text)[0]

    def planned(self, text: str) -> tuple[str, bool]:
        """The MATCH expression, and whether its rows are worth ranking by BM25.

        Not when every word is common: FTS5's bm25() first counts the rows holding each phrase,
        a walk over their whole postings (20-40 ms at 1M items, against 2 ms for the match
        itself), and two common words tell the rows that hold both apart by little. Those rows
        come newest first instead.
        """
        parts = query_parts(text)
        if not parts:
            return "", True
        if self.total() <= self.rows:
            return " OR ".join(parts), True
        chosen, ranked = choose(parts, self.counts(parts), self.rows)
        return (" OR " if ranked else " AND ").join(chosen), ranked

    def counts(self, parts: Sequence[str]) -> dict[str, int]:
        """How many rows hold each part (up to `cap`): cached a few minutes, except a
        part no row holds yet (it may be in the next item stored, and a recall right after that
        record must find it; counting an absent word costs one lookup)."""
        now = time.monotonic()
        out: dict[str, int] = {}
        with self._lock:
            for part in parts:
                hit = self._counts.get(part)
                if hit is not None and now - hit[1] <= TTL_SECONDS:
                    out[part] = hit[0]
        missing = [p for p in dict.fromkeys(parts) if p not in out]
        if not missing:
            return out
        fresh = self.count(missing, self.cap)
        with self._lock:
            if len(self._counts) + len(missing) > _CACHE_MAX:
                self._counts.clear()
            for part, n in zip(missing, fresh):
                out[part] = n
                if n:
                    self._counts[part] = (n, now)
        return out
