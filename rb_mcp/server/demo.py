"""`rb-mcp demo`: the whole loop against a throwaway bank, through a real MCP client over stdio.

It starts `python -m rb_mcp serve` exactly as Claude Desktop would, records a success and a
failure (the failure through the judge-less extraction round trip), recalls in a new session,
and runs both refinement modes. What it prints is what the agent would see.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

TASK_1 = "Fix flaky test: test_upload times out intermittently in CI when the S3 mock starts slowly"
TASK_2 = "Pagination endpoint returns duplicate rows across pages when sorting by created_at"
TASK_3 = "Integration test for the export job hangs randomly on the CI runner"


def _say(title: str, body: str = "") -> None:
    print(f"\n== {title}")
    if body:
        print(textwrap.indent(body.strip(), "   "))


async def _call(client: Any, name: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, args)
    if result.is_error:
        raise RuntimeError(f"{name} failed: {result.content[0].text}")
    return result.structured_content


def _params(bank: Path):
    from mcp.client.stdio import StdioServerParameters

    env = {**os.environ, "RB_MCP_BANK": str(bank), "RB_MCP_PROJECT": "demo/shop-api"}
    return StdioServerParameters(command=sys.executable, args=["-m", "rb_mcp", "serve"], env=env)


async def _session_one(bank: Path) -> None:
    from mcp import Client

    async with Client(_params(bank)) as client:
        tools = await client.list_tools()
        _say("session 1: connected", "tools: " + ", ".join(t.name for t in tools.tools))
        r = await _call(client, "recall_strategies", {"task": TASK_1})
        _say("recall_strategies on an empty bank", r["guidance"])
        r = await _call(client, "record_trajectory", {
            "task": TASK_1,
            "steps": ["ran the test 20 times: 3 timeouts, all while the mock server was still booting",
                      "replaced the fixed sleep with a readiness probe on the mock's health endpoint",
                      "ran it 50 times: no timeout"],
            "outcome": "success",
            "files": ["tests/test_upload.py", "tests/conftest.py"],
            "items": [{
                "title": "Wait for readiness, not for time, when a test depends on a mock service",
                "description": "Intermittent timeouts around a mock or container usually mean the test starts before the service is ready.",
                "content": "Reproduce the flake by looping the test, correlate failures with service start-up, then replace fixed sleeps with a readiness probe (health endpoint or port check) with a bounded timeout and a clear error.",
            }],
        })  # fmt: skip
        _say("record_trajectory (success, with an item)", f"status={r['status']} stored={r['stored']}")
        r = await _call(client, "record_trajectory", {
            "task": TASK_2,
            "summary": "Added a secondary sort on id; duplicates still appeared because the cursor only encoded created_at. Gave up after two attempts.",
            "files": ["api/pagination.py"],
        })  # fmt: skip
        tid = r["trajectory_id"]
        _say("record_trajectory without a verdict -> judge prompt", r["prompt"][:400] + " ...")
        r = await _call(client, "record_trajectory", {"trajectory_id": tid, "outcome": "failure",
                                                      "rationale": "duplicates remained in the last run"})  # fmt: skip
        _say("answer the judge -> extraction prompt", r["prompt"][:500] + " ...")
        r = await _call(client, "record_trajectory", {"trajectory_id": tid, "items": [{
            "title": "Keyset pagination needs a unique, complete cursor",
            "description": "Sorting by a non-unique column duplicates or skips rows across pages unless the cursor carries a tiebreaker.",
            "content": "When paginating by a timestamp, make the ORDER BY total (timestamp, id) and encode both values in the cursor; the WHERE clause must compare the tuple, not the timestamp alone. Verify with rows that share a timestamp.",
            "kind": "pitfall",
        }]})  # fmt: skip
        _say("answer the extraction prompt -> stored", f"stored={r['stored']}")


async def _session_two(bank: Path) -> None:
    from mcp import Client

    async with Client(_params(bank)) as client:
        r = await _call(client, "recall_strategies", {"task": TASK_3})
        _say("session 2 (server restarted): recall_strategies for a new, related task", r["guidance"])
        r = await _call(client, "refine_attempt", {
            "task": TASK_3, "mode": "sequential",
            "attempt": "Increased the job timeout from 30s to 120s; the hang happened once more in 10 runs.",
        })  # fmt: skip
        _say("refine_attempt (sequential): memory-guided self-check", r["prompt"])
        group = "export-job-hang"
        for text, outcome in [
            ("Raised timeouts again; still hangs sometimes.", "failure"),
            (
                "Waited for the queue worker's readiness signal before enqueuing the job; 50 runs green.",
                "success",
            ),
        ]:
            r = await _call(client, "refine_attempt", {"task": TASK_3, "mode": "parallel", "group_id": group,
                                                       "attempt": text, "outcome": outcome})  # fmt: skip
        _say(
            "refine_attempt (parallel): two attempts judged -> self-contrast prompt",
            r["prompt"][:700] + " ...",
        )
        r = await _call(client, "refine_attempt", {"task": TASK_3, "mode": "parallel", "group_id": group,
            "items": [{
                "title": "Longer timeouts hide start-up races instead of fixing them",
                "description": "When a hang is intermittent, the successful fix synchronised on a readiness signal; raising timeouts never did.",
                "content": "Contrast what passing and failing runs waited for: if passing runs happen to start after a dependency is ready, add an explicit readiness wait and keep the original timeout so real hangs still fail fast.",
            }]})  # fmt: skip
        _say("contrast items stored, linked to both attempts", f"stored={r['stored']}")


def run_demo(keep: bool = False) -> int:
    import anyio

    workdir = Path(tempfile.mkdtemp(prefix="rb-mcp-demo-"))
    bank = workdir / "bank.sqlite3"
    print(f"rb-mcp demo: throwaway bank {bank}")
    try:
        anyio.run(_session_one, bank)
        anyio.run(_session_two, bank)
        print(
            "\nThe memory persisted across two server processes. Next: add rb-mcp to your client (see README)."
        )
        return 0
    finally:
        if keep:
            print(f"kept the bank: {bank}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
