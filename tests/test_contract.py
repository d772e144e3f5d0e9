"""Contract: tool names and parameters, the public API, CLI commands and documented settings are pinned."""

from __future__ import annotations

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
    "refine_attempt": ({"task", "attempt", "mode"}, {"task", "attempt", "mode", "group_id", "iteration", "outcome",
                                                     "items", "project"}),
    "distill_pending": (set(), {"limit"}),
}  # fmt: skip
COMMANDS = {"serve", "demo", "recall", "record", "list", "show", "forget", "promote", "export", "import", "stats",
            "doctor", "reembed", "backup", "distill", "token", "copy", "ui"}  # fmt: skip


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
        assert len(tools[name].description) > 200, f"{name} needs a docstring written for the model"
        assert tools[name].output_schema is not None


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
        "import sys, rb_mcp.cli, rb_mcp.server; "
        "print(sorted(m for m in ('numpy', 'rb_mcp.bank', 'rb_mcp.store', 'httpx', 'sqlean', 'fastembed') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


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
