"""Shared fixtures: a real embedding model (loaded once per session) and throwaway bank files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rb_mcp.bank import Bank
from rb_mcp.config import Config
from rb_mcp.embed import FastEmbedder

# Tests must never touch the user's real bank or cache.
os.environ.setdefault("RB_MCP_LOG_LEVEL", "WARNING")


@pytest.fixture(scope="session")
def embedder() -> FastEmbedder:
    model = FastEmbedder()
    model.load()
    return model


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(bank=tmp_path / "bank.sqlite3", project=None, preload=False)


@pytest.fixture
def bank(config: Config, embedder: FastEmbedder):
    with Bank(config, embedder=embedder) as b:
        b.default_project = None
        yield b


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for subprocesses: bank, data and cache dirs under tmp_path."""
    monkeypatch.setenv("RB_MCP_BANK", str(tmp_path / "bank.sqlite3"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    env = dict(os.environ)
    env["RB_MCP_BANK"] = str(tmp_path / "bank.sqlite3")
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    env.pop("RB_MCP_PROJECT", None)
    return env


def good_item(n: int = 0, **over) -> dict:
    base = {
        "title": f"Reproduce the failure before changing code (variant {n})",
        "description": "A failing reproduction pins the bug down and proves the fix works.",
        "content": (
            "Write the smallest script or test that shows the wrong behaviour, run it to see it fail, "
            "then change the code and run it again to see it pass before widening the test run."
        ),
    }
    base.update(over)
    return base
