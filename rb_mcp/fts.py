"""Turn free text into an FTS5 MATCH expression that can never be a syntax error.

User text may hold FTS5 operators (AND, NEAR, quotes, colons, parentheses, `*`). We keep only
word characters, quote every term and OR them, so the text is searched, never interpreted.
"""

from __future__ import annotations

import re

MAX_TERMS = 64

_WORD = re.compile(r"[^\W_]+(?:_[^\W_]+)*", re.UNICODE)
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")

STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing done down during each else few for from
    further get gets got had has have having he her here hers him his how i if in into is it its
    itself just let like may me might more most must my no nor not now of off on once only or other
    our out over own same she should so some such than that the their them then there these they
    this those through to too under until up upon us use used using very via was we were what when
    where which while who whom why will with would you your yes e g eg ie etc
    """.split()
)


def terms(text: str, limit: int = MAX_TERMS) -> list[str]:
    """Distinct informative words of `text`, identifiers split at snake_case and camelCase too."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text):
        pieces = [word]
        if "_" in word:
            pieces += word.split("_")
        if any(c.isupper() for c in word[1:]):
            pieces += _CAMEL.findall(word)
        for piece in pieces:
            low = piece.lower()
            if len(low) < 2 or low in STOPWORDS or low.isdigit():
                continue
            seen.setdefault(low, None)
            if len(seen) >= limit:
                return list(seen)
    return list(seen)


def fts_query(text: str, limit: int = MAX_TERMS) -> str:
    """An OR of quoted terms; empty string when the text has no searchable word."""
    words = [w.replace('"', "") for w in terms(text, limit)]
    return " OR ".join(f'"{w}"' for w in words if w)
