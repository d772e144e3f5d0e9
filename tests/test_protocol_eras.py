"""Both protocol eras end to end: `rb-mcp serve` driven by the SDK client pinned to the handshake era
(2025-11-25, `mode="legacy"`) and to 2026-07-28 (a version pin: per-request envelope, no
`initialize`). The agent round trip, argument slips, resources and prompts, and the server-side
model through sampling (deprecated in 2026-07-28 but still served) behave the same in both."""

from __future__ import annotations

import sys
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError
from test_sampling import Sampler

pytestmark = pytest.mark.e2e
ERAS = {"legacy": "2025-11-25", "2026-07-28": "2026-07-28"}
NOT_FOUND = {"legacy": -32002, "2026-07-28": -32602}  # SEP-2164 moved it to invalid params
ITEM = {
    "title": "Wait for readiness, not for time, before using a started service",
    "description": "When a test talks to a service it just started, fixed sleeps race the start-up.",
    "content": "Poll the service's health or readiness signal with a bounded timeout before the first request, "
    "and fail with the last status seen; remove fixed sleeps.",
}


def client(env: dict[str, str], mode: str, sampler: Sampler | None = None) -> Client:
    server = StdioServerParameters(command=sys.executable, args=["-m", "rb_mcp", "serve"], env=env)
    return Client(server, mode=mode, sampling_callback=sampler)


async def ok(c: Client, name: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await c.call_tool(name, args)
    assert not result.is_error, result.content[0].text
    return result.structured_content


@pytest.mark.parametrize("mode", list(ERAS))
def test_agent_round_trip_slips_resources_and_prompts(isolated_env, mode):
    async def go() -> None:
        async with client(isolated_env | {"RB_MCP_SAMPLING": "off"}, mode) as c:
            assert c.protocol_version == ERAS[mode]
            # One kind as a string and steps as one string are what the model meant: accepted.
            r = await ok(c, "recall_strategies", {"task": "Export test hangs on CI", "kinds": "pitfall"})
            assert r["items"] == [] and r["guidance_tokens"] > 0
            r = await ok(
                c, "record_trajectory", {"task": "Export test hangs on CI", "steps": "looped it 20 times"}
            )
            assert r["status"] == "needs_verdict" and "looped it 20 times" in r["prompt"]
            tid = r["trajectory_id"]
            r = await ok(c, "record_trajectory", {"trajectory_id": tid, "outcome": "success"})
            assert r["status"] == "needs_items"
            r = await ok(c, "record_trajectory", {"trajectory_id": tid, "items": [ITEM]})
            assert r["status"] == "stored" and r["stored"][0]["action"] == "added"
            # A real slip: the field, what it got and what to send, without pydantic's links.
            bad = await c.call_tool("recall_strategies", {"task": "t", "k": 0})
            text = bad.content[0].text
            assert bad.is_error and "k: got 0; send a whole number from 1 to 20" in text
            assert "pydantic" not in text and "http" not in text

            item = r["stored"][0]["id"]
            found = await c.read_resource(f"rb://items/{item}")
            assert ITEM["title"] in found.contents[0].text
            with pytest.raises(MCPError) as missing:
                await c.read_resource("rb://items/9999")
            assert missing.value.error.code == NOT_FOUND[mode] and "no memory item 9999" in str(missing.value)
            prompts = {p.name: p for p in (await c.list_prompts()).prompts}
            assert all(a.description for p in prompts.values() for a in p.arguments)
            shown = await c.get_prompt("use-memory", {"task": "Fix the export hang"})
            assert "recall_strategies" in shown.messages[0].content.text

    anyio.run(go)


@pytest.mark.parametrize("mode", list(ERAS))
def test_parallel_attempts_without_outcome_say_how_to_give_verdicts(isolated_env, mode):
    task = "Speed up the slow integration suite"

    async def go() -> None:
        async with client(isolated_env | {"RB_MCP_SAMPLING": "off"}, mode) as c:
            for attempt in ("ran the suite with 4 workers", "cached the database fixture"):
                r = await ok(c, "refine_attempt", {"task": task, "mode": "parallel", "group_id": "speed",
                                                   "attempt": attempt})  # fmt: skip
            assert r["status"] == "needs_verdicts"
            ids = [a["trajectory_id"] for a in r["attempts"]]
            assert "record_trajectory(trajectory_id=N, outcome=...)" in r["next_step"]
            assert all(str(t) in r["next_step"] for t in ids) and "twice" in r["next_step"]
            assert "with an outcome each" not in r["next_step"]  # resending created duplicates
            for tid, outcome in zip(ids, ("failure", "success")):
                v = await ok(c, "record_trajectory", {"trajectory_id": tid, "outcome": outcome})
                assert "refine_attempt(mode='parallel', group_id='speed'" in v["next_step"]
            r = await ok(c, "refine_attempt", {"task": task, "mode": "parallel", "group_id": "speed"})
            assert r["status"] == "contrast" and len(r["attempts"]) == 2
            r = await ok(
                c, "refine_attempt", {"task": task, "mode": "parallel", "group_id": "speed", "items": [ITEM]}
            )
            assert r["status"] == "stored"

            queued = await ok(
                c, "record_trajectory", {"task": "Upgrade the ORM", "summary": "migrations pass"}
            )
            drained = await c.call_tool("distill_pending", {})
            text = drained.content[0].text
            assert str(queued["trajectory_id"]) in text and "record_trajectory(trajectory_id=N)" in text
            assert "prompt back" in text

    anyio.run(go)


@pytest.mark.parametrize("mode", list(ERAS))
def test_sampling_judges_each_attempt_and_says_so(isolated_env, mode):
    sampler = Sampler()
    task = "Export job hangs on CI"

    async def go() -> None:
        async with client(isolated_env, mode, sampler) as c:
            r = await ok(c, "refine_attempt", {"task": task, "mode": "parallel", "group_id": "s",
                                               "attempt": "raised the timeout"})  # fmt: skip
            assert r["status"] == "needs_verdicts" and r["attempts"][0]["outcome"] == "success"
            assert "could not judge" not in r["next_step"]  # it did judge: one attempt is not enough yet
            assert "Judged so far: attempt 1 (success)" in r["next_step"]
            r = await ok(c, "refine_attempt", {"task": task, "mode": "parallel", "group_id": "s",
                                               "attempt": "waited for readiness"})  # fmt: skip
            assert r["status"] == "stored" and "Best of 2" in r["next_step"]
        assert sampler.requests, "the client's model was never asked"

    anyio.run(go)
