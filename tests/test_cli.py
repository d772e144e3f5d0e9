"""The CLI mirrors the API; errors are one clear line and exit code 1."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import good_item


def rb(env, *args, stdin=None):
    return subprocess.run([sys.executable, "-m", "rb_mcp", *args], env=env, capture_output=True, text=True,
                          input=stdin, timeout=120)  # fmt: skip


def test_record_list_show_recall_forget(isolated_env, tmp_path):
    items = tmp_path / "items.json"
    items.write_text(json.dumps([good_item(1)]))
    out = rb(isolated_env, "record", "--task", "Parser crashes on empty input", "--step", "wrote repro",
             "--outcome", "success", "--items", str(items), "--file", "src/parser.py")  # fmt: skip
    assert out.returncode == 0, out.stderr
    stored = json.loads(out.stdout)
    item_id = stored["stored"][0]["id"]
    listed = rb(isolated_env, "list")
    assert good_item(1)["title"] in listed.stdout
    shown = json.loads(rb(isolated_env, "show", str(item_id)).stdout)
    assert shown["files"] == ["src/parser.py"] and shown["sources"] == [stored["trajectory_id"]]
    recalled = rb(isolated_env, "recall", "parser fails on an empty string", "--json")
    assert json.loads(recalled.stdout)["items"][0]["id"] == item_id
    stats = json.loads(rb(isolated_env, "stats", "--json").stdout)
    assert stats["items"]["total"] == 1 and stats["recalls"] == 1
    assert rb(isolated_env, "forget", str(item_id)).returncode == 0
    missing = rb(isolated_env, "forget", str(item_id))
    assert missing.returncode == 1 and "no memory item" in missing.stderr


def test_export_import_backup(isolated_env, tmp_path):
    rb(isolated_env, "record", "--task", "Parser crashes", "--summary", "s", "--outcome", "failure")
    dump = tmp_path / "dump.jsonl"
    assert rb(isolated_env, "export", str(dump)).returncode == 0
    other = dict(isolated_env, RB_MCP_BANK=str(tmp_path / "other.sqlite3"))
    imported = rb(other, "import", str(dump))
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["imported"]["trajectories"] == 1
    assert rb(isolated_env, "backup", str(tmp_path / "b.sqlite3")).returncode == 0


def test_doctor_reports_driver_vec_and_model(isolated_env):
    out = rb(isolated_env, "doctor", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    checks = {c["check"]: c for c in json.loads(out.stdout)["checks"]}
    assert "sqlean.py" in checks["sqlite driver"]["detail"] or "stdlib" in checks["sqlite driver"]["detail"]
    assert checks["sqlite-vec"]["status"] == "ok"
    assert checks["model file"]["status"] == "ok" and "sha256 ok" in checks["model file"]["detail"]
    assert checks["embedding"]["status"] == "ok"


def test_doctor_reports_a_missing_bank_without_creating_it(isolated_env, tmp_path):
    bank = tmp_path / "not-yet" / "bank.sqlite3"
    out = rb(dict(isolated_env, RB_MCP_BANK=str(bank)), "doctor", "--no-model", "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    checks = {c["check"]: c for c in json.loads(out.stdout)["checks"]}
    assert checks["bank"] == {"check": "bank", "status": "ok",
                              "detail": f"no bank yet at {bank}; it is created on first use"}  # fmt: skip
    assert checks["fts5"]["status"] == "ok" and "sqlite-vec" in checks
    assert (
        "deprecated" in checks["llm: sampling"]["detail"]
        and "RB_MCP_LLM_BASE_URL" in checks["llm: sampling"]["detail"]
    )
    assert not bank.exists() and not bank.parent.exists()


def test_errors_are_one_clear_line(isolated_env):
    out = rb(isolated_env, "record", "--task", "x")
    assert out.returncode == 1 and out.stderr.startswith("rb-mcp: ") and "summary" in out.stderr
    bad = dict(isolated_env, RB_MCP_K="lots")
    out = rb(bad, "stats")
    assert out.returncode == 1 and "RB_MCP_K" in out.stderr


@pytest.mark.e2e
def test_demo_runs(isolated_env):
    out = rb(isolated_env, "demo")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "session 2 (server restarted)" in out.stdout and "contrast items stored" in out.stdout
