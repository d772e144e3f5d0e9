"""What every client carries into the model's context: the tool list, kept small and plain.

The SDK sends each docstring with its source indentation and each input schema as pydantic writes
it: a `title` on every field, `anyOf [X, null]` with `default: null` on every optional one, a
`$defs` block for a model used once. `compact` cleans the registered tools once, at build time:
docstrings are dedented, titles dropped, optional fields written as X, single-use `$defs` inlined,
and bounds no honest argument comes near (a 64-bit id, a 20,000-character task) left to the server. What a model needs (types, enums,
lengths, required fields, descriptions) stays. The server still validates every argument with
the full pydantic models, so nothing it accepts or refuses changes.

Output schemas lose only their titles: a client validates structured results against them, and
a result field can be null.
"""

from __future__ import annotations

import copy
import inspect
import json
from typing import Any

from mcp.server import MCPServer

ID_BOUND = 2**63 - 1  # the largest id SQLite can hold: the server checks it, the model need not read it
# Bounds no honest argument comes near (a 20,000-character task, 500 steps): the server still checks
# them and names them in its error; the schema keeps the bounds a model can run into.
LOOSE_LENGTH = 1000
LOOSE_ITEMS = 100


def compact(app: MCPServer) -> None:
    """Clean every registered tool's description and schemas in place."""
    # The SDK keeps its registered tools behind `_tool_manager`; list_tools() returns copies.
    for tool in app._tool_manager.list_tools():
        tool.description = inspect.cleandoc(tool.description)
        schema = input_schema(copy.deepcopy(tool.parameters))
        tool.parameters.clear()
        tool.parameters.update(schema)
        if tool.output_schema is not None:
            _drop_titles(tool.output_schema)


def input_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The compact form of a pydantic input schema (see the module docstring)."""
    defs = schema.pop("$defs", {})
    uses = json.dumps(schema)
    inline = {name for name in defs if uses.count(f'"#/$defs/{name}"') == 1}
    cleaned = _clean(schema, defs, inline)
    kept = {name: _clean(d, defs, inline) for name, d in defs.items() if name not in inline}
    return {**cleaned, "$defs": kept} if kept else cleaned


def _clean(node: Any, defs: dict[str, Any], inline: set[str]) -> Any:
    if isinstance(node, list):
        return [_clean(n, defs, inline) for n in node]
    if not isinstance(node, dict):
        return node
    node = _optional(node)
    name = str(node.get("$ref", "")).removeprefix("#/$defs/")
    if name in inline:
        # Inlined where it is used: the field that uses it describes it.
        body = {k: v for k, v in defs[name].items() if k != "description"}
        return _clean({**body, **{k: v for k, v in node.items() if k != "$ref"}}, defs, inline)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if key == "default" and value in (None, ""):
            continue
        if (key == "maximum" and value == ID_BOUND) or _loose(key, value):
            continue
        if key == "properties":
            out[key] = {prop: _clean(spec, defs, inline) for prop, spec in value.items()}
        else:
            out[key] = _clean(value, defs, inline)
    return out


def _loose(key: str, value: Any) -> bool:
    limit = {"maxLength": LOOSE_LENGTH, "maxItems": LOOSE_ITEMS}.get(key)
    return limit is not None and isinstance(value, int) and value > limit


def _optional(node: dict[str, Any]) -> dict[str, Any]:
    """`anyOf [X, null]` with `default: null` -> X: omitting the field already means null."""
    options = node.get("anyOf")
    if not (isinstance(options, list) and node.get("default", 0) is None):
        return node
    kept = [o for o in options if o != {"type": "null"}]
    if len(kept) == len(options):
        return node
    rest = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
    return {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}


def _drop_titles(node: Any) -> None:
    if isinstance(node, list):
        for n in node:
            _drop_titles(n)
    elif isinstance(node, dict):
        if isinstance(node.get("title"), str):
            del node["title"]
        for key, value in node.items():
            if key == "properties":
                for spec in value.values():
                    _drop_titles(spec)
            else:
                _drop_titles(value)


def tool_list_size(tools: list[Any], *, outputs: bool = False) -> int:
    """Characters of the tool list as compact JSON: name, description and inputSchema of each tool
    (what a client puts into the model's context), plus each outputSchema with `outputs`."""
    shown = []
    for tool in tools:
        entry = {"name": tool.name, "description": tool.description, "inputSchema": tool.input_schema}
        if outputs and tool.output_schema is not None:
            entry["outputSchema"] = tool.output_schema
        shown.append(entry)
    return len(json.dumps(shown, separators=(",", ":")))
