"""Settings from RB_MCP_* variables: types, empty values and placeholders, errors that say what to set."""

from __future__ import annotations

from pathlib import Path

import pytest

from rb_mcp.config import Config
from rb_mcp.errors import InputError


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.upper().startswith("RB_MCP_"):
            monkeypatch.delenv(name)


def test_variables_are_read_typed_and_in_any_case(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RB_MCP_K", "5")
    monkeypatch.setenv("rb_mcp_min_score", "0.4")
    monkeypatch.setenv("RB_MCP_PRELOAD", "0")
    monkeypatch.setenv("RB_MCP_HTTP_ALLOWED_HOSTS", "a.example, b.example:8765")
    monkeypatch.setenv("RB_MCP_BANK", str(tmp_path / "b.sqlite3"))
    config = Config.from_env()
    assert (config.k, config.min_score, config.preload) == (5, 0.4, False)
    assert config.http_allowed_hosts == ("a.example", "b.example:8765")
    assert config.bank == tmp_path / "b.sqlite3"


def test_empty_values_and_unfilled_placeholders_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RB_MCP_K", "")
    monkeypatch.setenv("RB_MCP_BANK", "${user_config.bank}")
    config, default = Config.from_env(), Config()
    assert (config.k, config.bank) == (default.k, default.bank)


def test_bank_option_wins_but_a_bad_variable_is_still_reported(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RB_MCP_BANK", str(tmp_path / "env.sqlite3"))
    assert Config.from_env(tmp_path / "cli.sqlite3").bank == tmp_path / "cli.sqlite3"
    monkeypatch.setenv("RB_MCP_K", "lots")
    with pytest.raises(InputError, match="RB_MCP_K='lots'"):
        Config.from_env(tmp_path / "cli.sqlite3")


@pytest.mark.parametrize(("name", "value", "says"), [
    ("RB_MCP_K", "0", "between"),
    ("RB_MCP_MIN_SCORE", "2", "between"),
    ("RB_MCP_PRELOAD", "maybe", "RB_MCP_PRELOAD='maybe'"),
])  # fmt: skip
def test_bad_values_say_what_to_set(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(InputError, match=says):
        Config.from_env()
