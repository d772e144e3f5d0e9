"""Secret scrubbing applied to every piece of text before it is stored.

Memory items outlive the task that produced them and may be shown to other agents, so anything
that looks like a credential is replaced by a ``[REDACTED:<kind>]`` marker while the surrounding
context (variable names, URL hosts, header names) is kept, because that context is what makes a
lesson readable later.

The rules live in one module per family:

    _vendors     fixed-shape tokens of named services (ghp_..., AKIA..., hvs....)
    _structured  PEM and PuTTY keys, URLs and DSNs, ODBC strings, HTTP headers, .netrc, Docker/npm
                 auth entries, .pgpass, SQL statements, XML settings
    _assign      name = value in env files, configs, code, flags, subscripts and call arguments
    _commands    shell command lines: short password flags, positional secrets, stdin pipes, the
                 output of token-printing commands, expect scripts
    _fallback    prose ("the password is ...") and random-looking runs that no rule names
    _values      the judgement they share: secret-sounding names, stand-ins, randomness

Design constraints that shape the code:

* Every regex starts at a token boundary (a negative lookbehind on the token's own alphabet) and
  uses bounded repetition, so scanning stays linear on multi-megabyte adversarial input.  Python
  3.10 has neither possessive quantifiers nor atomic groups, hence the bounds (and one emulated
  atomic group).  Context that a regex cannot bound (the command a flag belongs to) is read from a
  bounded window in Python.
* Deciding whether ``name = value`` holds a secret needs judgement (is the name secret-sounding,
  is the value a literal or code?), so those rules match broadly and decide in Python.
* Rules are scanned independently and their hits are merged as a union of spans: a secret that
  several rules see is removed entirely even if the rules disagree on where it ends.
* Existing markers are never re-redacted, and :func:`redact` repeats until nothing changes, which
  makes it idempotent by construction.
"""

from __future__ import annotations

import bisect
import re
from typing import Any

from rb_mcp.redact._assign import (
    find_call_credentials,
    find_cli_flags,
    find_client_literals,
    find_generic,
    find_pair_args,
    find_short_flags,
    find_spaced_config,
    find_subscripts,
)
from rb_mcp.redact._commands import (
    find_commands,
    find_expect_replies,
    find_printed_secrets,
    find_stdin_secrets,
)
from rb_mcp.redact._fallback import find_prose, find_random_runs
from rb_mcp.redact._structured import (
    find_auth_entries,
    find_auth_headers,
    find_dsn_credentials,
    find_login_pairs,
    find_odbc,
    find_pem,
    find_pgpass,
    find_putty,
    find_sql_passwords,
    find_url_credentials,
    find_xml,
)
from rb_mcp.redact._values import SENTINEL, Finder, key_kind, value_is_secret
from rb_mcp.redact._vendors import find_openai, find_tokens

__all__ = ["find_secrets", "redact", "redact_obj"]

_MARKER_RE = re.compile(r"\[REDACTED:[a-z0-9-]{1,40}\]")
_MAX_PASSES = 6

# (start, end, priority, kind); a lower priority number means a more specific rule, whose kind
# wins when overlapping hits are merged.
_Hit = tuple[int, int, int, str]


def _marker(kind: str) -> str:
    return f"[REDACTED:{kind}]"


# Order is priority: specific token formats name the kind when they overlap a generic hit.  Each
# finder is skipped unless one of its lowercase needles occurs, which keeps clean text cheap.
_FINDERS: tuple[tuple[tuple[str, ...], Finder], ...] = (
    (("-----begin",), find_pem),
    (("private-",), find_putty),
    ((), find_tokens),
    (("sk-",), find_openai),
    (("://",), find_url_credentials),
    (
        ("@tcp(", "@unix(", "oracle", "sqlplus", "expdp", "impdp", "sqlldr", "rman", "dgmgrl"),
        find_dsn_credentials,
    ),
    (("password", "pwd", "accountkey", "sharedaccess"), find_odbc),
    (("authorization", "bearer", "cookie"), find_auth_headers),
    (("login", "-u", "--user", "-a", "--auth", "-U", "password"), find_login_pairs),
    (("auth", "identitytoken"), find_auth_entries),
    ((":",), find_pgpass),
    (("identified", "password"), find_sql_passwords),
    (("</", "value", "/>"), find_xml),
    (("-",), find_cli_flags),
    ((" ",), find_commands),
    (("|", "<<<"), find_stdin_secrets),
    (("token", "auth", "rand", "pwgen", "read", "secrets", "credential", "password"), find_printed_secrets),
    (("assword", "passphrase", "token", "secret", "pin"), find_expect_replies),
    (("[",), find_subscripts),
    ((",",), find_pair_args),
    (("(", "["), find_call_credentials),
    (("(",), find_client_literals),
    (("-",), find_short_flags),
    ((" ", "\t"), find_spaced_config),
    ((), find_generic),  # vendor names make a setting secret too, so no needle list would be complete
    (("pass", "pwd", "pin", "token", "secret", "key", "credential"), find_prose),
    ((), find_random_runs),
)


def _compress(text: str) -> tuple[str, list[int], list[int]]:
    """Replace each marker by one SENTINEL, so a second pass scans text no longer than the first.

    Returns the compressed text, the sentinel positions in it, and for each sentinel the number of
    characters the markers up to and including it removed (to map positions back).
    """
    parts: list[str] = []
    where: list[int] = []
    removed: list[int] = []
    cursor = total = length = 0
    for m in _MARKER_RE.finditer(text):
        parts.append(text[cursor : m.start()])
        length += m.start() - cursor
        where.append(length)
        parts.append(SENTINEL)
        length += 1
        total += len(m.group()) - 1
        removed.append(total)
        cursor = m.end()
    if not where:
        return text, where, removed
    parts.append(text[cursor:])
    return "".join(parts), where, removed


def _scan(text: str) -> list[_Hit]:
    scanned, where, removed = _compress(text)
    low = scanned.lower()
    hits: list[_Hit] = []
    for priority, (needles, finder) in enumerate(_FINDERS):
        if needles and not any(n in low for n in needles):
            continue
        for start, end, kind in finder(scanned, low):
            if end <= start:
                continue
            # Split around sentinels: a marker is never redacted again.
            i = bisect.bisect_left(where, start)
            cursor = start
            while cursor < end:
                stop = where[i] if i < len(where) and where[i] < end else end
                if stop > cursor and any(c.isalnum() for c in scanned[cursor:stop]):
                    # Slivers left between markers (a quote, a space) carry no secret.
                    shift = removed[i - 1] if i > 0 else 0
                    hits.append((cursor + shift, stop + shift, priority, kind))
                cursor = stop + 1
                i += 1
    hits.sort(key=lambda h: (h[0], -h[1]))
    merged: list[_Hit] = []
    for start, end, priority, kind in hits:
        if merged and start < merged[-1][1]:
            m_start, m_end, m_priority, m_kind = merged[-1]
            if priority < m_priority:
                m_priority, m_kind = priority, kind
            merged[-1] = (m_start, max(m_end, end), m_priority, m_kind)
        else:
            merged.append((start, end, priority, kind))
    return merged


def _apply(text: str, hits: list[_Hit]) -> str:
    parts: list[str] = []
    cursor = 0
    for start, end, _, kind in hits:
        parts.append(text[cursor:start])
        parts.append(_marker(kind))
        cursor = end
    parts.append(text[cursor:])
    return "".join(parts)


def find_secrets(text: str) -> list[tuple[str, int, int]]:
    """Return ``(kind, start, end)`` for every secret found in ``text``, sorted and non-overlapping."""
    if not isinstance(text, str):
        return []
    try:
        return [(kind, start, end) for start, end, _, kind in _scan(text)]
    except Exception:  # noqa: BLE001 - a scanner bug must not break callers; redact() fails closed
        return []


def redact(text: str) -> str:
    """Return ``text`` with every detected secret replaced by ``[REDACTED:<kind>]``.

    Idempotent and total: it never raises on a ``str``.  If scanning fails unexpectedly the whole
    text is withheld, because storing an unscanned secret is worse than losing one memory.
    """
    try:
        out = text if isinstance(text, str) else str(text)
        for _ in range(_MAX_PASSES):
            hits = _scan(out)
            if not hits:
                break
            out = _apply(out, hits)
        return out
    except Exception:  # noqa: BLE001 - fail closed, see docstring
        return _marker("unscannable")


def _redact_keyed(key: Any, value: Any) -> Any:
    # Inside a mapping the key carries the context a bare value lacks: {"password": "hunter2"}.
    if isinstance(key, str) and isinstance(value, str):
        kind = key_kind(key)
        already = _MARKER_RE.fullmatch(value.strip()) is not None
        if kind is not None and not already and value_is_secret(value, "quoted", kind):
            return _marker(kind)
    return redact_obj(value)


def redact_obj(obj: Any) -> Any:
    """Recursively redact strings inside dicts, lists, tuples and sets; other values pass through.

    Returns a new container; string keys are redacted too.  A string value under a secret-sounding
    key (``password``, ``api_key``...) is replaced entirely.
    """
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {(redact(k) if isinstance(k, str) else k): _redact_keyed(k, v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact_obj(v) for v in obj]
    if isinstance(obj, tuple):
        items = [redact_obj(v) for v in obj]
        if hasattr(obj, "_fields"):  # namedtuple: rebuild positionally to keep the type
            return type(obj)(*items)
        return tuple(items)
    if isinstance(obj, (set, frozenset)):
        return type(obj)(redact_obj(v) for v in obj)
    return obj
