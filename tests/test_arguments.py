"""Argument slips and the compact tool schemas, on the registered tools themselves (no transport):
every refusal names a field and what to send, unambiguous slips pass, and the compact schema
describes what the server accepts."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from rb_mcp.config import Config
from rb_mcp.server import arguments, surface
from rb_mcp.server.app import build_server


@pytest.fixture(scope="module")
def tools():
    app = build_server(Config(bank=Path("/nonexistent/never-opened.sqlite3"), preload=False))
    return {t.name: t for t in app._tool_manager.list_tools()}


def refusal(tool, args: dict) -> str:
    try:
        tool.fn_metadata.validate_arguments(arguments.lenient(tool.parameters, args))
    except ValidationError as exc:
        return arguments.explain(tool.name, exc, tool.parameters)
    return ""


def test_unambiguous_slips_become_lists(tools):
    recall, record = tools["recall_strategies"], tools["record_trajectory"]
    assert arguments.lenient(recall.parameters, {"task": "t", "kinds": "pitfall"})["kinds"] == ["pitfall"]
    fixed = arguments.lenient(
        record.parameters, {"steps": "ran pytest", "files": "a.py", "items": {"title": "x"}}
    )
    assert fixed == {"steps": ["ran pytest"], "files": ["a.py"], "items": [{"title": "x"}]}
    # A lone value where no list is expected, or a list already, stays as sent.
    assert arguments.lenient(recall.parameters, {"task": ["t"], "k": "3"}) == {"task": ["t"], "k": "3"}
    assert refusal(recall, {"task": "t", "kinds": "pitfall"}) == ""


@pytest.mark.parametrize(
    ("tool", "args", "says"),
    [
        ("recall_strategies", {"task": "t", "k": 0}, "k: got 0; send a whole number from 1 to 20"),
        ("recall_strategies", {"task": "t", "kinds": ["pitfal"]},
         "kinds[0]: got 'pitfal'; send one of 'strategy', 'pitfall', 'note'"),
        ("recall_strategies", {}, "task is required: The task"),
        ("recall_strategies", {"task": "x" * 20_001}, "task is too long: at most 20000 characters"),
        ("refine_attempt", {"task": "t", "mode": "sideways"}, "mode: got 'sideways'; send one of 'sequential'"),
        ("record_trajectory", {"task": "t", "steps": [{"acton": "ls"}]},
         "steps[0]: unknown field 'acton'; did you mean 'action'? (Step takes: thought, action, observation)"),
        ("record_trajectory", {"task": "t", "items": [{"title": "x"}]}, "items[0].description is required"),
        ("distill_pending", {"limit": "many"}, "limit: got a string; send a whole number from 1 to 50"),
        ("record_trajectory", {"items": [{"title": "t", "description": "d", "content": "c", "tags": ["x" * 61]}]},
         "items[0].tags: each tag must be at most 60 characters"),
    ],
)  # fmt: skip
def test_each_refusal_names_the_field_and_what_to_send(tools, tool, args, says):
    text = refusal(tools[tool], args)
    assert says in text, text
    assert text.startswith(f"Invalid arguments for {tool}") and "pydantic" not in text


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["recall_strategies", "record_trajectory", "refine_attempt", "distill_pending"]),
       args=st.dictionaries(st.sampled_from(["task", "k", "kinds", "steps", "items", "mode", "attempt", "limit",
                                             "outcome", "files", "project", "extra"]), JSON, max_size=5))  # fmt: skip
def test_any_refusal_is_an_explanation(tools, name, args):
    tool = tools[name]
    text = refusal(tool, args)
    if not text:
        return
    lines = text.splitlines()[1:]
    assert lines and all(line.startswith("- ") for line in lines)
    assert "pydantic" not in text and "errors.pydantic.dev" not in text
    names = set(tool.parameters["properties"]) | {"arguments"}
    for line in lines:
        if line.startswith("- ... and "):
            continue
        if line.startswith("- unknown argument "):  # the caller's own name, with the closest known one
            assert "takes:" in line, line
            continue
        head = line[2:].split(":")[0].split(" ")[0].split("[")[0].split(".")[0]
        assert head in names, line


def test_compact_schema_keeps_what_a_model_needs(tools):
    listed = {
        t.name: t for t in anyio.run(build_server(Config(bank=Path("/nonexistent/x.sqlite3"))).list_tools)
    }
    record = listed["record_trajectory"].input_schema
    assert "$defs" not in record  # Step and ItemDraft are used once each: inlined
    assert record["properties"]["outcome"] == {
        "enum": ["success", "failure", "impossible"], "type": "string",
        "description": "success (goal reached and verified), failure or impossible.",
    }  # fmt: skip
    assert record["properties"]["recall_id"] == {"maxLength": 40, "type": "string",
                                                 "description": "The recall_id recall_strategies gave."}  # fmt: skip
    assert listed["distill_pending"].input_schema["properties"]["limit"]["default"] == 5
    # Output schemas lose their titles only: a result field can still be null.
    out = json.dumps(listed["record_trajectory"].output_schema)
    assert '"title": "' not in out and '{"type": "null"}' in out


def test_input_schema_keeps_a_def_used_twice():
    schema = {
        "$defs": {"P": {"type": "object", "title": "P", "properties": {"x": {"type": "string", "title": "X"}}}},
        "properties": {"a": {"$ref": "#/$defs/P"}, "b": {"anyOf": [{"$ref": "#/$defs/P"}, {"type": "null"}],
                                                          "default": None, "title": "B"}},
        "title": "fArguments",
    }  # fmt: skip
    assert surface.input_schema(schema) == {
        "properties": {"a": {"$ref": "#/$defs/P"}, "b": {"$ref": "#/$defs/P"}},
        "$defs": {"P": {"type": "object", "properties": {"x": {"type": "string"}}}},
    }
