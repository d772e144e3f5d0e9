"""Who may see which memory: personal, project and team scopes, decided by the caller's identity.

Every item and trajectory lives in one scope:

    user:<identity>    personal: seen only by that identity
    <project key>      project: seen by identities whose token allows that project ("*" = all)
    global             team: seen by everyone

Over stdio (and an HTTP server with no tokens, on loopback) there is no principal: the local user
sees and writes everything, as before. The HTTP server binds the principal of each request's
bearer token with `bound(...)`; from then on the scope checks below apply to everything the call
reads or writes. Nothing here knows about MCP or HTTP: the binding is a context variable, which
worker threads inherit through `anyio.to_thread` and `contextvars.copy_context`.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from rb_mcp import project as projects
from rb_mcp.errors import AccessError, InputError, RbError

GLOBAL = "global"
PERSONAL = "personal"
ALL = "*"
USER_PREFIX = "user:"
_IDENTITY = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")


@dataclass(frozen=True)
class Principal:
    """The identity a request speaks for and the projects its token allows (None = all)."""

    identity: str
    projects: frozenset[str] | None
    token_id: int | None = None

    @property
    def personal(self) -> str:
        return USER_PREFIX + self.identity

    def can_see(self, scope: str | None) -> bool:
        scope = scope or GLOBAL
        if scope == GLOBAL or scope == self.personal:
            return True
        if scope.startswith(USER_PREFIX):
            return False
        return self.projects is None or scope in self.projects


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("rb_mcp_principal", default=None)
_required = False


def check_identity(identity: str) -> str:
    cleaned = identity.strip().lower()
    if not _IDENTITY.match(cleaned):
        raise InputError(
            f"identity {identity!r} is not usable: use 1-64 characters, letters, digits, '.', '_', '@' or '-'"
        )
    return cleaned


def require_principal() -> None:
    """From now on in this process, a call without a bound principal is refused (fail closed)."""
    global _required
    _required = True


def current() -> Principal | None:
    principal = _current.get()
    if principal is None and _required:
        raise RbError("this call carries no client identity; it was refused (authentication is required)")
    return principal


@contextlib.contextmanager
def bound(principal: Principal | None) -> Iterator[None]:
    token = _current.set(principal)
    try:
        yield
    finally:
        _current.reset(token)


def resolve(
    project: str | None, default: str | None, name_of: Callable[[str], str] = projects.normalise_name
) -> str | None:
    """The scope key a call reads and writes, checked against the caller's identity; `name_of`
    turns a project name into its key (the bank's redacting one).

    Without a principal this is `project.resolve` unchanged. With one, "personal" names the caller's
    own scope, an omitted project falls back to the token's only project (else the server's default
    when the token allows it, else the team scope), a path is a plain name (not resolved on the
    server's disk), and a scope the token may not see is an error.
    """
    principal = current()
    if principal is None:
        return projects.resolve(project, default, name_of)
    if project is not None and project.strip().lower() == PERSONAL:
        return principal.personal
    if project is None or not project.strip():
        if principal.projects is not None and len(principal.projects) == 1:
            return next(iter(principal.projects))
        return default if default and principal.can_see(default) else None
    # A remote client's path names nothing on this machine: never look it up on the server's disk.
    scope = name_of(project)
    check(scope)
    return scope


def check(scope: str | None, subject: str = "") -> None:
    """Refuse a scope the caller may not see; `subject` names what lives there (a trajectory, a group)."""
    principal = current()
    if principal is None or principal.can_see(scope):
        return
    where = f"{subject} is in" if subject else "the call names"
    if (scope or "").startswith(USER_PREFIX):
        raise AccessError(
            f"{where} {scope!r}, another person's personal memory; use project='personal' for your own"
        )
    allowed = ", ".join(sorted(principal.projects or ())) or "none"
    raise AccessError(
        f"{where} project {scope!r}, which the token of {principal.identity!r} does not allow (allowed "
        f"projects: {allowed}; the team scope 'global' and project='personal' are always allowed)"
    )


def owner() -> str:
    """Who a new trajectory or recall belongs to: the caller's identity; "" for the local user."""
    principal = current()
    return principal.identity if principal is not None else ""


def owns(row_owner: str | None) -> bool:
    """Whether the caller may act on a trajectory or recall of `row_owner` (the local user may on any)."""
    principal = current()
    return principal is None or (row_owner or "") == principal.identity


def owner_filter(column: str) -> tuple[str, list[str]]:
    """A SQL condition (and its parameters) keeping rows the caller owns (all for the local user)."""
    principal = current()
    if principal is None:
        return "1 = 1", []
    return f"{column} = ?", [principal.identity]


def partitions(scope: str | None) -> list[str]:
    """The scopes a recall searches: the call's scope, the caller's personal scope, the team scope."""
    found = [scope, GLOBAL] if scope and scope != GLOBAL else [GLOBAL]
    principal = current()
    if principal is not None and principal.personal not in found:
        found.insert(1 if scope and scope != GLOBAL else 0, principal.personal)
    return found


def visible(scopes: Sequence[str | None]) -> list[bool]:
    principal = current()
    return [principal is None or principal.can_see(s) for s in scopes]


def sql_filter(column: str) -> tuple[str, list[str]]:
    """A SQL condition (and its parameters) keeping rows whose `column` scope the caller may see."""
    principal = current()
    if principal is None:
        return "1 = 1", []
    col = f"coalesce({column}, '{GLOBAL}')"
    if principal.projects is None:
        return f"({col} not like 'user:%' or {col} = ?)", [principal.personal]
    allowed = [GLOBAL, principal.personal, *sorted(principal.projects)]
    return f"{col} in ({','.join('?' * len(allowed))})", allowed
