"""Last lines of defence, for secrets that no named rule knows.

* prose: "the password is Tr0ub4dor&3", "token 9f8e7d6c5b4a39281706f5e4", "password 'x!y'";
* random-looking runs: a 32+ character token that mixes cases and digits as randomly as a key does
  (16+ when a secret word is on the same line).  Hashes, ids and public material have shapes of their
  own and are left alone: hex digests, UUIDs, SRI/Go/Nix hashes, SSH public keys, certificates.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rb_mcp.redact._values import (
    NO_MARKER,
    Span,
    class_switches,
    entropy,
    is_stand_in,
    line_before,
    looks_like_password,
    looks_random,
)

_PROSE_RE = re.compile(
    r"(?i)(?<![\w-])(?P<word>pass(?:word|wd|phrase|code)?|pwd|pin|token|secret|api[ _-]?key|access[ _-]?key|"
    r"secret[ _-]?key|private[ _-]?key|credentials?|auth[ _-]?key|license[ _-]?key)"
    r"(?P<link>[ \t]{1,4}(?:is|was|of|to|set[ \t]to|became|->|→|for[ \t][\w.@-]{1,40}[ \t](?:is|was)|"
    r"used|in[ \t]use)|[ \t]{0,2}(?:\(|\[))?"
    r"[ \t]{1,4}(?P<q>[\"'`]?)" + NO_MARKER + r"(?P<v>[^\s\"'`,;)\]]{4,512})"
)
_SECRET_WORD_RE = re.compile(
    r"(?i)pass|pwd|secret|token|api[ _-]?key|credential|auth|private[ _-]?key|bearer|\bkey\b"
)
_RUN_RE = re.compile(r"(?<![\w+/.:@%~-])[A-Za-z0-9+/_-]{16,2000}={0,2}(?![\w+/=.@%~-])")
_BENIGN_RUN_PREFIX_RE = re.compile(r"sha\d{1,3}-|md5-|AAAA[BCE][0-9][A-Za-z]{2}|[A-Za-z]+_[a-z]+_[a-z]+")
_PUBLIC_BLOCK_RE = re.compile(
    r"-----BEGIN (?:CERTIFICATE|[A-Z ]{0,20}PUBLIC KEY(?: BLOCK)?|[A-Z ]{0,20}REQUEST)-----"
)
_PUBLIC_END_RE = re.compile(
    r"-----END (?:CERTIFICATE|[A-Z ]{0,20}PUBLIC KEY(?: BLOCK)?|[A-Z ]{0,20}REQUEST)-----"
)


def find_prose(text: str, low: str) -> Iterator[Span]:
    for m in _PROSE_RE.finditer(text):
        word = m.group("word").lower()
        value = m.group("v").rstrip(".:!?") if not m.group("q") else m.group("v")
        # Without a linking word ("password X") only a quoted or random-looking value counts.
        linked = bool(m.group("link")) or bool(m.group("q"))
        if word == "pin":
            secret = linked and (value.isdigit() and 4 <= len(value) <= 8 or looks_like_password(value))
        elif word.startswith("pass") or word in ("pwd", "secret"):
            # Unlinked ("password X") needs a value no sentence has: a digit in a non-word, or randomness.
            strong = looks_random(value) or (
                any(c.isdigit() for c in value) and any(c.isalpha() for c in value)
            )
            secret = looks_like_password(value) and (linked or strong)
        else:
            secret = looks_random(value) and len(value) >= 12 and not is_stand_in(value)
        if secret:
            yield m.start("v"), m.start("v") + len(value), "password" if word.startswith("pass") else "secret"


def _public_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for m in _PUBLIC_BLOCK_RE.finditer(text):
        end = _PUBLIC_END_RE.search(text, m.end())
        spans.append((m.start(), end.end() if end else len(text)))
    return spans


_WORD_PART_RE = re.compile(r"[a-z]{4,}|[A-Z][a-z]{3,}")


def _random_run(run: str, min_len: int) -> bool:
    body = run.rstrip("=")
    if len(body) < min_len or _BENIGN_RUN_PREFIX_RE.match(body):
        return False
    if any(c in body for c in "-_/") and sum(map(len, _WORD_PART_RE.findall(body))) * 2 >= sum(
        c.isalpha() for c in body
    ):
        return False  # "sentence-transformers/all-MiniLM-L6-v2": a name made of words
    upper = sum(c.isupper() for c in body)
    lower = sum(c.islower() for c in body)
    digits = sum(c.isdigit() for c in body)
    if not (upper and lower and digits):
        return False
    # Thresholds sit below the 0.1st percentile of random base62 tokens of that length.
    return class_switches(body) >= 0.3 and entropy(body) >= (3.9 if len(body) >= 32 else 3.3)


def find_random_runs(text: str, low: str) -> Iterator[Span]:
    public = _public_spans(text) if "-----begin" in low else []
    for m in _RUN_RE.finditer(text):
        if any(s <= m.start() < e for s, e in public):
            continue
        line_start = line_before(text, m.start(), 200)
        before = text[line_start : m.start()]
        if (
            before.endswith(("base64,", "sha256:", "sha512:", "sha1:", "md5:"))
            or "integrity" in before.lower()
        ):
            continue
        min_len = 16 if _SECRET_WORD_RE.search(before) else 32
        if _random_run(m.group(), min_len):
            yield m.start(), m.end(), "high-entropy"
