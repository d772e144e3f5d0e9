"""End to end: start `rb-mcp serve` as a subprocess and drive the loop with the mcp SDK client over
stdio, as Claude Desktop would, across server restarts."""

from __future__ import annotations

import re
import sys
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

pytestmark = pytest.mark.e2e
BOTH_BACKENDS = True  # the full loop runs on a SQLite file and on `--bank postgresql://...` (conftest)

ITEM = {
    "title": "Bisect a regression with a scripted reproduction",
    "description": "When a behaviour broke between two releases, automate the check and let git bisect find the change.",
    "content": "Write a script that exits non-zero on the broken behaviour, verify it on both ends of the range, "
    "then run git bisect with it; read the offending change before patching.",
}
PITFALL = {
    "title": "Do not trust a green run that skipped the failing tests",
    "description": "Test selection flags or markers can silently skip the test that reproduces the bug.",
    "content": "After a fix, confirm the reproducing test actually ran: check the collected count and the test id "
    "in the output, and run it alone once before declaring success.",
}


def params(env: dict[str, str], *extra: str) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "rb_mcp", "serve", *extra], env=env)


async def call(client: Client, name: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, args)
    assert not result.is_error, result.content[0].text
    return result.structured_content


def run(fn, *args):
    return anyio.run(fn, *args)


def test_full_loop_across_two_restarts(isolated_env, bank_target):
    bank = ("--bank", str(bank_target))

    async def session_one():
        async with Client(params(isolated_env, *bank)) as client:
            assert "recall_strategies" in (client.instructions or "")
            names = {t.name for t in (await client.list_tools()).tools}
            assert {"recall_strategies", "record_trajectory", "refine_attempt"} <= names
            empty = await call(client, "recall_strategies", {"task": "Find which commit broke CSV export"})
            assert empty["items"] == [] and "No stored memory" in empty["guidance"]
            stored = await call(client, "record_trajectory", {
                "task": "Find which commit broke CSV export", "steps": ["wrote repro script", "git bisect run"],
                "outcome": "success", "items": [ITEM], "files": ["export/csv.py"], "project": "acme/app",
            })  # fmt: skip
            assert stored["status"] == "stored" and stored["stored"][0]["action"] == "added"
            # pending judge -> pending distill round trip
            pending = await call(client, "record_trajectory", {
                "task": "Fix the date parsing bug in the importer", "summary": "tests green after fix, but the "
                "failing test had been deselected by a marker", "project": "acme/app",
            })  # fmt: skip
            assert pending["status"] == "needs_verdict" and "outcome" in pending["prompt"]
            return pending["trajectory_id"]

    async def session_two(tid: int):
        async with Client(params(isolated_env, *bank)) as client:
            judged = await call(client, "record_trajectory", {"trajectory_id": tid, "outcome": "failure"})
            assert judged["status"] == "needs_items" and "FAILED" in judged["prompt"]
            done = await call(client, "record_trajectory", {"trajectory_id": tid, "items": [PITFALL]})
            assert done["status"] == "stored"

    async def session_three():
        async with Client(params(isolated_env, *bank)) as client:
            r = await call(client, "recall_strategies", {"task": "A release broke PDF export; find the culprit commit",
                                                          "project": "acme/app"})  # fmt: skip
            assert r["items"] and r["items"][0]["title"] == ITEM["title"]
            assert r["items"][0]["provenance"]["task"].startswith("Find which commit")
            r2 = await call(client, "recall_strategies", {"task": "My fix passed but the test was skipped by a marker",
                                                           "project": "acme/app", "kinds": ["pitfall"]})  # fmt: skip
            assert [i["title"] for i in r2["items"]] == [PITFALL["title"]]
            seq = await call(client, "refine_attempt", {"task": "Test still fails after my fix; deselected tests?",
                                                         "attempt": "ran pytest -m 'not slow'", "mode": "sequential",
                                                         "project": "acme/app"})  # fmt: skip
            assert seq["status"] == "check" and PITFALL["title"] in seq["prompt"]
            for outcome in ("failure", "success"):
                par = await call(client, "refine_attempt", {"task": "Speed up the slow suite", "attempt": f"try {outcome}",
                                                             "mode": "parallel", "group_id": "speed", "outcome": outcome})  # fmt: skip
            assert par["status"] == "contrast"
            par = await call(client, "refine_attempt", {"task": "Speed up the slow suite", "attempt": "", "mode": "parallel",
                                                         "group_id": "speed", "items": [ITEM | {"title": "Profile before parallelising a slow suite", "content": "Measure where the suite spends time with the durations report before reaching for parallel runners; fix the slowest fixtures first and re-measure."}]})  # fmt: skip
            assert par["status"] == "stored"
            res = await client.read_resource("rb://items/recent")
            assert ITEM["title"] in res.contents[0].text
            prompts = await client.list_prompts()
            assert "use-memory" in {p.name for p in prompts.prompts}

    tid = run(session_one)
    run(session_two, tid)
    run(session_three)


def test_bad_input_is_a_clear_tool_error_and_server_survives(isolated_env):
    async def go():
        async with Client(params(isolated_env)) as client:
            bad = await client.call_tool("record_trajectory", {"task": "x task"})
            assert bad.is_error and "steps" in bad.content[0].text and "summary" in bad.content[0].text
            bad = await client.call_tool("record_trajectory", {"trajectory_id": 12345, "outcome": "success"})
            assert bad.is_error and "trajectory_id 12345 is unknown" in bad.content[0].text
            bad = await client.call_tool("recall_strategies", {"task": ""})
            assert bad.is_error
            bad = await client.call_tool("refine_attempt", {"task": "t", "attempt": "a", "mode": "sideways"})
            assert bad.is_error
            bad = await client.call_tool("record_trajectory", {"task": "t task", "summary": "s", "outcome": "success",
                                                                "items": [{"title": "x"}]})  # fmt: skip
            assert bad.is_error and "description" in bad.content[0].text
            ok = await call(client, "recall_strategies", {"task": "still alive?"})
            assert re.fullmatch(r"[0-9]+-[a-z2-7]{16}", ok["recall_id"])

    run(go)


def test_bank_flag_overrides_env(isolated_env, tmp_path):
    other = tmp_path / "other.sqlite3"

    async def go():
        async with Client(params(isolated_env, "--bank", str(other))) as client:
            await call(client, "record_trajectory", {"task": "flag bank", "summary": "s"})

    run(go)
    assert other.exists()
