"""The JSON-RPC wire under the SDK: every request gets an answer, and only exact hosts are let in.

- A request line the SDK's parser refuses (not JSON, a lone surrogate escape such as "\\ud800",
  nesting deeper than the parser allows) is dropped by mcp 2.3's stdio transport, and answered
  over HTTP with `"id": null`: either way the client waits forever for its request. Here it gets
  a JSON-RPC error carrying its own id (read from the top level of the raw text when it is there)
  and a message that says what was wrong. The server goes on with the next message.
- The SDK's Host and Origin check takes `localhost:*` as a prefix, so `localhost:8765.evil.example`
  passed. `ExactHosts` admits a name as listed, or `name:<port>` (digits only) for a `name:*` entry,
  and answers everything else as the SDK does: 421 for a Host, 403 for an Origin.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import anyio
import pydantic_core
from mcp.server import MCPServer
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp_types import INVALID_REQUEST, PARSE_ERROR, ErrorData, JSONRPCError
from pydantic import ValidationError

log = logging.getLogger(__name__)

MAX_SCAN = 1 << 16  # characters of a refused request searched for its id
_NUMBER = re.compile(r"-?[0-9]{1,19}")
_STRING = re.compile(r'"(?:[^"\\]|\\.){0,200}"')


def top_level_id(raw: str) -> int | str | None:
    """The `id` of the top-level object of a request that may not parse as a whole; None when absent."""
    depth, i, n = 0, 0, min(len(raw), MAX_SCAN)
    while i < n:
        ch = raw[i]
        if ch == '"':
            end = i + 1
            while end < n and raw[end] != '"':
                end += 2 if raw[end] == "\\" else 1
            key = raw[i + 1 : end]
            rest = raw[end + 1 : end + 400].lstrip()
            if depth == 1 and key == "id" and rest.startswith(":"):
                return _id_value(rest[1:].lstrip())
            i = end + 1
            continue
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
        i += 1
    return None


def _id_value(text: str) -> int | str | None:
    if match := _STRING.match(text):
        try:
            value = json.loads(match.group())
            value.encode("utf-8")
        except (ValueError, UnicodeEncodeError):
            return None
        return value
    if match := _NUMBER.match(text):
        return int(match.group())
    return None


def describe(exc: Exception) -> tuple[int, str]:
    """(JSON-RPC code, message) for a message the SDK's parser refused."""
    detail = str(exc)
    if isinstance(exc, ValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        if first.get("type") != "json_invalid":
            return (
                INVALID_REQUEST,
                "not a JSON-RPC 2.0 request: it needs jsonrpc '2.0', an id, a method and params",
            )
        detail = str(first.get("msg", detail))
    if "recursion" in detail:
        return PARSE_ERROR, "parse error: the request nests arrays or objects too deeply; flatten it"
    if "escape" in detail or "surrogate" in detail:
        return PARSE_ERROR, (
            "parse error: a \\u escape in the request is not valid Unicode text (a lone surrogate such as "
            "\\ud800); send the text as UTF-8"
        )
    return PARSE_ERROR, f"parse error: the request is not valid JSON ({detail[:200]})"


def raw_text(exc: Exception) -> str:
    errors = exc.errors() if isinstance(exc, ValidationError) else []
    found = errors[0].get("input") if errors else None
    return found if isinstance(found, str) else ""


def answer_for(exc: Exception, raw: str | bytes | None = None) -> JSONRPCError:
    if raw is None:
        raw = raw_text(exc)
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    code, message = describe(exc)
    return JSONRPCError(jsonrpc="2.0", id=top_level_id(raw), error=ErrorData(code=code, message=message))


async def run_stdio(app: MCPServer) -> None:
    """`app.run()` over stdio, answering the messages the SDK's transport could not parse."""
    server = app._lowlevel_server  # the SDK's own run_stdio_async does just this, privately
    async with stdio_server() as (read, write):
        inbound, received = anyio.create_memory_object_stream[SessionMessage | Exception](0)

        async def sort() -> None:
            async with inbound:
                async for item in read:
                    if isinstance(item, Exception):
                        log.info("answered a request the transport could not parse: %s", type(item).__name__)
                        await write.send(SessionMessage(answer_for(item)))
                        continue
                    await inbound.send(item)

        async with anyio.create_task_group() as tg:
            tg.start_soon(sort)
            await server.run(received, write, server.create_initialization_options())
            tg.cancel_scope.cancel()


class CheckedBodies:
    """ASGI wrapper of the MCP endpoint: a POST body that does not parse gets a JSON-RPC error with
    the request's own id. Unauthenticated requests pass through untouched (auth answers them 401)."""

    def __init__(self, app: Any, auth_required: bool, limit: int = 4 << 20):
        self.app, self.auth_required, self.limit = app, auth_required, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        if self.auth_required and not isinstance(scope.get("user"), AuthenticatedUser):
            await self.app(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more and size <= self.limit:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if size <= self.limit and not more:
            try:
                pydantic_core.from_json(body)
            except ValueError as exc:
                await _json_response(send, 400, answer_for(exc, body))
                return
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": more}
            return await receive()

        await self.app(scope, replay, send)


async def _json_response(send: Any, status: int, error: JSONRPCError) -> None:
    payload = error.model_dump_json(by_alias=True, exclude_unset=True).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _pattern(allowed: str) -> re.Pattern[str]:
    if allowed.endswith(":*"):
        return re.compile(re.escape(allowed[:-2].lower()) + r":[0-9]{1,5}")
    return re.compile(re.escape(allowed.lower()))


class ExactHosts:
    """ASGI middleware: Host and Origin must match an allowed entry exactly (see the module doc)."""

    def __init__(self, app: Any, hosts: list[str], origins: list[str]):
        self.app = app
        self.hosts = [_pattern(h) for h in hosts]
        self.origins = [_pattern(o) for o in origins]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.lower(): v for k, v in scope.get("headers", [])}
            host = headers.get(b"host", b"").decode("latin-1").strip().lower()
            origin = headers.get(b"origin", b"").decode("latin-1").strip().lower()
            refusal = None
            if not any(p.fullmatch(host) for p in self.hosts):
                refusal = (421, b"Invalid Host header")
            elif origin and not any(p.fullmatch(origin) for p in self.origins):
                refusal = (403, b"Invalid Origin header")
            if refusal is not None:
                log.warning("refused a request: %s", refusal[1].decode())
                status, text = refusal
                headers_out = [(b"content-type", b"text/plain"), (b"content-length", str(len(text)).encode())]
                await send({"type": "http.response.start", "status": status, "headers": headers_out})
                await send({"type": "http.response.body", "body": text})
                return
        await self.app(scope, receive, send)
