"""Build `rb-mcp.mcpb`, the Claude Desktop bundle (MCPB), from this checkout.

    python packaging/build_mcpb.py [--out dist/rb-mcp.mcpb] [--mcpb PATH_TO_MCPB_CLI]

The bundle is a `uv` bundle: it carries rb-mcp's source, pyproject.toml, README and LICENSE, and
no dependencies. Claude Desktop's uv runtime creates the environment from pyproject.toml on first
start, fetching the wheels built for the user's platform (numpy, onnxruntime, sqlean.py and
pydantic-core are compiled: a `python` bundle would have to ship them for every platform). The
`mcp_config` fallback runs `uv run --directory <bundle> rb-mcp serve` for hosts that read it.

The user-facing settings are `user_config` entries passed to the server as RB_MCP_* variables;
each optional one defaults to "" (Claude Desktop passes an unfilled one as its literal placeholder
otherwise, and rb-mcp reads an empty variable as unset). With the mcpb CLI (`npm install
@anthropic-ai/mcpb`; found on PATH, in $MCPB, or given with --mcpb) the manifest is validated and
the bundle packed by `mcpb pack`; without it the script writes the same zip itself and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What the bundle carries; everything else (tests, benchmarks, caches) stays out.
FILES = ("pyproject.toml", "README.md", "LICENSE")
PACKAGE = "rb_mcp"
SKIP = ("__pycache__", ".pyc", ".pyo")
# user_config key -> (setting, MCPB input type, title, extra manifest fields)
USER_CONFIG: dict[str, tuple[str, str, str, dict]] = {
    "bank": ("bank", "string", "Bank", {}),
    "project": ("project", "string", "Default project", {}),
    "llm_base_url": ("llm_base_url", "string", "LLM endpoint (OpenAI-compatible)", {}),
    "llm_model": ("llm_model", "string", "LLM model", {}),
    "llm_api_key": ("llm_api_key", "string", "LLM API key", {"sensitive": True}),
    "k": ("k", "number", "Memory items per recall", {"min": 1, "max": 20}),
}
HELP = {
    "bank": "Bank file path or postgresql:// URL. Empty: <user data dir>/bank.sqlite3.",
    "project": "Project scope for calls that name none. Empty: the git remote of the server's directory.",
    "llm_base_url": "OpenAI-compatible endpoint that judges and distills on the server, e.g. "
    "http://127.0.0.1:11434/v1 (Ollama). Empty: the agent does it from rb-mcp's prompts.",
    "llm_model": "Model name sent to that endpoint (required with it), e.g. qwen2.5-coder:7b.",
    "llm_api_key": "Bearer key for that endpoint, if it needs one; never logged or stored in the bank.",
    "k": "How many memory items recall_strategies returns by default.",
}


def manifest(version: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from rb_mcp.config import SETTINGS, Config

    user_config, env = {}, {}
    for key, (setting, kind, title, extra) in USER_CONFIG.items():
        default = Config.model_fields[setting].default if kind == "number" else ""
        user_config[key] = {"type": kind, "title": title, "description": HELP[key], "required": False,
                            "default": default, **extra}  # fmt: skip
        env[SETTINGS[setting].env] = f"${{user_config.{key}}}"
    return {
        "$schema": "https://raw.githubusercontent.com/anthropics/mcpb/main/schemas/mcpb-manifest-v0.4.schema.json",
        "manifest_version": "0.4",
        "name": "rb-mcp",
        "display_name": "rb-mcp (ReasoningBank memory)",
        "version": version,
        "description": "Memory that learns from your coding agent's successes and failures (ReasoningBank).",
        "long_description": "Recalls strategies and pitfalls from past tasks at the start of a task, and distills "
        "new ones from each finished task, success or failure. One local SQLite file with vector and "
        "full-text search; the embedding model ships with it (no API key, no download). Needs network "
        "on first start only, to install its Python dependencies.",
        "author": {"name": "rb-mcp developers", "url": "https://github.com/rb-mcp/rb-mcp"},
        "repository": {"type": "git", "url": "https://github.com/rb-mcp/rb-mcp"},
        "homepage": "https://github.com/rb-mcp/rb-mcp",
        "license": "Apache-2.0",
        "keywords": ["memory", "agents", "reasoningbank", "coding"],
        "server": {
            "type": "uv",
            "entry_point": f"{PACKAGE}/__main__.py",
            "mcp_config": {
                "command": "uv",
                "args": ["run", "--directory", "${__dirname}", "--quiet", "rb-mcp", "serve"],
                "env": {"RB_MCP_LOG_LEVEL": "WARNING", **env},
            },
        },
        "tools": _tools(),
        "compatibility": {"platforms": ["darwin", "win32", "linux"], "runtimes": {"python": ">=3.10"}},
        "user_config": user_config,
    }


def _tools() -> list[dict[str, str]]:
    """The tools as the server lists them (name and first line), for the host's install page."""
    import anyio

    from rb_mcp.config import Config
    from rb_mcp.server.app import build_server

    app = build_server(Config(bank=Path(tempfile.gettempdir()) / "rb-mcp-unused.sqlite3", preload=False))
    tools = anyio.run(app.list_tools)
    return [{"name": t.name, "description": t.description.splitlines()[0]} for t in tools]


def stage(target: Path, version: str) -> None:
    for name in FILES:
        shutil.copy2(ROOT / name, target / name)
    for path in sorted((ROOT / PACKAGE).rglob("*")):
        if path.is_dir() or any(part in SKIP or part.endswith(SKIP) for part in path.parts):
            continue
        dest = target / path.relative_to(ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
    (target / "manifest.json").write_text(json.dumps(manifest(version), indent=2) + "\n")


def find_mcpb(given: str | None) -> list[str] | None:
    for candidate in (given, os.environ.get("MCPB"), shutil.which("mcpb")):
        if candidate and Path(candidate).exists():
            return [candidate]
    return None


def zip_dir(source: Path, out: Path) -> None:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(source).as_posix())


def build(out: Path, mcpb: str | None = None) -> Path:
    sys.path.insert(0, str(ROOT))
    from rb_mcp import __version__ as version  # tests/test_contract.py keeps it equal to pyproject's

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rb-mcp-mcpb-") as tmp:
        staged = Path(tmp) / "rb-mcp"
        staged.mkdir()
        stage(staged, version)
        cli = find_mcpb(mcpb)
        if cli is None:
            print(
                "mcpb CLI not found: packing without validation (npm install @anthropic-ai/mcpb)",
                file=sys.stderr,
            )
            zip_dir(staged, out)
        else:
            subprocess.run([*cli, "validate", str(staged / "manifest.json")], check=True)
            subprocess.run([*cli, "pack", str(staged), str(out)], check=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "rb-mcp.mcpb")
    parser.add_argument("--mcpb", help="path of the mcpb CLI (default: $MCPB, then mcpb on PATH)")
    args = parser.parse_args(argv)
    print(build(args.out, args.mcpb))
    return 0


if __name__ == "__main__":
    sys.exit(main())
