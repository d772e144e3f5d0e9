"""Strict input at the MCP edge: arguments are what they say, and every refusal says what to fix.

- Tool arguments: text fields take any text as text. The SDK would first try `json.loads` on every
  string sent for a field that is not exactly `str` (so `str | None` too): a summary
  '{"tests": "passed"}' became a dict and was refused, and "null" became a missing value (a
  project "null" silently meant team memory). Here only fields that cannot hold text (lists,
  objects, numbers) get a JSON string parsed, and only into a list or an object, which keeps the
  courtesy for clients that send `steps` as a JSON string.
- Unknown tool arguments (`outcomes`, `kind`, `item`) are refused, naming the closest known one,
  instead of being silently ignored.
- Prompts: a missing or unknown argument, or an unknown prompt, is an invalid-params error that
  names it, not "Internal server error".
- Resources: a template body that fails is a resource error that says why (`guard`), not "Error
  creating resource from template" with a traceback in the log.
"""

from __future__ import annotations

import functools
import json
import logging
import types
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS
from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from rb_mcp.errors import RbError
from rb_mcp.models import is_blank, unknown_field

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., str])


def admits_text(annotation: Any) -> bool:
    """Whether a string is a value `annotation` accepts as it is (str, a Literal of strings, a union
    holding one of those)."""
    if annotation is str:
        return True
    origin = get_origin(annotation)
    if origin is Annotated:
        return admits_text(get_args(annotation)[0])
    if origin is Literal:
        return any(isinstance(arg, str) for arg in get_args(annotation))
    if origin is Union or origin is types.UnionType:
        return any(admits_text(arg) for arg in get_args(annotation))
    return False


def unknown_argument(name: str, known: list[str], where: str) -> str:
    return unknown_field(name, known, where).replace("unknown field", "unknown argument", 1)


class StrictArguments(FuncMetadata):
    """The SDK's argument handling, without its guesswork (see the module docstring)."""

    def pre_parse_json(self, data: dict[str, Any]) -> dict[str, Any]:
        fields = {info.alias or name: info for name, info in self.arg_model.model_fields.items()}
        known = list(fields)
        unknown = [key for key in data if key not in fields]
        if unknown:
            from rb_mcp.redact import redact  # deferred: tools/list is answered before the rules load

            where = self.arg_model.__name__.removesuffix("Arguments")
            raise ValidationError.from_exception_data(
                self.arg_model.__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("unknown_argument", unknown_argument(key, known, where)),
                        loc=(redact(str(key))[:60],),  # the SDK logs the names it refuses
                        input="(not shown)",  # the value is the caller's data
                    )
                    for key in unknown
                ],
            )
        parsed = dict(data)
        for key, value in data.items():
            if isinstance(value, str) and not admits_text(fields[key].annotation):
                try:
                    decoded = json.loads(value)
                except (ValueError, RecursionError):
                    continue
                if isinstance(decoded, list | dict):
                    parsed[key] = decoded
        return parsed


def tighten_tools(app: MCPServer) -> None:
    """Give every registered tool `StrictArguments`."""
    for tool in app._tool_manager.list_tools():  # the SDK offers no public way to change them
        meta = tool.fn_metadata
        tool.fn_metadata = StrictArguments(
            arg_model=meta.arg_model,
            output_schema=meta.output_schema,
            output_model=meta.output_model,
            wrap_output=meta.wrap_output,
        )


def prompt_arguments(app: MCPServer) -> Callable[..., Any]:
    """Server middleware: `prompts/get` with an unknown prompt, or a missing or unknown argument,
    is an invalid-params error naming what to send."""

    async def check(ctx: Any, call_next: Callable[[Any], Any]) -> Any:
        if ctx.method != "prompts/get" or not isinstance(ctx.params, Mapping):
            return await call_next(ctx)
        prompts = {p.name: p for p in await app.list_prompts()}
        name, given = ctx.params.get("name"), ctx.params.get("arguments") or {}
        if name not in prompts:
            raise MCPError(
                code=INVALID_PARAMS, message=f"unknown prompt; the prompts are: {', '.join(prompts)}"
            )
        declared = prompts[name].arguments or []
        names = [a.name for a in declared]
        if not isinstance(given, Mapping):
            raise MCPError(code=INVALID_PARAMS, message="prompt arguments are an object of name: text pairs")
        for key, value in given.items():
            if key not in names:
                raise MCPError(code=INVALID_PARAMS, message=unknown_argument(key, names, f"prompt {name!r}"))
            if not isinstance(value, str):
                raise MCPError(code=INVALID_PARAMS, message=f"prompt argument {key!r} is text: send a string")
        missing = [a.name for a in declared if a.required and is_blank(given.get(a.name))]
        if missing:
            raise MCPError(
                code=INVALID_PARAMS,
                message=f"prompt {name!r} needs the argument(s) {', '.join(missing)}: pass "
                + ", ".join(f"{m}=<text>" for m in missing),
            )
        return await call_next(ctx)

    return check


def guard(fn: F) -> F:
    """A resource body whose failures are resource errors that say why."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> str:
        try:
            return fn(*args, **kwargs)
        except (ResourceError, MCPError):
            raise
        except RbError as exc:
            raise ResourceError(str(exc)) from exc
        except Exception as exc:
            log.exception("unexpected error reading a resource")
            raise ResourceError(
                f"rb-mcp hit an unexpected error ({type(exc).__name__}); run `rb-mcp doctor`"
            ) from exc

    return wrapper  # type: ignore[return-value]
