"""Tool arguments a model got slightly wrong.

Where the intent is unambiguous the call goes through: one string where a list of strings is
expected (`kinds: "pitfall"`, `steps: "ran the tests"`, `files: "a.py"`) or one object where a list
of objects is (`items: {...}`) becomes a list of one. Anything else that does not validate is
answered with a tool error naming each field and what to send, instead of pydantic's text with
its documentation links. Runs as server middleware, before the SDK validates the same arguments
with the same models, so the tool body never sees arguments the SDK would refuse.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from mcp.server import MCPServer
from mcp_types import CallToolResult, TextContent
from pydantic import ValidationError

MAX_SHOWN = 5  # problems listed in one answer


def lenient(schema: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """`arguments` with each lone value wrapped in a list where the field takes a list of its kind."""
    fixed = dict(arguments)
    for name, spec in schema.get("properties", {}).items():
        value = fixed.get(name)
        if spec.get("type") != "array" or value is None or isinstance(value, list):
            continue
        kinds = _item_types(spec.get("items", {}))
        if (isinstance(value, str) and "string" in kinds) or (isinstance(value, dict) and "object" in kinds):
            fixed[name] = [value]
    return fixed


def _item_types(spec: dict[str, Any]) -> set[str]:
    options = spec.get("anyOf", [spec])
    return {str(o.get("type", "object" if "properties" in o else "")) for o in options}


def explain(tool: str, exc: ValidationError, schema: dict[str, Any]) -> str:
    """One line per problem: the field, what was wrong, what to send."""
    lines = [_problem(error, schema) for error in exc.errors()[:MAX_SHOWN]]
    more = len(exc.errors()) - MAX_SHOWN
    if more > 0:
        lines.append(f"... and {more} more")
    return f"Invalid arguments for {tool}; fix these and call it again:\n" + "\n".join(
        f"- {li}" for li in lines
    )


def _problem(error: dict[str, Any], schema: dict[str, Any]) -> str:
    path, spec = _walk(schema, error.get("loc", ()))
    kind, ctx, got = error.get("type", ""), error.get("ctx") or {}, error.get("input")
    if kind == "missing":
        about = spec.get("description", "")
        return f"{path} is required" + (f": {about}" if about else "")
    if kind == "unknown_argument":  # rb_mcp.server.strict names it, with the closest known name
        return str(error.get("msg", ""))
    if kind == "extra_forbidden":
        loc = tuple(error.get("loc", ()))
        parent, where = _walk(schema, loc[:-1])
        known = ", ".join(_properties(where)) or "none"
        unknown = str(loc[-1])  # the caller's own key: shown only when it is a plain name
        unknown = unknown if unknown.isidentifier() and len(unknown) <= 40 else repr(unknown[:40])
        name = f"{parent}.{unknown}" if parent != "arguments" else unknown
        return f"{name} is unknown here; the names here are: {known}"
    if kind in ("string_too_long", "too_long"):
        unit = "characters" if kind == "string_too_long" else "entries"
        limit = ctx.get("max_length", spec.get("maxLength", spec.get("maxItems")))
        return f"{path} is too long: at most {limit} {unit}"
    if kind in ("value_error", "assertion_error"):  # a validator's own words say what to fix
        return f"{path}: {str(error.get('msg', '')).removeprefix('Value error, ')}"
    return f"{path}: {_received(got, spec)}; send {expected(spec)}"


def _walk(schema: dict[str, Any], loc: tuple[Any, ...] | list[Any]) -> tuple[str, dict[str, Any]]:
    """The field's display path and its schema, following `loc` (union branch names are skipped)."""
    path, spec = "", schema
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
            spec = spec.get("items", {})
            continue
        props = _properties(spec)
        if part in props:
            path += f".{part}" if path else str(part)
            spec = props[part]
    return path or "arguments", spec


def _properties(spec: dict[str, Any]) -> dict[str, Any]:
    """The fields of an object schema, or of the object among a union's options."""
    if "properties" in spec:
        return spec["properties"]
    return next((o["properties"] for o in spec.get("anyOf", []) if "properties" in o), {})


def _received(value: Any, spec: dict[str, Any]) -> str:
    # Strings are the caller's data (they may be long or secret): say what they were, not what they said.
    if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
        return f"got {value!r}"
    if isinstance(value, str) and "enum" in spec and len(value) <= 40:  # a near miss of a fixed word
        return f"got {value!r}"
    names = {str: "a string", list: "a list", dict: "an object"}
    return f"got {names.get(type(value), type(value).__name__)}"


def expected(spec: dict[str, Any]) -> str:
    """What a value of this schema looks like, in words a model can act on."""
    if "enum" in spec:
        return "one of " + ", ".join(repr(v) for v in spec["enum"])
    options = spec.get("anyOf")
    if options:
        return " or ".join(expected(o) for o in options)
    kind = spec.get("type")
    if kind == "array":
        item = spec.get("items", {})
        example = f'["{item["enum"][0]}"]' if "enum" in item else None
        text = f"a list of {_plural(expected(item))}" + (f", e.g. {example}" if example else "")
        return text + (f" (at most {spec['maxItems']})" if "maxItems" in spec else "")
    if kind == "integer":
        low, high = spec.get("minimum"), spec.get("maximum")
        if low is not None and high is not None:
            return f"a whole number from {low} to {high}"
        return "a whole number" + (f" of {low} or more" if low is not None else "")
    if kind == "string":
        return "a string" + (f" of at most {spec['maxLength']} characters" if "maxLength" in spec else "")
    if kind == "object" or "properties" in spec:
        fields = list(spec.get("properties", {}))
        return "an object {" + ", ".join(fields) + "}" if fields else "an object"
    return "a " + str(kind or "value")


def _plural(text: str) -> str:
    for one, many in (("a whole number", "whole numbers"), ("a string", "strings"), ("an object", "objects")):
        if text.startswith(one):
            return many + text[len(one) :]
    return text


def middleware(app: MCPServer) -> Callable[[Any, Callable[[Any], Any]], Any]:
    """Server middleware: accept unambiguous slips, explain the rest (see the module docstring)."""

    async def check_arguments(ctx: Any, call_next: Callable[[Any], Any]) -> Any:
        params = ctx.params
        if ctx.method != "tools/call" or not isinstance(params, Mapping):
            return await call_next(ctx)
        tool = app._tool_manager.get_tool(str(params.get("name")))
        arguments = params.get("arguments") or {}
        if tool is None or not isinstance(arguments, dict):
            return await call_next(ctx)
        fixed = lenient(tool.parameters, arguments)
        try:
            tool.fn_metadata.validate_arguments(fixed)
        except ValidationError as exc:
            text = explain(tool.name, exc, tool.parameters)
            return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
        if fixed != arguments:
            ctx = dataclasses.replace(ctx, params={**params, "arguments": fixed})
        return await call_next(ctx)

    return check_arguments
