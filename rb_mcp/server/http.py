"""`rb-mcp serve --http`: the same MCP server over the SDK's streamable HTTP transport.

Layers of one request, outermost first (all from the mcp SDK but the last):

    bearer auth      AuthenticationMiddleware + RequireAuthMiddleware with our `BankTokenVerifier`:
                     no token, an unknown or a revoked one -> 401 with WWW-Authenticate
    transport checks TransportSecuritySettings: Host not allowed -> 421, Origin not allowed -> 403
                     (DNS rebinding); a request without Origin (not a browser) passes
    session          a session is bound to the token that opened it
    `bind_principal` server middleware: the token's identity and projects become the
                     `rb_mcp.visibility` principal of the tool call (fail closed without one)

Auth is on when the bank holds at least one active token at start. Without tokens the server
only serves loopback (a non-loopback bind or an extra allowed Host is refused at start, and so is
any request a reverse proxy forwarded), and the local user sees everything, as over stdio.
"""

from __future__ import annotations

import ipaddress
import logging
import sys
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError

from rb_mcp import visibility
from rb_mcp.auth import Verifier, active_count
from rb_mcp.config import Config
from rb_mcp.errors import RbError
from rb_mcp.server.wire import CheckedBodies, ExactHosts
from rb_mcp.store import open_store
from rb_mcp.visibility import Principal

log = logging.getLogger(__name__)

PATH = "/mcp"
LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class HttpOptions:
    host: str = "127.0.0.1"
    port: int = 8765
    allowed_origins: tuple[str, ...] = field(default_factory=tuple)
    allowed_hosts: tuple[str, ...] = field(default_factory=tuple)


def transport_security(options: HttpOptions) -> TransportSecuritySettings:
    hosts = list(LOOPBACK_HOSTS) + list(options.allowed_hosts)
    if not is_loopback(options.host) and options.host not in ("0.0.0.0", "::"):
        hosts += [options.host, f"{options.host}:*"]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts,
        allowed_origins=list(LOOPBACK_ORIGINS) + list(options.allowed_origins),
    )


class BankTokenVerifier:
    """The SDK's TokenVerifier over `rb_mcp.auth.Verifier` (SQLite work runs in a worker thread)."""

    def __init__(self, verifier: Verifier):
        self.verifier = verifier

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            found = await anyio.to_thread.run_sync(self.verifier.verify, token)
        except RbError as exc:
            log.error("token check failed: %s", exc)
            return None
        if found is None:
            return None
        principal, info = found
        return AccessToken(
            token=f"rbm_{info.id}",  # the secret is not kept around in memory
            client_id=f"rb-mcp-token-{info.id}",
            subject=principal.identity,
            scopes=[],
            claims={"identity": principal.identity, "projects": info.projects, "token_id": info.id},
        )


def principal_of(token: AccessToken) -> Principal:
    claims = token.claims or {}
    keys = list(claims.get("projects") or [])
    return Principal(
        identity=str(claims["identity"]),
        projects=None if visibility.ALL in keys else frozenset(keys),
        token_id=claims.get("token_id"),
    )


def _request_token(ctx: Any) -> AccessToken | None:
    request = getattr(ctx, "request", None)
    user = getattr(request, "scope", {}).get("user") if request is not None else None
    if isinstance(user, AuthenticatedUser):
        return user.access_token
    return get_access_token()


class BindPrincipal:
    """Server middleware: the request's token becomes the visibility principal of the call."""

    def __init__(self, required: bool):
        self.required = required

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        token = _request_token(ctx)
        if token is None:
            if self.required:
                raise MCPError(code=-32001, message="authentication required: send a bearer token")
            return await call_next(ctx)
        with visibility.bound(principal_of(token)):
            return await call_next(ctx)


class LocalOnly:
    """Without tokens: refuse what a reverse proxy forwarded, since its clients are not local users."""

    FORWARDED = (b"forwarded", b"x-forwarded-for", b"x-forwarded-host", b"x-real-ip")

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and any(k.lower() in self.FORWARDED for k, _ in scope.get("headers", [])):
            from starlette.responses import PlainTextResponse

            answer = PlainTextResponse(
                "rb-mcp serves without authentication (no access token exists) and refuses proxied requests; "
                "create a token with `rb-mcp token create` and restart",
                status_code=403,
            )
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)


def build_app(config: Config, options: HttpOptions) -> Any:
    """The ASGI app: bearer auth when tokens exist; without tokens, loopback only (else RbError)."""
    from rb_mcp.server.app import build_server

    store = open_store(config.bank)
    tokens = active_count(store)
    exposed = not is_loopback(options.host) or options.allowed_hosts
    if tokens == 0 and exposed:
        store.close()
        where = options.host if not is_loopback(options.host) else ", ".join(options.allowed_hosts)
        raise RbError(
            f"refusing to serve {where} without authentication: no access token exists, so anyone who can "
            "reach the port would read and write the bank. Create one first (rb-mcp token create --identity "
            "NAME), or listen on 127.0.0.1 without --allowed-host"
        )
    if tokens == 0:
        store.close()
        log.warning("no access tokens: serving without authentication on loopback (%s)", options.host)
        app = build_server(config)
        app.middleware.append(BindPrincipal(required=False))
        return LocalOnly(_checked(app, options, auth_required=False))
    visibility.require_principal()
    # The SDK's bearer middleware needs AuthSettings; with no resource_server_url and no OAuth provider,
    # issuer_url is never published (no metadata or OAuth routes are mounted).
    auth = AuthSettings(issuer_url=f"http://{options.host}:{options.port}", resource_server_url=None)
    app = build_server(config, token_verifier=BankTokenVerifier(Verifier(store)), auth=auth)
    app.middleware.append(BindPrincipal(required=True))
    return _checked(app, options, auth_required=True)


def _checked(app: Any, options: HttpOptions, auth_required: bool) -> Any:
    """The SDK's streamable HTTP app behind exact Host/Origin checks, its MCP endpoint answering
    bodies that do not parse (`rb_mcp.server.wire`)."""
    security = transport_security(options)
    starlette_app = app.streamable_http_app(
        streamable_http_path=PATH, transport_security=security, host=options.host
    )
    for route in starlette_app.routes:
        if getattr(route, "path", None) == PATH:
            inner = route.app
            # Behind the bearer check when there is one: the body of an unauthenticated request is not read.
            if hasattr(inner, "required_scopes") and hasattr(inner, "app"):
                inner.app = CheckedBodies(inner.app, auth_required)
            else:
                route.app = CheckedBodies(inner, auth_required)
    return ExactHosts(starlette_app, security.allowed_hosts, security.allowed_origins)


def serve(config: Config, options: HttpOptions) -> None:
    import uvicorn

    starlette_app = build_app(config, options)
    host = f"[{options.host}]" if ":" in options.host else options.host
    print(f"rb-mcp: serving MCP at http://{host}:{options.port}{PATH}", file=sys.stderr, flush=True)
    server = uvicorn.Server(
        uvicorn.Config(
            starlette_app,
            host=options.host,
            port=options.port,
            log_level=config.log_level.lower(),
            access_log=config.log_level.upper() in ("DEBUG", "INFO"),
            server_header=False,
        )
    )
    server.run()
