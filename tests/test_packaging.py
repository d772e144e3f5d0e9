"""Installing: the Claude Desktop bundle (MCPB), the MCP registry entry (server.json) and the sdist
carry what they claim, kept true against the settings in rb_mcp.config."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from rb_mcp import __version__
from rb_mcp.config import SETTINGS, Config

ROOT = Path(__file__).resolve().parents[1]
REGISTRY_SCHEMA = "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"


def build_mcpb():
    spec = importlib.util.spec_from_file_location("build_mcpb", ROOT / "packaging" / "build_mcpb.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mcpb_cli() -> str | None:
    """The mcpb validator: $MCPB, or `mcpb` on PATH (`npm install @anthropic-ai/mcpb`)."""
    found = os.environ.get("MCPB") or shutil.which("mcpb")
    return found if found and Path(found).exists() else None


def test_bundle_manifest_passes_the_user_settings_to_the_server():
    manifest = build_mcpb().manifest(__version__)
    assert manifest["version"] == __version__ and manifest["server"]["type"] == "uv"
    env = manifest["server"]["mcp_config"]["env"]
    config = manifest["user_config"]
    assert set(config) == {"bank", "project", "llm_base_url", "llm_model", "llm_api_key", "k"}
    for key, spec in config.items():
        assert env[SETTINGS[key].env] == f"${{user_config.{key}}}", key
        assert spec["required"] is False and spec["title"] and spec["description"]
    # An optional setting needs a default, or Claude Desktop passes its placeholder text through.
    assert all(spec["default"] == "" for key, spec in config.items() if key != "k")
    assert config["k"]["default"] == Config.model_fields["k"].default and config["k"]["type"] == "number"
    assert config["llm_api_key"]["sensitive"] is True
    assert not any(spec.get("sensitive") for key, spec in config.items() if key != "llm_api_key")
    assert {t["name"] for t in manifest["tools"]} == {
        "recall_strategies", "record_trajectory", "refine_attempt", "distill_pending",
    }  # fmt: skip


def test_unfilled_bundle_settings_read_as_unset(monkeypatch):
    """What Claude Desktop passes for an optional field the user left empty."""
    for key in ("bank", "project", "llm_base_url", "llm_api_key", "k"):
        monkeypatch.setenv(SETTINGS[key].env, f"${{user_config.{key}}}")
    config = Config.from_env()
    assert config.bank == Config().bank and config.project is None and config.k == 3
    assert config.llm_base_url == "" and config.llm_api_key == ""
    monkeypatch.setenv("RB_MCP_K", "5")
    assert Config.from_env().k == 5


@pytest.mark.skipif(mcpb_cli() is None, reason="needs the mcpb CLI: npm install @anthropic-ai/mcpb, then put "
                    "node_modules/.bin on PATH or set MCPB to its mcpb")  # fmt: skip
def test_bundle_validates_and_packs(tmp_path):
    out = build_mcpb().build(tmp_path / "rb-mcp.mcpb", mcpb_cli())
    with zipfile.ZipFile(out) as bundle:
        names = set(bundle.namelist())
        manifest = json.loads(bundle.read("manifest.json"))
    assert {"manifest.json", "pyproject.toml", "README.md", "LICENSE", "rb_mcp/__main__.py",
            "rb_mcp/model/tokenizer.json", manifest["server"]["entry_point"]} <= names  # fmt: skip
    assert not any(n.startswith(("tests/", "benchmarks/")) or "__pycache__" in n for n in names)
    check = subprocess.run([mcpb_cli(), "info", str(out)], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and "rb-mcp" in check.stdout, check.stdout + check.stderr


def registry_env() -> dict[str, dict]:
    server = json.loads((ROOT / "server.json").read_text())
    assert server["$schema"] == REGISTRY_SCHEMA
    (package,) = server["packages"]
    return {e["name"]: e for e in package["environmentVariables"]}


def test_server_json_lists_every_setting_with_its_real_default():
    listed = registry_env()
    assert set(listed) == {s.env for s in SETTINGS.values()}
    for name, setting in SETTINGS.items():
        entry, field = listed[setting.env], Config.model_fields[name]
        assert entry["description"] == setting.help, setting.env
        assert entry["isSecret"] is (name == "llm_api_key") and entry["isRequired"] is False
        shown = (field.json_schema_extra or {}).get("shown", "")
        if shown[:1] in ("(", "<"):  # depends on the machine, or unset: nothing to put as a default
            assert "default" not in entry, setting.env
        elif isinstance(field.default, bool) and name != "sampling":
            assert entry["format"] == "boolean" and entry["default"] == str(field.default).lower()
        else:
            assert entry["default"] == setting.default, setting.env
            assert entry["format"] == ("number" if field.annotation in (int, float) else "string"), (
                setting.env
            )
    assert listed["RB_MCP_DEDUPE_THRESHOLD"]["default"] == "0.68"
    assert listed["RB_MCP_SAMPLING"]["choices"] == ["auto", "off"]


@pytest.mark.skipif(
    importlib.util.find_spec("build") is None, reason="needs the `build` package (test extra)"
)
@pytest.mark.timeout(600)
def test_sdist_carries_what_its_tests_need(tmp_path):
    done = subprocess.run([sys.executable, "-m", "build", "--sdist", "--outdir", str(tmp_path), str(ROOT)],
                          capture_output=True, text=True, timeout=580)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (sdist,) = tmp_path.glob("rb_mcp-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    assert {"tests/conftest.py", "tests/test_contract.py", "server.json", "packaging/build_mcpb.py",
            "rb_mcp/model/tokenizer.json", "LICENSE", "README.md"} <= names  # fmt: skip
    assert not any("__pycache__" in n for n in names)
