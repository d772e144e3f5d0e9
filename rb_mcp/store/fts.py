"""Turn free text into an FTS5 MATCH expression that can never be a syntax error.

User text may hold FTS5 operators (AND, NEAR, quotes, colons, parentheses, `*`). We keep only
word characters, quote every term and OR them, so the text is searched, never interpreted.

Coding tasks also name files and modules (`django/core/validators.py` in a traceback,
`sphinx.ext.viewcode` in prose). `code_refs` turns those into phrases of the tokens FTS5 makes
of a path, so they match the `files` a past trajectory touched however the path was spelled.
"""

from __future__ import annotations

import re
from functools import lru_cache

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


# One recall builds the same query for past tasks and for memory items: build it once.
@lru_cache(maxsize=16)
def query_parts(text: str, limit: int = MAX_TERMS) -> tuple[str, ...]:
    """The quoted terms and file phrases of `text`, each a MATCH expression on its own."""
    words = [p.replace('"', "") for p in terms(text, limit) + code_refs(text)]
    return tuple(f'"{w}"' for w in words if w.strip())


def fts_query(text: str, limit: int = MAX_TERMS) -> str:
    """An OR of quoted terms and file phrases; empty string when the text has no searchable word."""
    return " OR ".join(query_parts(text, limit))


# ---- code references: the files and modules a task names ------------------------------------
MAX_REFS = 32

# A chunk is a run of name characters, dots and path separators, looked for only in the words
# that hold a dot or a separator: the scan stays linear on hostile input (a pattern that
# backtracks over long runs of letters costs minutes on a megabyte).
# A chunk with a separator is a path; one with a dot is a dotted name (module path, attribute
# chain or file name).
_CHUNK = re.compile(r"[\w.\\/-]+")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
MAX_CHUNK = 300  # longer runs are not paths anyone wrote; only their tail is read
MAX_CHUNKS = 2000
# What FTS5's unicode61 tokenizer keeps as one token: letters and digits (`_` separates).
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def _tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


def _path_phrases(path: str) -> list[list[str]]:
    """`.../site-packages/django/core/validators.py` -> [core validators py], [validators py]."""
    parts = [p for p in re.split(r"[/\\]", path) if p.strip(".")]
    if not parts:
        return []
    # The last directory and the file name: specific enough to name one file, short enough to
    # survive another checkout prefix (lib/, src/, a virtualenv's site-packages); the file name
    # alone still finds the file after it moved to another directory.
    out = [_tokens(" ".join(parts[-2:]))]
    if "." in parts[-1].strip("."):
        out.append(_tokens(parts[-1]))
    return out


def _dotted_phrases(name: str) -> list[list[str]]:
    """`django.db.models.query.QuerySet.filter` -> [django db models query], [django db models]."""
    parts = name.split(".")
    if len(parts) == 2 and parts[1].isalnum() and parts[1].islower() and len(parts[1]) <= 4:
        return [_tokens(name)]  # a file name such as validators.py
    module: list[str] = []
    for part in parts:
        if any(c.isupper() for c in part):
            break  # a class: what follows are its attributes, not modules
        module.append(part)
    # The last lowercase part may be a function rather than a module, so the package above it
    # is searched too; a shared package is weaker evidence than a shared file, and BM25 already
    # ranks the longer, rarer phrase higher.
    return [_tokens(".".join(m)) for m in (module, module[:-1]) if len(m) >= 2]


def code_refs(text: str, limit: int = MAX_REFS) -> list[str]:
    """Phrases (tokens joined by spaces) for the files and modules `text` names, longest first.

    One-token phrases are left out: a lone `models` or `utils` names no file in particular, and
    the plain terms of the text search those words anyway.
    """
    # A normal task names a few dozen files and modules. Hostile input (a megabyte of paths or of
    # one dotted word) is cut short: distinct chunks only, and a bounded number of them.
    found: dict[str, int] = {}
    chunks: dict[str, None] = {}
    for word in dict.fromkeys(text.split()):
        if "/" in word or "\\" in word or "." in word:
            for match in _CHUNK.finditer(word):
                chunks.setdefault(match.group()[-MAX_CHUNK:].strip(".-"), None)
        if len(chunks) >= MAX_CHUNKS:
            break
    for chunk in chunks:
        if "/" in chunk or "\\" in chunk:
            phrases = _path_phrases(chunk)
        elif "." in chunk and all(_IDENTIFIER.fullmatch(p) for p in chunk.split(".")):
            phrases = _dotted_phrases(chunk)
        else:
            continue
        for tokens in phrases:
            if len(tokens) >= 2:
                found.setdefault(" ".join(tokens), len(tokens))
    seen = sorted(found, key=lambda p: -found[p])
    return seen[:limit]
