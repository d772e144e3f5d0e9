"""The sampling job on its own: the bounds that keep a client that never answers from pinning a thread
or exceeding the SDK's input rounds, and the errors a stale or foreign retry gets."""

from __future__ import annotations

import json
import time

import anyio
import mcp_types as types
import pytest

from rb_mcp.llm import LLMError
from rb_mcp.server import sampling

PARAMS = types.CreateMessageRequestParams(
    messages=[types.SamplingMessage(role="user", content=types.TextContent(type="text", text="hi"))],
    max_tokens=10,
)
ANSWER = types.CreateMessageResult(
    role="assistant", content=types.TextContent(type="text", text="ok"), model="m"
)


def test_modern_job_asks_at_most_max_rounds():
    job = sampling.Job(modern=True, timeout=5)
    for _ in range(sampling.MAX_ROUNDS):
        job.answer(ANSWER)
        assert sampling.SamplingLLM(job).complete([("user", "hi")], system="s", max_tokens=5) == "ok"
    with pytest.raises(LLMError, match="sampling rounds"):
        job.ask(PARAMS)


def test_unanswered_request_times_out_and_is_reported():
    job = sampling.Job(modern=True, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(LLMError, match="did not answer within 0.2 s"):
        job.ask(PARAMS)
    assert time.monotonic() - started < 2 and job.abandoned


def test_resume_rejects_unknown_and_finished_jobs():
    with pytest.raises(LLMError, match="not one rb-mcp issued"):
        sampling.resume("{broken", {})
    with pytest.raises(LLMError, match="server restarted"):
        sampling.resume(json.dumps({"job": "nope", "key": "rb-mcp-1"}), {})


def test_resume_without_an_answer_fails_the_request_not_the_thread():
    job = sampling.start(lambda j: j.ask(PARAMS), modern=True, timeout=5)
    event = job.events.get(timeout=5)
    assert event.kind == "sample"
    sampling.resume(json.dumps({"job": job.id, "key": event.key}), {})
    done = job.events.get(timeout=5)
    assert done.kind == "error" and "retried without the sampling answer" in str(done.value)


def test_text_of_rejects_non_text_answers():
    image = types.CreateMessageResult(
        role="assistant",
        content=types.ImageContent(type="image", data="aGk=", mime_type="image/png"),
        model="m",
    )
    with pytest.raises(LLMError, match="without text"):
        sampling._text_of(image)


def test_pump_relays_progress_and_returns_the_result():
    class Ctx:
        def __init__(self) -> None:
            self.progress: list[tuple[float, float, str]] = []

        async def report_progress(self, done: float, total: float, message: str) -> None:
            self.progress.append((done, total, message))

    def body(job: sampling.Job) -> str:
        job.progress(1, 2, "half")
        job.progress(2, 2, "all")
        return "result"

    ctx = Ctx()
    job = sampling.start(body, modern=False, timeout=5)
    assert anyio.run(sampling.pump, job, ctx) == "result"
    assert ctx.progress == [(1, 2, "half"), (2, 2, "all")]
