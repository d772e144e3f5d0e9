"""Real Claude Code sessions with the plugin installed, the model replaced by a scripted agent.

Claude Code (the npm package, `RB_MCP_CLAUDE`) runs in print mode against `tests/fake_anthropic.py`
on 127.0.0.1, with the plugin installed the way a user installs it (`claude plugin marketplace add`
this repository, `claude plugin install rb-mcp@rb-mcp`). The scripted agent never calls a memory
tool by itself: what happens to memory is the hooks' doing. uv is kept off PATH, so the plugin's
launcher runs the rb-mcp of this checkout (its fallback) instead of installing one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rb_mcp import project
from rb_mcp.config import Config
from rb_mcp.loop.bank import Bank
from tests.fake_anthropic import Agent, serve

ROOT = Path(__file__).resolve().parent.parent
CLAUDE = os.environ.get("RB_MCP_CLAUDE") or shutil.which("claude")
RB_MCP = Path(sys.executable).parent / "rb-mcp"
PROMPT = "The CSV importer crashes when the uploaded file is empty: fix it in importer.py"
LESSON = {
    "title": "Guard the CSV importer against an empty upload",
    "description": "Indexing the first row of an empty upload raises IndexError.",
    "content": "Check for an empty list of rows before reading the first one in the CSV importer, and return "
    "nothing for an empty upload instead of indexing rows[0].",
}

pytestmark = pytest.mark.skipif(
    CLAUDE is None or not RB_MCP.exists(),
    reason="Claude Code is not installed (npm install @anthropic-ai/claude-code; set RB_MCP_CLAUDE)",
)


@pytest.fixture
def workspace(tmp_path: Path) -> dict[str, Path]:
    places = {name: tmp_path / name for name in ("home", "repo", "bin", "state", "data")}
    for place in places.values():
        place.mkdir()
    (places["bin"] / "rb-mcp").symlink_to(RB_MCP)
    (places["bin"] / "uv").write_text("#!/bin/sh\nexit 1\n")  # a uv that cannot install: the fallback
    (places["bin"] / "uv").chmod(0o755)
    for tool in ("node", "git"):
        if found := shutil.which(tool):
            (places["bin"] / tool).symlink_to(found)
    repo = places["repo"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "remote", "add", "origin", "https://github.com/acme/csv-importer.git"],
                   check=True)  # fmt: skip
    (repo / "importer.py").write_text("def load(rows):\n    return rows[0]\n")
    places["bank"] = tmp_path / "bank.sqlite3"
    with Bank(Config(bank=places["bank"], project=project.default_for_cwd(repo), preload=False)) as bank:
        assert bank.record(task="CSV import crashes on an empty upload", summary="guarded", outcome="success",
                           files=["importer.py"], items=[LESSON]).status == "stored"  # fmt: skip
    return places


def _session(places: dict[str, Path], agent: Agent) -> list[dict]:
    server, url = serve(agent)
    env = {
        "HOME": str(places["home"]), "PATH": f"{places['bin']}:/usr/bin:/bin", "RB_MCP_BANK": str(places["bank"]),
        "XDG_STATE_HOME": str(places["state"]), "XDG_DATA_HOME": str(places["data"]),
        "XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache"),
        "ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": "sk-ant-test-not-a-key",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1", "DISABLE_TELEMETRY": "1",
        "IS_SANDBOX": "1",  # CI runs as root, where Claude Code refuses --dangerously-skip-permissions otherwise
    }  # fmt: skip
    try:
        for args in (["plugin", "marketplace", "add", str(ROOT)], ["plugin", "install", "rb-mcp@rb-mcp"]):
            done = subprocess.run([CLAUDE, *args], env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stdout + done.stderr
        done = subprocess.run(
            [CLAUDE, "-p", PROMPT, "--output-format", "stream-json", "--verbose", "--include-hook-events",
             "--dangerously-skip-permissions"],
            env=env, cwd=places["repo"], capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def _hook_outputs(events: list[dict], name: str) -> list[str]:
    return [
        e.get("output") or ""
        for e in events
        if e.get("subtype") == "hook_response" and e.get("hook_event") == name
    ]


def test_memory_is_recalled_and_the_work_recorded_without_the_agent_being_told(workspace):
    agent = Agent("importer.py", "def load(rows):\n    return rows[0] if rows else None\n",
                  "Fix the CSV importer crash on an empty upload")  # fmt: skip
    events = _session(workspace, agent)
    first = json.dumps(agent.main_requests()[0])
    assert "rb-mcp memory is on for project github.com/acme/csv-importer" in first  # SessionStart's primer
    assert LESSON["title"] in first and "recall_id=" in first  # the prompt hook's recall
    stops = _hook_outputs(events, "Stop")
    assert len(stops) == 2 and '"decision": "block"' in stops[0] and stops[1] == ""  # asked once, then let go
    called = [b["name"] for e in events if e.get("type") == "assistant" for b in e["message"]["content"]
              if b.get("type") == "tool_use"]  # fmt: skip
    assert called[0] == "Write" and called[-1].endswith("__record_trajectory")
    with Bank(Config(bank=workspace["bank"], preload=False)) as bank:
        rows = bank.store.query("select task, outcome, recall_id from trajectories order by id")
        credited = bank.store.query("select credited_outcome from recall_events order by id")
    assert rows[-1][:2] == ("Fix the CSV importer crash on an empty upload", "success") and rows[-1][2] == 1
    assert credited == [("success",)]  # the recalled lesson got the credit
    assert len(rows) == 2  # recorded once; SessionEnd found nothing unrecorded


def test_a_forgetful_session_ends_with_its_work_kept_pending(workspace):
    agent = Agent("importer.py", "def load(rows):\n    return rows[0] if rows else None\n",
                  "Fix the CSV importer crash on an empty upload", obeys_stop=False)  # fmt: skip
    events = _session(workspace, agent)
    assert '"decision": "block"' in _hook_outputs(events, "Stop")[0]
    with Bank(Config(bank=workspace["bank"], preload=False)) as bank:
        rows = bank.store.query("select task, outcome, status, files from trajectories order by id")
    assert len(rows) == 2, rows
    task, outcome, status, files = rows[-1]
    assert task == PROMPT and outcome is None and status == "pending_verdict" and "importer.py" in files
