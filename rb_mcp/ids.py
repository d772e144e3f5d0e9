"""Identifiers as the bank stores them: the project and attempt-group names a caller sends, and
the recall ids it gets back.

Everything stored passes `rb_mcp.redact`, names included. A name that holds no secret is stored
as it is. A name that does is stored as its redacted text plus a keyed digest of the whole name
(`acme/[REDACTED:github-token]~k5q...`): the same name always maps to the same stored name, so a
project keeps working, and two names that differ only in their secret stay apart.

An attempt group is stored under a digest of (identity, project, group_id), readable prefix
first: the same group_id sent from another project or by another identity is another group, so
nobody's refinement notes or attempts reach anyone else's prompts. A recall id goes out as
`<n>-<mac>`, the row number with a MAC of it: recall ids cannot be walked or guessed.

The digests are keyed with a random key per bank (meta `id_key`, made by the schema migration):
an export leaves it out, so nobody holding an export can test guesses of a secret against them.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable

from rb_mcp import project as projects


def redact(text: str) -> str:
    # Deferred: the server lists its tools (and reads this module) before the redaction rules load.
    from rb_mcp.redact import redact as scrub

    return scrub(text)


KEY_META = "id_key"
_TAIL = 17  # "~" and 16 digest characters
_HANDLE = re.compile(r"^\s*([1-9][0-9]{0,18})-([a-z2-7]{16})\s*$")
MAX_ROW_ID = 2**63 - 1


def new_key() -> str:
    return secrets.token_hex(32)


def digest(key: str, *parts: str) -> str:
    """16 characters (80 bits) of HMAC-SHA256 over `parts`, unambiguously joined."""
    message = json.dumps(parts).encode()  # ASCII: lone surrogates are escaped, never an error
    mac = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return base64.b32encode(mac[:10]).decode().lower()


def _safe(shown: str, tail: str, limit: int) -> str:
    out = shown[: limit - len(tail)].rstrip() + tail
    return out if redact(out) == out else "[REDACTED:id]" + tail


@functools.lru_cache(maxsize=4096)  # redacting costs ~0.15 ms a call; the same few names come back
def stored_name(raw: str, key: str, normalise: Callable[[str], str], limit: int) -> str:
    """The name `raw` is stored under: `normalise(raw)` when no secret survives into it, else
    its redacted text with a keyed digest of `normalise(raw)`.

    Secrets are looked for in `raw` itself: normalising (lowercasing, say) can hide a token's
    shape from the redactor. A secret that normalising drops (a password in a remote URL) costs
    nothing."""
    plain = normalise(raw)
    masked = normalise(redact(raw))
    if masked == plain and redact(plain) == plain:
        return plain
    return _safe(redact(masked), "~" + digest(key, "name", plain), limit)


def rekeyed(name: str, key: str, limit: int) -> str:
    """The name to keep for a project name found stored (an export, an older bank): as it is when
    it holds no secret, else what `Bank.name_of` stores for a caller naming it so."""
    if redact(name) == name:
        return name
    return stored_name(name, key, projects.key_of, limit)


@functools.lru_cache(maxsize=4096)
def group_key(key: str, identity: str, scope: str | None, group_id: str, limit: int) -> str:
    """The stored id of the attempt group `group_id` of `identity` in `scope`."""
    tail = "~" + digest(key, "group", identity, scope or "global", group_id)
    return _safe(redact(" ".join(group_id.split())), tail, limit)


def shown_group(stored: str) -> str:
    """The name a caller gave the group stored as `stored` (its redacted text, without the digest)."""
    name, sep, tail = stored.rpartition("~")
    return name if sep and len(tail) == 16 else stored


def recall_handle(key: str, recall_id: int) -> str:
    """The recall id a caller sees for the recall event `recall_id`."""
    return f"{recall_id}-{digest(key, 'recall', str(recall_id))}"


def recall_number(key: str, handle: str) -> int | None:
    """The recall event a handle names; None when it is not one this bank handed out."""
    match = _HANDLE.match(handle) if isinstance(handle, str) else None
    if match is None:
        return None
    number = int(match.group(1))
    if number > MAX_ROW_ID:
        return None
    expected = digest(key, "recall", str(number))
    return number if hmac.compare_digest(match.group(2), expected) else None
