"""End to end through MCP sampling: `rb-mcp serve` as a subprocess and a real mcp SDK client whose
sampling callback plays the model (the same scripted answers as the HTTP stub). Both transports the
SDK speaks: the 2026-07-28 input-required rounds (mode "auto") and the back channel of the
handshake-era protocol (mode "legacy", what VS Code and most clients speak today)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from test_llm_stub import GOOD_ITEMS, ScriptedLLM, answer_for

from rb_mcp.config import Config
from rb_mcp.loop.bank import Bank

pytestmark = pytest.mark.e2e


class Sampler:
    """A client-side model: answers sampling requests with `answer_for`, or refuses when told to."""

    def __init__(self, refuse: int = 0):
        self.requests: list[types.CreateMessageRequestParams] = []
        self.refuse = refuse

    async def __call__(self, context: Any, params: types.CreateMessageRequestParams):
        self.requests.append(params)
        if self.refuse:
            self.refuse -= 1
            return types.ErrorData(code=types.INVALID_REQUEST, message="the user declined sampling")
        turns = [(m.role, m.content.text) for m in params.messages]
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=answer_for(turns)),
            model="client-model",
        )

    def firsts(self) -> list[str]:
        return [p.messages[0].content.text for p in self.requests]


def client(env: dict[str, str], sampler: Sampler | None, mode: str = "auto") -> Client:
    server = StdioServerParameters(command=sys.executable, args=["-m", "rb_mcp", "serve"], env=env)
    return Client(server, sampling_callback=sampler, mode=mode)


async def call(c: Client, name: str, args: dict[str, Any], progress: list | None = None) -> dict[str, Any]:
    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        if progress is not None:
            progress.append((done, total, message))

    result = await c.call_tool(name, args, progress_callback=on_progress)
    assert not result.is_error, result.content[0].text
    return result.structured_content


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_judge_extract_contrast_and_review_through_sampling(isolated_env, mode):
    sampler = Sampler()

    async def go() -> None:
        async with client(isolated_env, sampler, mode) as c:
            seen: list = []
            r = await call(c, "record_trajectory", {"task": "Fix the CSV export that drops the header row",
                                                    "steps": ["failing test", "fix", "suite green"]}, seen)  # fmt: skip
            assert r["status"] == "stored" and r["outcome"] == "success" and "MCP sampling" in r["next_step"]
            assert [s["title"] for s in r["stored"]] == [GOOD_ITEMS["success"]["title"]]
            assert "You are judging" in sampler.firsts()[0] and "SUCCEEDED" in sampler.firsts()[1]
            assert sampler.requests[0].system_prompt and sampler.requests[0].include_context == "none"
            assert seen and seen[-1][0] == 3

            for attempt in ("raised the timeout", "waited for readiness"):
                r = await call(c, "refine_attempt", {"task": "Export job hangs on CI", "mode": "parallel",
                                                     "group_id": "s", "attempt": attempt})  # fmt: skip
            assert (
                r["status"] == "stored" and len(r["stored"]) == 2 and "Best of 2: attempt 2" in r["next_step"]
            )
            assert [a["outcome"] for a in r["attempts"]] == ["success", "success"]

            r = await call(c, "refine_attempt", {"task": "Duplicate rows across pages", "mode": "sequential",
                                                 "attempt": "added ORDER BY created_at"})  # fmt: skip
            assert r["status"] == "check" and "REVIEW 2" in r["prompt"]
            assert sampler.requests[-1].messages[-1].content.text.startswith("Check again")

    anyio.run(go)
    with Bank(Config(bank=Path(isolated_env["RB_MCP_BANK"]), preload=False)) as bank:
        assert bank.store.one("select count(*) from trajectories where status like 'pending%'")[0] == 0
        assert bank.store.consistency_problems() == []


def test_refused_sampling_falls_back_to_the_endpoint_then_to_the_agent(isolated_env):
    sampler = Sampler(refuse=100)

    async def go(stub: ScriptedLLM) -> None:
        async with client(isolated_env | stub.env(), sampler, "legacy") as c:
            r = await call(
                c, "record_trajectory", {"task": "Fix the flaky login test [fail]", "summary": "s"}
            )
            assert (
                r["status"] == "stored" and r["outcome"] == "failure" and "http stub-model" in r["next_step"]
            )
            assert (
                len(sampler.requests) == 2 and len(stub.chats()) == 2
            )  # each request: sampling first, then HTTP
        async with client(isolated_env | {"RB_MCP_LLM_RETRIES": "0"} | stub.env(), sampler, "legacy") as c:
            stub.push({"status": 500})
            r = await call(c, "record_trajectory", {"task": "Upgrade the ORM", "summary": "migrations pass"})
            assert r["status"] == "needs_verdict" and "declined sampling" in r["next_step"]
            assert "HTTP 500" in r["next_step"]

    with ScriptedLLM() as stub:
        anyio.run(go, stub)


def test_sampling_off_and_no_capability_keep_the_agent_round_trip(isolated_env):
    sampler = Sampler()

    async def go() -> None:
        async with client(isolated_env | {"RB_MCP_SAMPLING": "off"}, sampler) as c:
            r = await call(c, "record_trajectory", {"task": "Fix the timezone bug", "summary": "s"})
            assert r["status"] == "needs_verdict" and sampler.requests == []
            r = await call(c, "distill_pending", {})
            assert (
                r["remaining"] == 1 and r["remaining_ids"] == [1] and "no server-side model" in r["stopped"]
            )

    anyio.run(go)


def test_queue_drained_through_sampling_with_progress(isolated_env):
    sampler = Sampler(refuse=1)

    async def refused_first() -> None:  # 2026-07-28: a refusal ends the call on the client side ...
        async with client(isolated_env | {"RB_MCP_SAMPLING_TIMEOUT": "5"}, sampler) as c:
            result = None
            try:
                result = await c.call_tool(
                    "record_trajectory", {"task": "Fix the login redirect loop", "summary": "s"}
                )
            except Exception as exc:
                assert "declined sampling" in str(exc)
            assert result is None or result.is_error
            for n in range(2):
                r = await call(c, "record_trajectory", {"task": f"Fix bug {n}", "summary": "s", "outcome": "failure",
                                                        "items": [GOOD_ITEMS["failure"]]})  # fmt: skip
                assert r["status"] == "stored"

    async def drain_later() -> None:  # ... and the trajectory waits in the queue for a later drain
        async with client(isolated_env, sampler, "legacy") as c:
            seen: list = []
            r = await call(c, "distill_pending", {"limit": 10}, seen)
            assert r["distilled"] == 1 and r["remaining"] == 0 and "MCP sampling" in r["backend"]
            assert seen and seen[-1][0] == seen[-1][1] == 1

    anyio.run(refused_first)
    with Bank(Config(bank=Path(isolated_env["RB_MCP_BANK"]), preload=False)) as bank:
        rows = bank.store.query("select task, status from trajectories order by id")
        assert rows[0] == ("Fix the login redirect loop", "pending_verdict")
    anyio.run(drain_later)
