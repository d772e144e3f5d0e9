"""End to end with an OpenAI-compatible endpoint: `rb-mcp serve` as a subprocess, driven by the mcp SDK
client over stdio, judging and distilling through a real HTTP server the test starts on 127.0.0.1
(tests/test_llm_stub.py). Then the queue: it survives a killed server and `rb-mcp distill` drains it."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from test_llm_stub import CONTRAST_ITEMS, GOOD_ITEMS, KEY, ScriptedLLM

from rb_mcp.config import Config
from rb_mcp.loop.bank import Bank

pytestmark = pytest.mark.e2e


@pytest.fixture
def stub():
    with ScriptedLLM() as server:
        yield server


def params(env: dict[str, str], bank: Path | None = None) -> StdioServerParameters:
    extra = ["--bank", str(bank)] if bank else []
    return StdioServerParameters(command=sys.executable, args=["-m", "rb_mcp", "serve", *extra], env=env)


async def call(
    client: Client, name: str, args: dict[str, Any], progress: list | None = None
) -> dict[str, Any]:
    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        if progress is not None:
            progress.append((done, total, message))

    result = await client.call_tool(name, args, progress_callback=on_progress)
    assert not result.is_error, result.content[0].text
    return result.structured_content


def test_http_backend_through_rb_mcp_serve(isolated_env, stub: ScriptedLLM, tmp_path):
    env = isolated_env | stub.env(RB_MCP_LLM_TIMEOUT="1", RB_MCP_LLM_RETRIES="2", RB_MCP_LLM_CHECK_TURNS="1")

    async def go() -> None:
        async with Client(params(env)) as client:
            seen: list = []
            r = await call(client, "record_trajectory", {"task": "Fix the CSV export that drops the header row",
                           "steps": ["wrote a failing test", "fixed the writer", "suite green"]}, seen)  # fmt: skip
            assert r["status"] == "stored" and r["outcome"] == "success"
            assert [s["title"] for s in r["stored"]] == [GOOD_ITEMS["success"]["title"]]
            assert len(seen) == 3 and seen[-1][0] == seen[-1][1] == 3

            stub.push({"content": "It worked, I think."})  # malformed judge answer: one repair turn
            r = await call(
                client, "record_trajectory", {"task": "Fix the flaky login test [fail]", "summary": "s"}
            )
            assert r["status"] == "stored" and r["outcome"] == "failure"

            stub.push(
                {"status": 429, "headers": {"Retry-After": "0"}}, {"status": 500}
            )  # then the default answers
            r = await call(
                client, "record_trajectory", {"task": "Speed up the docs build", "summary": "cached it"}
            )
            assert r["status"] == "stored"

            stub.push(*[{"delay": 2.5, "content": "late"}] * 3)  # slower than RB_MCP_LLM_TIMEOUT, every retry
            r = await call(
                client, "record_trajectory", {"task": "Upgrade the ORM", "summary": "migrations pass"}
            )
            assert r["status"] == "needs_verdict" and "no answer within 1 s" in r["next_step"]
            queued = r["trajectory_id"]

            r = await call(client, "refine_attempt", {"task": "Export job hangs on CI", "mode": "parallel",
                                                       "group_id": "x", "attempt": "raised the timeout"})  # fmt: skip
            r = await call(client, "refine_attempt", {"task": "Export job hangs on CI", "mode": "parallel",
                                                       "group_id": "x", "attempt": "waited for readiness"})  # fmt: skip
            assert (
                r["status"] == "stored"
                and len(r["stored"]) == len(CONTRAST_ITEMS)
                and "Best of 2" in r["next_step"]
            )

            r = await call(client, "refine_attempt", {"task": "Duplicate rows across pages", "mode": "sequential",
                                                       "attempt": "added ORDER BY created_at"})  # fmt: skip
            assert r["status"] == "check" and "REVIEW 1" in r["prompt"]

            seen = []
            r = await call(client, "distill_pending", {}, seen)
            assert r["distilled"] == 1 and r["remaining"] == 0 and seen
            r = await call(client, "record_trajectory", {"trajectory_id": queued})
            assert r["status"] == "stored" and "already distilled" in r["next_step"]

    anyio.run(go)
    assert all(req["headers"].get("Authorization") == f"Bearer {KEY}" for req in stub.chats())
    bank_bytes = Path(env["RB_MCP_BANK"]).read_bytes()
    assert KEY.encode() not in bank_bytes
    with Bank(Config(bank=Path(env["RB_MCP_BANK"]), preload=False)) as bank:
        assert bank.store.one("select count(*) from trajectories where status like 'pending%'")[0] == 0
        assert bank.store.consistency_problems() == []


def _server_pid(marker: str) -> int | None:
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "rb_mcp serve" in cmdline and marker in cmdline:
                return int(proc.name)
    return None


def test_queue_survives_a_killed_server_and_rb_mcp_distill_drains_it(
    isolated_env, stub: ScriptedLLM, tmp_path
):
    bank_path = tmp_path / "killed-bank.sqlite3"

    async def without_model() -> None:  # the agent never answers the prompts: the trajectory stays queued
        async with Client(params(isolated_env, bank_path)) as client:
            r = await call(
                client, "record_trajectory", {"task": "Fix the timezone bug in reports", "summary": "s"}
            )
            assert r["status"] == "needs_verdict"
            for outcome in ("failure", "success"):
                await call(client, "refine_attempt", {"task": "Export job hangs on CI", "mode": "parallel",
                                                       "group_id": "k", "attempt": f"try {outcome}", "outcome": outcome})  # fmt: skip

    broken: list[Exception] = []
    killed: list[int] = []

    async def killed_mid_judge() -> None:
        stub.push({"delay": 30, "content": "never delivered"})
        env = isolated_env | stub.env(RB_MCP_LLM_TIMEOUT="60")
        async with Client(params(env, bank_path)) as client, anyio.create_task_group() as tg:

            async def record() -> None:
                try:
                    await client.call_tool(
                        "record_trajectory", {"task": "Fix the login redirect loop", "summary": "s"}
                    )
                except Exception as exc:  # the connection dies with the server
                    broken.append(exc)

            tg.start_soon(record)
            with anyio.fail_after(60):
                while not stub.chats():  # the server is inside the judge call now
                    await anyio.sleep(0.05)
            pid = _server_pid(str(bank_path))
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    anyio.run(without_model)
    with contextlib.suppress(Exception):  # the SDK may also surface the dead transport when the client closes
        anyio.run(killed_mid_judge)
    assert killed and broken, "the server was not killed in the middle of the judge call"
    with Bank(Config(bank=bank_path, preload=False)) as bank:
        queue = bank.store.query(
            "select task, status from trajectories where status like 'pending%' and role != 'refine'"
        )
        assert ("Fix the login redirect loop", "pending_verdict") in queue and len(queue) == 4

    env = {k: v for k, v in (isolated_env | stub.env()).items() if k != "RB_MCP_BANK"}
    master, slave = pty.openpty()
    proc = subprocess.run([sys.executable, "-m", "rb_mcp", "distill", "--bank", str(bank_path)], env=env,
                          stdout=subprocess.PIPE, stderr=slave, timeout=300)  # fmt: skip
    os.close(slave)
    bar = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        bar += chunk
    os.close(master)
    assert proc.returncode == 0, bar.decode(errors="replace")
    report = json.loads(proc.stdout)
    assert report["distilled"] == 2 and report["contrasted"] == 1 and report["remaining"] == 0
    assert b"distilling [" in bar and b"] 5/5" in bar  # 4 trajectories and 1 group
    with Bank(Config(bank=bank_path, preload=False)) as bank:
        assert bank.store.one("select count(*) from trajectories where status like 'pending%'")[0] == 0
        assert bank.store.consistency_problems() == []
        assert bank.store.one("select count(*) from items where status = 'active'")[0] >= 3


def test_rb_mcp_distill_without_endpoint_says_what_to_set(isolated_env):
    env = {k: v for k, v in isolated_env.items() if not k.startswith("RB_MCP_LLM_")}
    proc = subprocess.run([sys.executable, "-m", "rb_mcp", "distill"], env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 1 and "RB_MCP_LLM_BASE_URL" in proc.stderr and "queued" in proc.stderr
