"""Claude Code hooks: each hook a real process fed the documented JSON, on a real SQLite bank.

The stdin payloads follow Claude Code's hooks reference (session_id, transcript_path, cwd,
permission_mode, hook_event_name, and per event source / prompt / stop_hook_active / reason), the
transcript lines its JSONL format (user and assistant entries, tool_use and tool_result blocks,
MCP tools named mcp__<server>__<tool>). The bank and the state dir live in tmp (RB_MCP_BANK,
XDG_STATE_HOME); recording uses the real model, as the agent's record_trajectory call would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

import rb_mcp
from rb_mcp.admin import stats
from rb_mcp.config import Config
from rb_mcp.hooks import EVENTS, events, state, transcript
from rb_mcp.ids import recall_number
from rb_mcp.loop.bank import Bank

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "plugin"
LAUNCHER = PLUGIN / "scripts" / "rb-mcp"
PROJECT = "github.com/acme/shop"
LESSON = {
    "title": "Wait for the worker's readiness signal before enqueuing in integration tests",
    "description": "A flaky integration test that hangs usually enqueues work before the worker is ready.",
    "content": "Loop the flaky test to reproduce the hang, log when the worker starts, then wait on its "
    "readiness signal with a bounded timeout instead of a fixed sleep.",
}


class Session:
    """One Claude Code session: its transcript file and its hooks, run as real processes."""

    def __init__(self, tmp_path: Path, env: dict[str, str], cwd: Path):
        self.id = str(uuid.uuid4())
        self.env, self.cwd = env, cwd
        self.path = tmp_path / f"{self.id}.jsonl"
        self.last: str | None = None
        self.path.touch()

    def hook(self, name: str, payload: dict[str, Any] | None = None, stdin: str | None = None) -> dict | None:
        event = {"session-start": "SessionStart", "user-prompt-submit": "UserPromptSubmit",
                 "stop": "Stop", "session-end": "SessionEnd"}.get(name, name)  # fmt: skip
        body = {"session_id": self.id, "transcript_path": str(self.path), "cwd": str(self.cwd),
                "permission_mode": "default", "hook_event_name": event, **(payload or {})}  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "rb_mcp.hooks", name],
            input=json.dumps(body) if stdin is None else stdin,
            capture_output=True, text=True, env=self.env, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None

    def _line(self, kind: str, message: dict[str, Any], **extra: Any) -> None:
        entry = {"parentUuid": self.last, "isSidechain": False, "userType": "external", "cwd": str(self.cwd),
                 "sessionId": self.id, "version": "2.1.332", "gitBranch": "main", "type": kind,
                 "message": message, "uuid": str(uuid.uuid4()), "timestamp": "2026-12-01T10:00:00.000Z", **extra}  # fmt: skip
        self.last = entry["uuid"]
        with self.path.open("a") as fh:
            fh.write(json.dumps(entry) + "\n")

    def user(self, text: str) -> None:
        self._line("user", {"role": "user", "content": text})

    def say(self, text: str) -> None:
        self._line(
            "assistant", {"role": "assistant", "type": "message", "content": [{"type": "text", "text": text}]}
        )

    def tool(self, name: str, args: dict[str, Any], result: str = "ok", is_error: bool = False) -> None:
        call = f"toolu_{uuid.uuid4().hex[:20]}"
        self._line("assistant", {"role": "assistant", "type": "message", "stop_reason": "tool_use",
                                 "content": [{"type": "tool_use", "id": call, "name": name, "input": args}]})  # fmt: skip
        block = {"tool_use_id": call, "type": "tool_result", "content": result}
        if is_error:
            block["is_error"] = True
        self._line("user", {"role": "user", "content": [block]})


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "shop"
    path.mkdir()
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    subprocess.run(
        ["git", "-C", str(path), "remote", "add", "origin", "git@github.com:acme/shop.git"], check=True
    )
    return path


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"RB_MCP_BANK": str(tmp_path / "bank.sqlite3"), "XDG_STATE_HOME": str(tmp_path / "state")}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    for name in ("RB_MCP_PROJECT", "RB_MCP_HOOK_STOP", "RB_MCP_HOOK_RECALL"):
        monkeypatch.delenv(name, raising=False)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture
def bank(env: dict[str, str], repo: Path, embedder) -> Bank:
    """The bank as the agent's MCP server sees it, holding one lesson of this project and one of another."""
    with Bank(Config.from_env(), embedder=embedder) as seeded:
        for project in (str(repo), "acme/other"):
            seeded.record(
                task="Fix the flaky export integration test that hangs on CI",
                steps=["looped the test 20 times: 3 hangs"], outcome="success", project=project,
                items=[LESSON if project == str(repo) else {**LESSON, "title": "Other project's worker lesson"}],
            )  # fmt: skip
    bank = Bank(Config.from_env(), embedder=embedder)
    yield bank
    bank.close()


def log_text(env: dict[str, str]) -> str:
    path = Path(env["XDG_STATE_HOME"]) / "rb-mcp" / "hooks.log"
    return path.read_text() if path.exists() else ""


def pending(bank: Bank) -> int:
    return stats(bank).trajectories.get("pending_verdict", 0)


PROMPT = "The export integration test is flaky again: it hangs on CI while the worker starts. Fix it."


# ---- whole sessions -----------------------------------------------------------------------------
def test_a_whole_session_recalls_asks_once_to_record_and_leaves_nothing_pending(tmp_path, env, repo, bank):
    session = Session(tmp_path, env, repo)
    primer = session.hook("session-start", {"source": "startup", "model": "claude-sonnet-4-5"})
    text = primer["hookSpecificOutput"]["additionalContext"]
    assert primer["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    assert PROJECT in text and "1 memory item from past tasks" in text and "record_trajectory" in text
    assert len(text) / 4 < 200 and len(text.split()) < 150  # well under 200 tokens

    session.user(PROMPT)
    added = session.hook("user-prompt-submit", {"prompt": PROMPT})["hookSpecificOutput"]
    assert added["hookEventName"] == "UserPromptSubmit"
    assert LESSON["title"] in added["additionalContext"]
    assert "Other project's" not in added["additionalContext"]
    recall_id = state.load(session.id).recalls[0].recall_id
    assert f"recall_id={recall_id}" in added["additionalContext"]
    assert session.hook("user-prompt-submit", {"prompt": PROMPT}) is None  # never the same item twice
    for chit_chat in ("thanks!", "ok", "/compact", "yes please do that"):
        assert session.hook("user-prompt-submit", {"prompt": chit_chat}) is None

    session.tool("Read", {"file_path": str(repo / "tests/test_export.py")}, "def test_export(): ...")
    session.tool("Edit", {"file_path": str(repo / "tests/test_export.py"), "old_string": "sleep(2)",
                          "new_string": "worker.wait_ready(timeout=10)"}, "The file has been updated.")  # fmt: skip
    session.tool("Bash", {"command": "pytest -q tests/test_export.py"}, "1 passed in 0.4s")
    session.say("The test now waits for the worker's readiness signal; 20 runs pass.")
    asked = session.hook("stop", {"stop_hook_active": False, "last_assistant_message": "20 runs pass."})
    assert asked["decision"] == "block"
    assert "record_trajectory" in asked["reason"] and "tests/test_export.py" in asked["reason"]
    assert f"recall_id={recall_id}" in asked["reason"]
    assert session.hook("stop", {"stop_hook_active": True}) is None
    assert session.hook("stop", {"stop_hook_active": False}) is None  # asked once for this work

    recorded = bank.record(
        task=PROMPT, steps=["replaced the sleep with a readiness wait", "20 runs pass"], outcome="success",
        files=["tests/test_export.py"], project=str(repo), recall_id=recall_id,
    )  # fmt: skip
    assert recorded.credited == state.load(session.id).recalls[0].items  # the injected lesson gets credit
    session.tool("mcp__plugin_rb-mcp_rb-mcp__record_trajectory", {"task": PROMPT, "recall_id": recall_id},
                 json.dumps({"trajectory_id": recorded.trajectory_id, "status": "needs_items"}))  # fmt: skip
    session.say("Recorded.")
    assert session.hook("stop", {"stop_hook_active": False}) is None
    before = pending(bank)
    assert session.hook("session-end", {"reason": "prompt_input_exit"}) is None
    assert pending(bank) == before  # only the agent's own trajectory, waiting for its items
    assert "ERROR" not in log_text(env)


def test_a_forgetful_session_leaves_its_work_pending_for_distill(tmp_path, env, repo, bank):
    session = Session(tmp_path, env, repo)
    session.hook("session-start", {"source": "startup"})
    session.user(PROMPT)
    assert session.hook("user-prompt-submit", {"prompt": PROMPT}) is not None
    recall_id = state.load(session.id).recalls[0].recall_id
    session.tool("Write", {"file_path": str(repo / "src/export.py"), "content": "..."}, "File created")
    secret = "sk-proj-Abc123Def456Ghi789Jkl012Mno345Pqr678"
    session.tool(
        "Bash", {"command": f"OPENAI_API_KEY={secret} pytest -q"}, "Exit code 1\nFAILED test_export", True
    )
    session.tool("Bash", {"command": "echo done > notes.txt && cat notes.txt"}, "done")
    session.say("I could not make the export pass yet.")
    before = pending(bank)

    assert session.hook("session-end", {"reason": "other"}) is None
    assert pending(bank) == before + 1
    (trajectory_id,) = state.load(session.id).stored.values()
    kept = bank.trajectory(trajectory_id)
    assert kept.task == PROMPT and kept.status == "pending_verdict" and kept.outcome is None
    assert kept.project == PROJECT and kept.recall_id == recall_number(bank.id_key, recall_id)
    assert kept.files == ["src/export.py", "notes.txt"]
    steps = [s.text() for s in kept.steps]
    assert steps[0] == "action: Write src/export.py"
    assert any("error: Exit code 1" in s for s in steps)
    assert secret not in json.dumps([s.model_dump() for s in kept.steps]) + kept.summary
    assert "I could not make the export pass yet." in kept.summary
    assert session.hook("session-end", {"reason": "other"}) is None  # stored once
    assert pending(bank) == before + 1
    assert trajectory_id in [e.trajectory_id for e in bank.recall(PROMPT, str(repo)).episodes]


def test_stop_can_be_turned_off_and_reads_only_unrecorded_work(tmp_path, env, repo):
    session = Session(tmp_path, env, repo)
    session.user(PROMPT)
    session.tool("Edit", {"file_path": "src/a.py", "old_string": "a", "new_string": "b"})
    assert session.hook("stop", {"stop_hook_active": False}) is not None
    later = Session(tmp_path, {**env, "RB_MCP_HOOK_STOP": "off"}, repo)
    later.user(PROMPT)
    later.tool("Edit", {"file_path": "src/a.py", "old_string": "a", "new_string": "b"})
    assert later.hook("stop", {"stop_hook_active": False}) is None
    reader = Session(tmp_path, env, repo)
    reader.user("Explain how the export job schedules its retries")
    reader.tool("Read", {"file_path": "src/export.py"})
    reader.tool("Bash", {"command": "git log --oneline | head -5 > /tmp/log.txt"})
    assert reader.hook("stop", {"stop_hook_active": False}) is None  # read, wrote only scratch
    assert reader.hook("session-end", {"reason": "clear"}) is None


def test_after_clear_or_compact_the_prompt_hook_may_add_an_item_again(tmp_path, env, repo, bank):
    session = Session(tmp_path, env, repo)
    assert session.hook("user-prompt-submit", {"prompt": PROMPT}) is not None
    assert session.hook("user-prompt-submit", {"prompt": PROMPT}) is None
    session.hook("session-start", {"source": "compact"})
    assert session.hook("user-prompt-submit", {"prompt": PROMPT}) is not None


# ---- never break the session ---------------------------------------------------------------------
MALFORMED = [
    "",
    "{not json",
    "[1, 2, 3]",
    '{"session_id": 5, "cwd": 12, "prompt": ["x"], "transcript_path": 7}',
]


@pytest.mark.parametrize("event", [*EVENTS, "no-such-event"])
@pytest.mark.parametrize("stdin", MALFORMED, ids=["empty", "not-json", "array", "wrong-types"])
def test_malformed_input_exits_0_and_says_nothing(tmp_path, env, repo, event, stdin):
    assert Session(tmp_path, env, repo).hook(event, stdin=stdin) is None


def test_undecodable_input_exits_0_and_says_nothing(env):
    done = subprocess.run([sys.executable, "-m", "rb_mcp.hooks", "user-prompt-submit"], input=b"\xff\xfe{\x00",
                          capture_output=True, env=env, timeout=60)  # fmt: skip
    assert (done.returncode, done.stdout) == (0, b"")


@pytest.mark.parametrize("event", ["stop", "session-end"])
def test_a_missing_transcript_exits_0_and_says_nothing(tmp_path, env, repo, event):
    session = Session(tmp_path, env, repo)
    session.path.unlink()
    assert session.hook(event, {"stop_hook_active": False, "reason": "other"}) is None


def test_a_broken_bank_exits_0_says_nothing_and_logs(tmp_path, env, repo):
    Path(env["RB_MCP_BANK"]).write_bytes(b"this is not a SQLite database" * 100)
    session = Session(tmp_path, env, repo)
    session.user(PROMPT)
    session.tool("Edit", {"file_path": "src/a.py", "old_string": "a", "new_string": "b"})
    assert session.hook("session-start", {"source": "startup"}) is None
    assert session.hook("user-prompt-submit", {"prompt": PROMPT}) is None
    assert session.hook("session-end", {"reason": "other"}) is None
    assert log_text(env).count("ERROR") == 3


# ---- the pieces ----------------------------------------------------------------------------------
def test_transcript_prompts_calls_errors_and_records():
    lines = [
        {"type": "summary", "summary": "Export fix", "leafUuid": "x"},
        {"type": "user", "isMeta": True, "message": {"role": "user", "content": "Caveat: the messages below..."}},
        {"type": "user", "message": {"role": "user", "content": "<command-name>/clear</command-name>"}},
        {"type": "user", "message": {"role": "user", "content": [{"type": "text", "text": "Fix the export job"}]}},
        {"type": "assistant", "message": {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "..."},
            {"type": "tool_use", "id": "t1", "name": "MultiEdit", "input": {"file_path": "/r/a.py", "edits": []}},
            {"type": "tool_use", "id": "t2", "name": "NotebookEdit", "input": {"notebook_path": "/r/n.ipynb"}}]}},
        {"type": "user", "message": {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "\nString not found\n"}],
             "is_error": True},
            {"type": "tool_result", "tool_use_id": "t2", "content": "ok"}]}},
        {"type": "assistant", "message": {"content": [
            {"type": "tool_use", "id": "t3", "name": "mcp__rb-mcp__record_trajectory", "input": {}}]}},
        {"type": "user", "message": {"content": [{"type": "tool_result", "tool_use_id": "t3", "content": "x",
                                                  "is_error": True}]}},
        {"type": "assistant", "message": {"content": [
            {"type": "tool_use", "id": "t4", "name": "mcp__plugin_rb-mcp_rb-mcp__record_trajectory", "input": {}},
            {"type": "text", "text": "Recorded."}]}},
        {"type": "user", "isCompactSummary": True, "message": {"content": "This session is being continued..."}},
        {"type": "user", "message": {"content": "Now add a retry"}},
        {"type": "assistant", "message": {"content": [
            {"type": "tool_use", "id": "t5", "name": "Bash", "input": {"command": "sed -i 's/1/3/' retry.py"}}]}},
    ]  # fmt: skip
    read = transcript.parse(lines)
    assert [p.text for p in read.prompts] == ["Fix the export job", "Now add a retry"]
    first, second, failed_record, record, bash = read.calls
    assert first.is_error and first.error == "String not found" and not first.changes_files()
    assert second.changes_files() and second.files() == ["/r/n.ipynb"]
    assert not failed_record.records and record.records and read.last_text == "Recorded."
    work = read.unrecorded()
    assert work.recorded_before and [p.text for p in work.prompts] == ["Now add a retry"]
    assert work.changes == [bash] and work.files() == ["retry.py"] and work.key == "t5"


@pytest.mark.parametrize(
    ("command", "writes", "files"),
    [
        ("pytest -q 2>&1 | tail -5", False, []),
        ("ls -la 2>/dev/null; grep -rn 'a > b' src", False, []),
        ("echo hi > out.txt", True, ["out.txt"]),
        ("cat > src/a.py <<'EOF'\nprint('x > y')\nEOF", True, ["src/a.py"]),
        ("sed -i 's/a/b/' src/x.py", True, ["src/x.py"]),
        ("sed -n 1,5p src/x.py", False, []),
        ("git status && git diff > /tmp/d.patch", False, []),
        ("git -C repo commit -m 'x > y'", True, []),
        ("mkdir -p /tmp/scratch && touch /tmp/scratch/x", False, []),
        ("cp a.py b.py && rm -rf build", True, ["b.py", "build"]),
        ("find . -name '*.pyc' | xargs rm", True, []),
        ('python -c \'open("f", "w")\'', False, []),
        ('echo "unbalanced', False, []),
    ],
)
def test_bash_commands_that_obviously_write(command, writes, files):
    assert transcript.bash_writes(command) == (writes, files)


@pytest.mark.parametrize(
    ("prompt", "task"),
    [
        ("thanks!", False), ("ok", False), ("yes please do that", False), ("Thank you so much, that works", False),
        ("/review src/export.py", False), ("!git status", False), ("fix it", False), ("", False),
        ("Fix the flaky export test", True), ("why does the worker hang on CI?", True), (PROMPT, True),
    ],
)  # fmt: skip
def test_which_prompts_are_tasks(prompt, task):
    assert events.is_task(prompt) is task


def test_guidance_keeps_whole_items_within_the_budget():
    from rb_mcp.models import Provenance, RecallHit

    hits = [
        RecallHit(id=i, title=f"Lesson {i}", description="d" * 100, content="c" * 300, kind="strategy",
                  scope=PROJECT, score=1.0, similarity=0.0, matched_by=["keyword"], helped=0, harmed=0,
                  provenance=Provenance(trajectory_id=None))
        for i in range(10)
    ]  # fmt: skip
    text, kept, _ = events.guidance(hits, [], 7, budget_tokens=300)
    assert len(text) <= 300 * events.CHARS_PER_TOKEN and 0 < len(kept) < 10
    assert all(f"Lesson {h.id}:" in text for h in kept) and "recall_id=7" in text
    assert events.guidance([], [], 7, 300) == ("", [], [])


# ---- the plugin ----------------------------------------------------------------------------------
def test_plugin_files_wire_the_four_events_and_agree_on_the_version():
    market = json.loads((ROOT / ".claude-plugin" / "marketplace.json").read_text())
    (entry,) = market["plugins"]
    assert market["name"] == entry["name"] == "rb-mcp" and entry["source"] == "./plugin"
    manifest = json.loads((PLUGIN / ".claude-plugin" / "plugin.json").read_text())
    assert manifest["name"] == "rb-mcp" and manifest["license"] == "Apache-2.0"
    assert manifest["version"] == entry["version"] == rb_mcp.__version__
    assert f"version={rb_mcp.__version__}\n" in LAUNCHER.read_text() and os.access(LAUNCHER, os.X_OK)
    assert {"description", "author", "homepage"} <= set(manifest)
    wiring = json.loads((PLUGIN / "hooks" / "hooks.json").read_text())["hooks"]
    commands = {event: group[0]["hooks"][0]["command"] for event, group in wiring.items()}
    launcher = '"${CLAUDE_PLUGIN_ROOT}/scripts/rb-mcp"'
    assert commands == {event: f"{launcher} hook {name}" for event, name in
                        zip(["SessionStart", "UserPromptSubmit", "Stop", "SessionEnd"], EVENTS)}  # fmt: skip
    server = json.loads((PLUGIN / ".mcp.json").read_text())["mcpServers"]["rb-mcp"]
    assert server["command"] == "${CLAUDE_PLUGIN_ROOT}/scripts/rb-mcp" and server["args"] == ["serve"]
    assert "Apache License" in (PLUGIN / "LICENSE").read_text()
    skill = (PLUGIN / "skills" / "reasoning-bank" / "SKILL.md").read_text()
    assert skill.startswith("---\nname: reasoning-bank\ndescription: ")
    for tool in ("recall_strategies", "refine_attempt", "record_trajectory", "recall_id"):
        assert tool in skill


def _bin(tmp_path: Path, **scripts: str) -> dict[str, str]:
    """An environment whose PATH holds these scripts (uv fails, as on a machine without it) and the system."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name, body in {"uv": "exit 1", **scripts}.items():
        (folder / name.replace("_", "-")).write_text(f"#!/bin/sh\n{body}\n")
        (folder / name.replace("_", "-")).chmod(0o755)
    return {
        "PATH": f"{folder}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CLAUDE_PLUGIN_DATA": str(tmp_path / "data"),
    }


def test_the_launchers_hooks_fail_open_without_uv_or_rb_mcp(tmp_path):
    env = _bin(tmp_path)
    hook = subprocess.run(
        [str(LAUNCHER), "hook", "stop"], input="{}", capture_output=True, text=True, env=env
    )
    assert (hook.returncode, hook.stdout) == (0, "")
    serve = subprocess.run(
        [str(LAUNCHER), "serve"], capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL
    )
    assert serve.returncode == 1 and "install uv" in serve.stderr
    placeholder = {
        **env,
        "CLAUDE_PLUGIN_DATA": "${CLAUDE_PLUGIN_DATA}",
    }  # a client that did not substitute it
    subprocess.run([str(LAUNCHER), "hook", "stop"], input=b"{}", env=placeholder, cwd=tmp_path, check=True)
    assert not (tmp_path / "${CLAUDE_PLUGIN_DATA}").exists()
    assert (tmp_path / ".local" / "share" / "rb-mcp" / "claude-plugin").is_dir()


def test_the_launcher_passes_stdin_to_rb_mcp_and_never_fails_a_hook(tmp_path):
    env = _bin(tmp_path, rb_mcp='echo "args: $*"\ncat\nexit 2')  # exit 2 would block a prompt in Claude Code
    done = subprocess.run(
        [str(LAUNCHER), "hook", "stop"], input='{"x": 1}', capture_output=True, text=True, env=env
    )
    assert (done.returncode, done.stdout) == (0, 'args: hook stop\n{"x": 1}')


def _claude() -> str | None:
    return os.environ.get("RB_MCP_CLAUDE") or shutil.which("claude")


@pytest.mark.skipif(_claude() is None, reason="Claude Code is not installed (npm install @anthropic-ai/claude-code, "
                    "then put claude on PATH or set RB_MCP_CLAUDE)")  # fmt: skip
def test_claude_code_validates_the_plugin_and_the_marketplace(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path)}  # keep the user's Claude Code settings out of it
    for target, extra in ((PLUGIN, ["--profile", "directory"]), (ROOT, [])):
        done = subprocess.run([_claude(), "plugin", "validate", *extra, "--strict", "--json", str(target)],
                              capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
        report = json.loads(done.stdout)
        assert done.returncode == 0 and report["success"], done.stdout + done.stderr
        assert report["manifest"]["errors"] == report["manifest"]["warnings"] == []


# ---- session linkage and control recalls ---------------------------------------------------------
def test_a_session_whose_prompt_recall_injected_items_counts_as_after_memory(tmp_path, env, repo, bank):
    from rb_mcp.loop.effect import effect_stats

    session = Session(tmp_path, env, repo)
    session.user(PROMPT)
    added = session.hook("user-prompt-submit", {"prompt": PROMPT})["hookSpecificOutput"]
    assert LESSON["title"] in added["additionalContext"]
    (recall,) = state.load(session.id).recalls
    assert bank.session_recalls(session.id) == [recall.recall_id]
    assert bank.count_items(str(repo)) == {PROJECT: 1, "global": 0}
    recorded = bank.record(task=PROMPT, steps=["waited for readiness"], outcome="success",
                           project=str(repo), session_id=session.id)  # fmt: skip
    assert bank.trajectory(recorded.trajectory_id).recall_id == recall_number(bank.id_key, recall.recall_id)
    assert recorded.credited == recall.items  # the injected lesson gets credit without a recall_id
    arms = {a.arm: a for a in effect_stats(bank, PROJECT).overall.arms}
    assert (arms["memory"].successes, arms["memory"].failures) == (1, 0)
    assert arms["control"].trajectories == 0 and arms["without"].successes == 1  # the seeded lesson's task


def test_a_control_recall_adds_no_context_but_its_verdict_counts_as_control(tmp_path, env, repo, bank):
    from rb_mcp.loop.effect import effect_stats

    session = Session(tmp_path, {**env, "RB_MCP_CONTROL_RATE": "1"}, repo)
    session.user(PROMPT)
    assert session.hook("user-prompt-submit", {"prompt": PROMPT}) is None
    (recall,) = state.load(session.id).recalls
    assert recall.control and recall.items == [] and bank.session_recalls(session.id) == [recall.recall_id]
    bank.record(task=PROMPT, steps=["tried without memory"], outcome="failure", project=str(repo),
                session_id=session.id)  # fmt: skip
    arms = {a.arm: a for a in effect_stats(bank, PROJECT).overall.arms}
    assert (arms["control"].successes, arms["control"].failures) == (0, 1) and arms[
        "memory"
    ].trajectories == 0
