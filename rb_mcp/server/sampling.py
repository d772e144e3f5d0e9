"""The client's model as a server-side LLM, through MCP sampling (`sampling/createMessage`).

Bank operations are blocking and run in a thread; sampling is a request to the client that only
the tool call's coroutine can make. A `Job` joins the two: the operation runs in its own thread,
and each `complete()` there posts a sampling request to the tool coroutine (`pump`) and waits.
The SDK speaks two transports, and the pump serves both:

- handshake-era protocols (2025-xx, what VS Code and most clients speak): the pump sends the
  request mid-call over the session's back channel and hands the answer to the thread;
- 2026-07-28 and later (no back channel): the pump returns an `InputRequiredResult`; the client
  samples, retries the same tool call with the answer, and `resume` hands it to the waiting thread.

The job outlives one round, so the bank operation runs exactly once, never replayed. A client that
never comes back costs one `RB_MCP_SAMPLING_TIMEOUT`, after which the operation falls back as for
any model failure (the trajectory stays queued). This module is MCP wiring: the bank never sees it.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import queue
import secrets
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
import mcp_types as types
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types.version import is_version_at_least

from rb_mcp.llm import LLMError, Turn

log = logging.getLogger(__name__)

INPUT_REQUIRED_VERSION = "2026-07-28"
# The SDK client gives up after 10 input rounds; stay under it and leave the rest to the queue.
MAX_ROUNDS = 8
_STALE_AFTER = 60.0
# The SDK marks back-channel sampling deprecated as of 2026-07-28; this module serves the clients
# that predate it, so the warning says nothing new to our users.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning, module=r"rb_mcp\.sampling")


@dataclass
class Event:
    kind: str  # "sample" | "progress" | "done" | "error"
    value: Any = None
    key: str = ""


class Job:
    """One bank operation in its own thread, talking to the tool call (or calls) that drive it."""

    def __init__(self, modern: bool, timeout: float):
        self.id = secrets.token_urlsafe(16)
        self.modern = modern
        self.timeout = timeout
        self.events: queue.Queue[Event] = queue.Queue()
        self.answers: queue.Queue[Any] = queue.Queue()
        self.asks = 0
        self.finished_at: float | None = None
        self.abandoned = False

    def start(self, fn: Callable[[Job], Any]) -> None:
        def body() -> None:
            try:
                self.events.put(Event("done", fn(self)))
            except BaseException as exc:  # handed to the tool call, which raises it there
                self.events.put(Event("error", exc))
            finally:
                self.finished_at = time.monotonic()

        # The caller's context goes along: the job reads and writes as the client's identity (HTTP).
        context = contextvars.copy_context()
        threading.Thread(
            target=context.run, args=(body,), daemon=True, name=f"rb-mcp-job-{self.id[:6]}"
        ).start()

    # ---- job thread side -------------------------------------------------------------------------
    def ask(self, params: types.CreateMessageRequestParams) -> Any:
        if self.abandoned:
            raise LLMError("the client stopped answering sampling requests for this call")
        if self.modern and self.asks >= MAX_ROUNDS:
            raise LLMError(f"this call used its {MAX_ROUNDS} sampling rounds")
        self.asks += 1
        key = f"rb-mcp-{self.asks}"
        self.events.put(Event("sample", params, key=key))
        # On the back channel the pump enforces the timeout and always answers; waiting a little longer
        # here keeps the two clocks from racing.
        deadline = time.monotonic() + self.timeout + (0 if self.modern else 30)
        while True:
            try:
                answered, answer = self.answers.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.abandoned = True
                raise LLMError(f"the client's model did not answer within {self.timeout:g} s") from None
            if answered in (key, None):  # anything else is a late answer to an earlier request
                break
        if isinstance(answer, BaseException):
            raise LLMError(f"the client's sampling failed ({_describe(answer)})")
        return answer

    def progress(self, done: float, total: float, message: str) -> None:
        self.events.put(Event("progress", (done, total, message)))

    # ---- tool coroutine side ---------------------------------------------------------------------
    async def next_event(self) -> Event:
        return await anyio.to_thread.run_sync(self.events.get, abandon_on_cancel=True)

    def answer(self, value: Any, key: str | None = None) -> None:
        """Hand the thread the answer to request `key` (None: to whatever it waits for)."""
        self.answers.put((key, value))


def _describe(exc: BaseException) -> str:
    # MCP errors carry the client's message; anything else is named by class only.
    message = getattr(exc, "message", None) or (str(exc) if isinstance(exc, LLMError | TimeoutError) else "")
    return f"{type(exc).__name__}: {message[:200]}" if message else type(exc).__name__


class SamplingLLM:
    """The `LLM` a job's bank operation calls; each call becomes one sampling request."""

    name = "the client's model (MCP sampling)"

    def __init__(self, job: Job):
        self.job = job

    def complete(self, turns: Sequence[Turn], *, system: str, max_tokens: int) -> str:
        params = types.CreateMessageRequestParams(
            messages=[
                types.SamplingMessage(role=r, content=types.TextContent(type="text", text=t))
                for r, t in turns
            ],
            system_prompt=system,
            max_tokens=max_tokens,
            include_context="none",
            model_preferences=types.ModelPreferences(intelligence_priority=0.7, speed_priority=0.3),
        )
        return _text_of(self.job.ask(params))


def _text_of(result: Any) -> str:
    content = getattr(result, "content", None)
    blocks = content if isinstance(content, list) else [content]
    text = "".join(b.text for b in blocks if isinstance(b, types.TextContent))
    if not text.strip():
        raise LLMError("the client's model answered without text")
    return text


# ---- the registry of jobs waiting for a client's retry (2026-07-28 transport) --------------------
_jobs: dict[str, Job] = {}
_jobs_lock = threading.Lock()


def _register(job: Job) -> None:
    now = time.monotonic()
    with _jobs_lock:
        for key in [
            k for k, j in _jobs.items() if j.finished_at is not None and now - j.finished_at > _STALE_AFTER
        ]:
            del _jobs[key]
        _jobs[job.id] = job


def _forget(job: Job) -> None:
    with _jobs_lock:
        _jobs.pop(job.id, None)


def can_sample(ctx: Any) -> tuple[bool, bool]:
    """(usable, modern): whether the client declared sampling and a transport can carry it."""
    capabilities = ctx.client_capabilities
    if capabilities is None or capabilities.sampling is None:
        return False, False
    version = ctx.protocol_version
    modern = bool(version) and is_version_at_least(version, INPUT_REQUIRED_VERSION)
    if modern:
        return True, True
    return bool(ctx.session.can_send_request), False


def start(fn: Callable[[Job], Any], modern: bool, timeout: float) -> Job:
    job = Job(modern, timeout)
    _register(job)
    job.start(fn)
    return job


def resume(request_state: str, input_responses: Any) -> Job:
    """The job a retried tool call belongs to, fed with the client's answer."""
    try:
        state = json.loads(request_state)
        job_id, key = state["job"], state["key"]
    except (ValueError, KeyError, TypeError):
        raise LLMError("this call's request_state is not one rb-mcp issued; call the tool again") from None
    with _jobs_lock:
        job = _jobs.get(job_id)
    if job is None or job.finished_at is not None:
        raise LLMError(
            "this call's sampling job is gone (the server restarted or the answer came too late); anything recorded "
            "stays queued: call the tool again or run `rb-mcp distill`"
        )
    answer = (input_responses or {}).get(key)
    job.answer(
        answer if answer is not None else LLMError("the client retried without the sampling answer"), key
    )
    return job


async def pump(job: Job, ctx: Any) -> Any:
    """Relay a job's progress and sampling requests until it finishes (or must wait for a retry)."""
    try:
        while True:
            event = await job.next_event()
            if event.kind == "progress":
                with contextlib.suppress(Exception):  # progress is best effort; never fail the call on it
                    await ctx.report_progress(*event.value)
            elif event.kind == "sample" and job.modern:
                request = types.CreateMessageRequest(params=event.value)
                return types.InputRequiredResult(
                    input_requests={event.key: request},
                    request_state=json.dumps({"job": job.id, "key": event.key}),
                )
            elif event.kind == "sample":
                job.answer(await _sample_now(ctx, event.value, job.timeout), event.key)
            elif event.kind == "done":
                _forget(job)
                return event.value
            else:
                _forget(job)
                raise event.value
    except BaseException:
        # The call was cancelled or broke: release the job thread instead of letting it wait out the timeout.
        job.abandoned = True
        job.answer(LLMError("the tool call was cancelled"))
        raise


async def _sample_now(ctx: Any, params: types.CreateMessageRequestParams, timeout: float) -> Any:
    try:
        with anyio.fail_after(timeout):
            return await ctx.session.create_message(
                messages=params.messages,
                max_tokens=params.max_tokens,
                system_prompt=params.system_prompt,
                include_context=params.include_context,
                model_preferences=params.model_preferences,
                related_request_id=ctx.request_id,
            )
    except Exception as exc:  # handed to the job thread as a failed sampling request
        return exc
