"""The floor of a keyword-only recall: how many of the task's informative words a memory shares.

A hybrid recall drops candidates below a cosine floor. A keyword-only recall (the prompt hook's
default: no model to load in a cold process) has no such number, and BM25 ranks whatever shares
one word: on 99 web-shop questions asked in the projects of a bank of 300 SWE-bench Lite tasks,
71 got something injected. Sharing three distinct informative words (stopwords out, identifiers
split, endings folded) separates them: 1 of those 99 kept anything, while 149 of 150 real tasks in
their own project still did (`benchmarks/hook_latency.py`).
"""

from __future__ import annotations

from functools import lru_cache

from rb_mcp.store.fts import terms

MIN_SHARED = 3  # distinct informative words (all of them when the task has fewer)
_TEXT_TERMS = 4000


def _fold(word: str) -> str:
    # Crude stemming that is enough here: "returned"/"returns", "caching"/"cached" meet.
    return word[:6] if len(word) > 6 else word.rstrip("s") if len(word) > 3 else word


@lru_cache(maxsize=64)
def _folded(text: str, limit: int) -> frozenset[str]:
    return frozenset(_fold(t) for t in terms(text, limit))


def shares_enough(task: str, *texts: str | None) -> bool:
    """Whether the memory written in `texts` shares enough informative words with `task`."""
    wanted = _folded(task, 64)
    if not wanted:
        return False
    found = frozenset().union(*(_folded(t, _TEXT_TERMS) for t in texts if t))
    return len(wanted & found) >= min(MIN_SHARED, len(wanted))
