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
from collections.abc import Callable

from rb_mcp.fts import query_parts

ROWS = 1000  # matching rows scored per keyword search, at most
ORDER_CAP = 16  # common words are told apart by counts up to ORDER_CAP * ROWS
TTL_SECONDS = 300.0
_CACHE_MAX = 20_000


class Planner:
    """Plans the MATCH expression for one FTS table.

    `count(expr, cap)` counts the rows matching expr, stopping at cap; `total()` is an upper bound
    on the table's rows (the largest id: cheap, and a deleted row only makes it plan sooner).
    """

    def __init__(self, count: Callable[[str, int], int], total: Callable[[], int], rows: int | None = None):
        self.count = count
        self.total = total
        self.rows = rows or ROWS
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
        counts = {p: self._count(p) for p in parts}
        present = sorted((p for p in parts if counts[p] > 0), key=lambda p: counts[p])
        chosen: list[str] = []
        used = 0
        for part in present:
            if counts[part] > self.rows or (chosen and used + counts[part] > self.rows):
                break
            chosen.append(part)
            used += counts[part]
        if chosen:
            return " OR ".join(chosen), True
        if len(present) < 2:
            return " OR ".join(present), True
        return f"{present[0]} AND {present[1]}", False

    def _count(self, part: str) -> int:
        now = time.monotonic()
        with self._lock:
            hit = self._counts.get(part)
        if hit is not None and now - hit[1] <= TTL_SECONDS:
            return hit[0]
        n = self.count(part, ORDER_CAP * self.rows)
        if n == 0:
            # Not cached: a word no row holds yet may be in the next item stored, and a recall
            # right after that record must find it. Counting an absent word costs one lookup.
            return 0
        with self._lock:
            if len(self._counts) >= _CACHE_MAX:
                self._counts.clear()
            self._counts[part] = (n, now)
        return n
