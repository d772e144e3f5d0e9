"""The review page's guard: the page can rewrite the memory that steers an agent, so only the person
who launched it may use it, from its own origin.

Every request, in this order (an ASGI middleware in front of every route, static files included):

- `Host` must be exactly the address the launch printed (`127.0.0.1:PORT`), else 421: a DNS
  rebinding page under another name never reaches a route;
- requests carrying proxy headers (`X-Forwarded-For`, `Forwarded`, ...) get 403: the page is for
  the local browser, not for a tunnel;
- only GET, HEAD and POST exist (405); GET and HEAD never change anything;
- an `Origin` header, when sent, must be exactly the page's origin (403); a POST must send it, and a
  `Sec-Fetch-Site` other than same-origin is refused;
- the launch token: the printed URL carries it once (`/?token=...`); that visit sets it as a
  cookie (HttpOnly, SameSite=Strict, named after the port) and redirects to the same page without
  it. Every other request must carry the cookie: without it, 403;
- a POST must be a URL-encoded form of at most `MAX_BODY` bytes whose `csrf` field holds this
  launch's CSRF token (403 otherwise), checked here for every route before the route runs.

Every response gets a strict Content-Security-Policy (`default-src 'self'`, no inline script or
style, no frames, forms only to the page itself), `nosniff`, `no-store` and a same-origin referrer
policy (under `no-referrer` a browser sends `Origin: null` with a form post, which the check refuses).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from rb_mcp.errors import InputError

MAX_BODY = 256 * 1024
PROXY_HEADERS = (b"forwarded", b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-proto", b"x-real-ip")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # no-referrer would make browsers send `Origin: null`
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def loopback(host: str) -> str:
    """The address to listen on for `--host`: loopback only (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise InputError(
            f"--host {host!r} is not a loopback address; the review page can rewrite memory, so it listens "
            "on 127.0.0.1 (or ::1) only: open it on the machine that runs it"
        )
    return str(address)


@dataclass(frozen=True)
class Launch:
    """One run of `rb-mcp ui`: where it listens and its secrets (made anew each launch)."""

    address: str
    port: int
    token: str
    csrf: str

    @classmethod
    def new(cls, address: str, port: int) -> Launch:
        return cls(address, port, secrets.token_urlsafe(32), secrets.token_urlsafe(32))

    @property
    def host(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"

    @property
    def origin(self) -> str:
        return f"http://{self.host}"

    @property
    def url(self) -> str:
        """The address to open: the page with this launch's token."""
        return f"{self.origin}/?token={self.token}"

    @property
    def cookie(self) -> str:
        return f"rb_mcp_ui_{self.port}"


def _same(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


def _cookies(raw: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in raw.split(";"):
        name, _, value = part.strip().partition("=")
        if name and name not in found:
            found[name] = value
    return found


class Guard:
    """ASGI middleware that lets through only the launch's own browser (see the module docstring)."""

    def __init__(self, app: Any, launch: Launch):
        self.app = app
        self.launch = launch

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            return
        headers: dict[bytes, str] = {}
        for key, value in scope["headers"]:
            headers.setdefault(key.lower(), value.decode("latin-1"))
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await _plain(send, *refusal)
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        if scope["method"] == "GET" and _same(query.get("token"), self.launch.token):
            await self._admit(scope, query, send)
            return
        cookie = _cookies(headers.get(b"cookie", "")).get(self.launch.cookie)
        if not _same(cookie, self.launch.token):
            await _plain(send, 403, "Forbidden: open the address that `rb-mcp ui` printed (it carries this "
                         "launch's token).")  # fmt: skip
            return
        if scope["method"] == "POST":
            body = await _body(receive, int(headers.get(b"content-length", "0") or 0))
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            if not _same(form.get("csrf"), self.launch.csrf):
                await _plain(send, 403, "Forbidden: the form lacks this page's CSRF token; reload the page.")
                return
            receive = _replay(body)
        await self.app(scope, receive, _secured(send))

    def _refusal(self, scope: dict, headers: dict[bytes, str]) -> tuple[int, str] | None:
        method = scope["method"]
        if headers.get(b"host") != self.launch.host:
            return 421, f"Misdirected request: this page answers only at {self.launch.origin}."
        if any(h in headers for h in PROXY_HEADERS):
            return 403, "Forbidden: the review page is for the local browser, not through a proxy."
        if method not in ("GET", "HEAD", "POST"):
            return 405, "Method not allowed."
        origin = headers.get(b"origin")
        if origin is not None and origin != self.launch.origin:
            return 403, "Forbidden: a request from another origin."
        if method == "POST":
            if origin is None:
                return 403, "Forbidden: a change must come from the page itself (no Origin header)."
            if headers.get(b"sec-fetch-site", "same-origin") != "same-origin":
                return 403, "Forbidden: a change must come from the page itself."
            if headers.get(b"content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
                return 415, "Unsupported media type: send the page's form."
            length = headers.get(b"content-length", "")
            if not length.isdigit():
                return 411, "Length required."
            if int(length) > MAX_BODY:
                return 413, f"Request too large: at most {MAX_BODY // 1024} KB."
        return None

    async def _admit(self, scope: dict, query: dict[str, str], send: Any) -> None:
        """The first visit: the token becomes a cookie, and the address loses it."""
        rest = urlencode({k: v for k, v in query.items() if k != "token"})
        location = scope.get("path", "/") + (f"?{rest}" if rest else "")
        cookie = f"{self.launch.cookie}={self.launch.token}; Path=/; HttpOnly; SameSite=Strict"
        await _secured(send)({
            "type": "http.response.start", "status": 303,
            "headers": [(b"location", location.encode()), (b"set-cookie", cookie.encode()),
                        (b"content-length", b"0")],
        })  # fmt: skip
        await send({"type": "http.response.body", "body": b""})


async def _body(receive: Any, length: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max(length, 0) or size > MAX_BODY:
            break
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Any:
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _secured(send: Any) -> Any:
    async def wrapped(message: dict) -> None:
        if message["type"] == "http.response.start":
            names = {k.lower() for k, _ in message.get("headers", [])}
            extra = [(k, v) for k, v in HEADERS if k not in names]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped


async def _plain(send: Any, status: int, text: str) -> None:
    body = text.encode()
    await _secured(send)({
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})
