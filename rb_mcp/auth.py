"""Bearer tokens for the HTTP server: created and revoked from the CLI, kept in the bank as hashes.

A token reads `rbm_<id>_<secret>`: the id finds the row, the secret (32 random bytes, urlsafe) is
checked against the stored SHA-256 with a constant-time compare. The secret itself is shown once,
when it is created, and never stored; a high-entropy secret needs no slow hash. Each token speaks
for one identity and allows a set of projects (or all); see `rb_mcp.visibility`. Revocation takes
effect on the next request: every request reads the row again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass

from rb_mcp import ids
from rb_mcp import project as projects
from rb_mcp.clock import now
from rb_mcp.errors import InputError
from rb_mcp.models import MAX_PROJECT
from rb_mcp.redact import redact
from rb_mcp.store import Store
from rb_mcp.visibility import ALL, GLOBAL, PERSONAL, Principal, check_identity

PREFIX = "rbm_"
_TOKEN = re.compile(r"^rbm_([0-9]{1,18})_([A-Za-z0-9_-]{20,200})$")
_TOUCH_EVERY = 60.0  # seconds between last_used_at writes for one token


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    identity: str
    projects: list[str]
    created_at: str
    last_used_at: str | None
    revoked_at: str | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _project_keys(store: Store, scopes: list[str] | None) -> list[str]:
    if not scopes or ALL in scopes:
        return [ALL]
    id_key = store.get_meta(ids.KEY_META) or ""

    def name_of(name: str) -> str:  # as the bank stores a project a caller names (rb_mcp.ids)
        projects.normalise_name(name)
        return ids.stored_name(name, id_key, projects.key_of, MAX_PROJECT)

    keys: list[str] = []
    for scope in scopes:
        key = projects.resolve(scope, None, name_of)
        if key == PERSONAL:
            raise InputError(f"--scope {scope!r}: personal memory follows the identity; name a project")
        if key is None or key == GLOBAL:
            raise InputError(
                f"--scope {scope!r}: the team scope 'global' is always allowed; name a project, or '*' for all"
            )
        if key.startswith("user:"):
            raise InputError(f"--scope {scope!r}: personal scopes follow the identity; name a project")
        keys.append(key)
    return sorted(set(keys))


def create_token(
    store: Store, identity: str, scopes: list[str] | None = None, name: str = ""
) -> tuple[int, str]:
    """A new token for `identity` allowed `scopes` (projects; None or ["*"] = all): (id, the secret)."""
    who = check_identity(identity)
    if redact(who) != who:
        raise InputError("this identity looks like a secret; use the name of the person or machine")
    keys = _project_keys(store, scopes)
    secret = secrets.token_urlsafe(32)
    label = redact(name.strip()[:100])
    token_id = store.add_access_token(label, who, json.dumps(keys), hash_secret(secret), now())
    return token_id, f"{PREFIX}{token_id}_{secret}"


def list_tokens(store: Store, include_revoked: bool = True) -> list[TokenInfo]:
    rows = store.access_tokens(include_revoked)
    return [TokenInfo(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6]) for r in rows]


def revoke_token(store: Store, token_id: int) -> bool:
    """Revoke a token; False when there is no such token. Revoking twice keeps the first time."""
    return store.revoke_access_token(token_id, now())


def active_count(store: Store) -> int:
    return store.active_token_count()


class Verifier:
    """Checks presented tokens against the bank; records when each was last used (at most once a minute)."""

    def __init__(self, store: Store):
        self.store = store
        self._touched: dict[int, float] = {}

    def verify(self, presented: str) -> tuple[Principal, TokenInfo] | None:
        match = _TOKEN.match(presented.strip())
        if match is None:
            return None
        token_id, secret = int(match.group(1)), match.group(2)
        row = self.store.access_token(token_id)
        # Compare even when the row is missing, so a wrong id costs the same as a wrong secret.
        expected = row[0] if row is not None else "0" * 64
        if not hmac.compare_digest(hash_secret(secret), expected) or row is None or row[1] is not None:
            return None
        keys = json.loads(row[3])
        principal = Principal(row[2], None if ALL in keys else frozenset(keys), token_id)
        self._touch(token_id)
        return principal, TokenInfo(token_id, row[4], row[2], keys, row[5], row[6], row[1])

    def _touch(self, token_id: int) -> None:
        moment = time.monotonic()
        if moment - self._touched.get(token_id, -_TOUCH_EVERY) < _TOUCH_EVERY or self.store.read_only:
            return
        self._touched[token_id] = moment
        try:
            self.store.touch_access_token(token_id, now())
        except Exception:  # a busy or full bank must not turn a valid token away
            self._touched.pop(token_id, None)
