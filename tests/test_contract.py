"""Contract: tool names and parameters, the public API, CLI commands and documented settings are pinned."""

from __future__ import annotations

import json
import re
from pathlib import Path

import anyio

import rb_mcp
from rb_mcp.cli import build_parser
from rb_mcp.config import SETTINGS, Config
from rb_mcp.server.app import build_server

ROOT = Path(__file__).resolve().parents[1]

TOOLS = {
    "recall_strategies": ({"task"}, {"task", "project", "k", "kinds"}),
    "record_trajectory": (
        set(),
        {"task", "steps", "summary", "outcome", "rationale", "items", "files", "project", "recall_id", "group_id",
         "trajectory_id"},
    ),
    "refine_attempt": ({"task", "mode"}, {"task", "attempt", "mode", "group_id", "iteration", "outcome", "items",
                                          "project"}),
    "distill_pending": (set(), {"limit"}),
}  # fmt: skip
COMMANDS = {"serve", "demo", "recall", "record", "list", "show", "forget", "promote", "export", "import", "stats",
            "doctor", "reembed", "backup", "distill", "token", "copy", "hook"}  # fmt: skip


def test_tool_parameters_are_pinned(tmp_path):
    app = build_server(Config(bank=tmp_path / "b.sqlite3", preload=False))
    tools = {t.name: t for t in anyio.run(app.list_tools)}
    assert set(tools) == set(TOOLS)
    for name, (required, props) in TOOLS.items():
        schema = tools[name].input_schema
        assert set(schema.get("required", [])) == required, name
        assert set(schema["properties"]) == props, name
        for prop, spec in schema["properties"].items():
            assert spec.get("description"), f"{name}.{prop} has no description for the model"
        assert len(tools[name].description) > 150, f"{name} needs a docstring written for the model"
        assert tools[name].output_schema is not None
    outputs = {name: set(tools[name].output_schema["properties"]) for name in TOOLS}
    assert {"lessons", "attempts", "next_step", "prompt"} <= outputs["refine_attempt"]
    assert "pitfalls" not in outputs["refine_attempt"]  # it holds strategies and notes too
    assert {"recall_id", "items", "guidance", "guidance_tokens"} <= outputs["recall_strategies"]
    assert tools["recall_strategies"].annotations.read_only_hint is True
    assert all(tools[n].annotations.read_only_hint is False for n in TOOLS if n != "recall_strategies")
    # A recall id is an opaque string handle ("<n>-<mac>"), in the answer and in the argument.
    types_of = lambda spec: {o["type"] for o in spec.get("anyOf", [spec])}  # noqa: E731
    # (the compact schema leaves out the `null` of an optional value)
    assert types_of(tools["recall_strategies"].output_schema["properties"]["recall_id"]) - {"null"} == {
        "string"
    }
    assert types_of(tools["record_trajectory"].input_schema["properties"]["recall_id"]) - {"null"} == {
        "string"
    }


def test_public_api():
    assert rb_mcp.__all__ == ["AccessError", "BankError", "EmbedError", "GateError", "InputError", "LLMError",
                              "RbError", "SchemaError", "StoreError", "__version__"]  # fmt: skip
    for name in rb_mcp.__all__[:-1]:
        assert issubclass(getattr(rb_mcp, name), rb_mcp.RbError)
        assert getattr(rb_mcp.errors, name) is getattr(rb_mcp, name)


def test_cli_commands_and_readme():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == COMMANDS
    readme = (ROOT / "README.md").read_text()
    for command in COMMANDS:
        assert re.search(rf"rb-mcp {command}\b", readme), f"README does not document `rb-mcp {command}`"


def test_http_serve_flags_and_token_actions():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    serve = {o for a in sub.choices["serve"]._actions for o in a.option_strings}
    assert {"--http", "--host", "--port", "--allowed-origin", "--allowed-host"} <= serve
    token = next(a for a in sub.choices["token"]._actions if a.dest == "action")
    assert set(token.choices) == {"create", "list", "revoke"}
    create = {o for a in token.choices["create"]._actions for o in a.option_strings}
    assert {"--identity", "--scope", "--name", "--bank"} <= create
    readme = (ROOT / "README.md").read_text()
    for usage in ("rb-mcp serve --http", "rb-mcp token create", "rb-mcp token list", "rb-mcp token revoke"):
        assert usage in readme, f"README does not document `{usage}`"


def test_every_setting_is_a_config_field_and_documented():
    assert set(SETTINGS) == set(Config.model_fields)
    readme = (ROOT / "README.md").read_text()
    for setting in SETTINGS.values():
        assert setting.env in readme, f"README does not document {setting.env}"


def test_versions_agree():
    import json

    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    server = json.loads((ROOT / "server.json").read_text())
    assert version == rb_mcp.__version__ == server["version"]
    assert server["packages"][0]["version"] == version
    assert len(server["description"]) <= 100
    readme = (ROOT / "README.md").read_text()
    assert f"mcp-name: {server['name']}" in readme


def test_server_import_leaves_the_bank_for_after_the_handshake():
    """Start-up: the handshake must not wait for numpy, SQLite extensions or the vector index."""
    import subprocess
    import sys

    code = (
        "import sys, tempfile, pathlib, rb_mcp.cli\n"
        "from rb_mcp.config import Config\n"
        "from rb_mcp.server.app import build_server\n"
        "build_server(Config(bank=pathlib.Path(tempfile.mkdtemp()) / 'b.sqlite3', preload=False))\n"
        "heavy = ('numpy', 'httpx', 'sqlean', 'sqlite_vec', 'fastembed', 'onnxruntime', 'psycopg', "
        "'rb_mcp.loop', 'rb_mcp.store', 'rb_mcp.embed')\n"
        "print(sorted(m for m in sys.modules if m in heavy or m.startswith(tuple(h + '.' for h in heavy))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", (
        f"building the server imported {out.strip()}; keep these for after the handshake"
    )


def test_rb_mcp_processes_run_numpy_with_one_blas_thread():
    """Spinning BLAS threads took the query model's core (see cli.one_blas_thread); a user's choice stays."""
    import os
    import subprocess
    import sys

    code = (
        "import contextlib, os, sys; from rb_mcp import cli\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(sys.stderr): cli.main(['--version'])\n"
        "import numpy; print(os.environ.get('OPENBLAS_NUM_THREADS'))"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    run = lambda env: subprocess.run(  # noqa: E731
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout.strip()
    assert run(env) == "1"
    assert run({**env, "OPENBLAS_NUM_THREADS": "2"}) == "2"


# What every session of every client carries: the tool list (name, description and inputSchema of each
# tool, as compact JSON) and the instructions. Before the trim: 12,916 and 811 characters.
TOOLS_BUDGET = 6_000
INSTRUCTIONS_BUDGET = 500


def test_tool_list_and_instructions_fit_the_context_budget(isolated_env):
    """Measured on the real `tools/list` of `rb-mcp serve` through the SDK client."""
    import sys

    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    from rb_mcp.server.surface import tool_list_size

    async def listed():
        server = StdioServerParameters(
            command=sys.executable, args=["-m", "rb_mcp", "serve"], env=isolated_env
        )
        async with Client(server) as client:
            return (await client.list_tools()).tools, client.instructions or ""

    tools, instructions = anyio.run(listed)
    size = tool_list_size(tools)
    print(f"\ntools/list {size} characters (+{tool_list_size(tools, outputs=True) - size} of output schemas), "
          f"instructions {len(instructions)}")  # fmt: skip
    assert size <= TOOLS_BUDGET, (
        f"tools/list costs {size} characters of context; the budget is {TOOLS_BUDGET}"
    )
    assert 0 < len(instructions) <= INSTRUCTIONS_BUDGET
    for tool in tools:
        assert "\n    " not in tool.description, f"{tool.name}: docstring sent with its source indentation"
        text = json.dumps(tool.input_schema)
        assert '"title": "' not in text, f"{tool.name}: pydantic titles left in the schema"
        assert '{"type": "null"}' not in text, f"{tool.name}: optional fields still spelled anyOf [X, null]"
    # Nothing a model needs is lost: every tool names the follow-up calls it depends on.
    by_name = {t.name: t for t in tools}
    assert "recall_id" in by_name["recall_strategies"].description
    assert "record_trajectory(trajectory_id=" in by_name["record_trajectory"].description
    assert 'refine_attempt(mode="parallel", group_id=' in by_name["refine_attempt"].description
    assert "record_trajectory(trajectory_id=N)" in by_name["distill_pending"].description
    for name in ("record_trajectory", "refine_attempt"):
        item = by_name[name].input_schema["properties"]["items"]["items"]
        assert item["required"] == ["title", "description", "content"]
        assert item["properties"]["title"]["maxLength"] == 200
