"""MCP wiring only: the tools, resources for browsing the bank, prompts for the loop.

Every tool is a thin adapter: validate arguments (the SDK does it from the annotations), run the
`Bank` method in a worker thread (embedding and SQLite are blocking), turn `RbError` into a tool
error whose message tells the model what to fix. When a server-side model is available (the
client declares sampling, or RB_MCP_LLM_BASE_URL is set), the method runs as a `sampling.Job`
instead, so the client's model can be asked mid-call and progress reaches the client.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp_types import CallToolResult, InputRequiredResult, TextContent, ToolAnnotations
from pydantic import Field, ValidationError

from rb_mcp import __version__, visibility
from rb_mcp.config import Config
from rb_mcp.errors import RbError
from rb_mcp.llm import LLM, ChainLLM, http_from_config
from rb_mcp.models import (
    MAX_ATTEMPT,
    MAX_FILES,
    MAX_ID,
    MAX_PATH,
    MAX_PROJECT,
    MAX_STEP,
    MAX_STEPS,
    MAX_SUMMARY,
    MAX_TASK,
    DrainReport,
    ItemDraft,
    Kind,
    Outcome,
    RecallResult,
    RecordResult,
    RefineResult,
    Step,
)
from rb_mcp.server import sampling

if TYPE_CHECKING:  # the bank (numpy, SQLite, the index) is imported after the handshake
    from rb_mcp.loop.bank import Bank
    from rb_mcp.loop.distill import ProgressFn

log = logging.getLogger(__name__)
T = TypeVar("T")
OPEN_TIMEOUT = 120.0  # seconds a tool call waits for the bank to open (a busy bank retries its lock)
AFTER_HANDSHAKE = 0.1  # seconds after `initialized` (the client's tools/list comes first) to open the bank
OPEN_FALLBACK = 2.0  # seconds after start to open the bank when no `initialized` came

INSTRUCTIONS = """rb-mcp is your memory across tasks and sessions (ReasoningBank): strategies that worked,
pitfalls learned from failures. Use it in a loop:
1. At the start of every non-trivial task, call recall_strategies with the task; apply what fits.
2. When stuck or retrying, call refine_attempt (mode="sequential") with your current attempt for a
   memory-guided self-check; for several attempts of one task use mode="parallel" with one group_id.
3. When the task ends, success or failure, call record_trajectory with the task, what you did and
   the outcome, passing the recall_id you got. If it answers with a prompt, follow it to distill up
   to 3 lessons; when the server has a model of its own it judges and distills in the same call.
Failures are worth recording: they become the pitfalls that save the next task."""

Project = Annotated[
    str | None,
    Field(
        None,
        max_length=MAX_PROJECT,
        description="Project scope: a name, a git remote or the repository's absolute path; 'global' for team "
        "memory everyone sees. Omit to use the server's current repository (or global memory when there is "
        "none). On a shared HTTP server: 'personal' for your own memory, and only the projects your token "
        "allows (recall also searches your personal and the team memory).",
    ),
]
StepIn = Annotated[str, Field(max_length=MAX_STEP)] | Step


def _unexpected(exc: Exception) -> ToolError:
    """A bug or a damaged bank: say so with advice instead of the SDK's bare 'Error executing tool'."""
    log.exception("unexpected error in a tool call")
    return ToolError(
        f"rb-mcp hit an unexpected error ({type(exc).__name__}: {str(exc)[:200]}); the bank may be damaged: "
        "run `rb-mcp doctor`, and restore a copy made with `rb-mcp backup` if it reports a problem"
    )


def _tool_error(exc: Exception) -> ToolError:
    if isinstance(exc, ValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        return ToolError(f"invalid input: {problems}")
    return ToolError(str(exc))


def _open_default(config: Config) -> Bank:
    from rb_mcp.loop.bank import Bank

    return Bank(config)


def build_server(
    config: Config, bank_factory: Callable[[Config], Bank] = _open_default, **server_options: Any
) -> MCPServer:
    """The MCP server; `server_options` go to `MCPServer` (the HTTP mode passes its auth there)."""
    state: dict[str, Any] = {}
    opened: Future[Bank] = Future()

    starting = threading.Lock()

    def start_opening(delay: float = 0.0) -> None:
        """Open the bank in a thread of its own, once: `delay` seconds from now, or now."""
        if not starting.acquire(blocking=False):
            return
        timer = threading.Timer(delay, open_in_background)
        timer.daemon, timer.name = True, "rb-mcp-open"
        timer.start()

    def open_in_background() -> None:
        # The handshake does not wait for the bank: it opens (imports, migrations, vector index
        # snapshot, model) just after the client initialized, so it does not compete with the
        # handshake for the CPU either; the first tool call waits for it if need be.
        try:
            bank = bank_factory(config)
        except RbError as exc:
            # Stay up and answer every call with the reason: a server that exits at start only shows
            # the client a closed connection, with the advice lost in a log nobody reads.
            log.error("cannot open the bank: %s", exc)
            state["error"] = str(exc)
            opened.set_exception(exc)
            return
        except BaseException as exc:
            state["error"] = f"cannot open the bank: {exc}"
            opened.set_exception(exc)
            raise
        state["bank"] = bank
        opened.set_result(bank)
        if config.preload:
            # Warm the model and the vector index so the first recall is fast; errors surface on use.
            _preload(bank)

    @asynccontextmanager
    async def lifespan(_app: MCPServer) -> AsyncIterator[dict[str, Any]]:
        # A client that never sends `initialized` still gets its bank opened, a little later.
        fallback = threading.Timer(OPEN_FALLBACK, start_opening)
        fallback.daemon = True
        fallback.start()
        try:
            yield state
        finally:
            fallback.cancel()
            if starting.locked():
                bank = await anyio.to_thread.run_sync(_wait, opened, OPEN_TIMEOUT)
                if bank is not None:
                    await anyio.to_thread.run_sync(bank.close)

    async def open_after_handshake(ctx: Any, call_next: Callable[[Any], Any]) -> Any:
        if ctx.method == "notifications/initialized":
            start_opening(AFTER_HANDSHAKE)
        return await call_next(ctx)

    async def ready_bank() -> Bank:
        bank = state.get("bank")
        if bank is None:
            start_opening()
            bank = await anyio.to_thread.run_sync(_wait, opened, OPEN_TIMEOUT)
        if bank is None:
            raise ToolError(state.get("error") or "the bank is still opening; retry in a moment")
        return bank

    async def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        bank = await ready_bank()
        try:
            return await anyio.to_thread.run_sync(lambda: fn(bank, *args, **kwargs))
        except (RbError, ValidationError) as exc:
            raise _tool_error(exc) from exc
        except Exception as exc:
            raise _unexpected(exc) from exc

    http = http_from_config(config)

    async def run_with_model(
        ctx: Context, op: Callable[[Bank, LLM | None, ProgressFn | None], T]
    ) -> T | InputRequiredResult:
        """Run `op` with the server-side models this call can use (sampling first, then the endpoint);
        without any, exactly as `run` does. A retried call (2026-07-28 sampling) resumes its job."""
        bank = await ready_bank()
        try:
            if ctx.request_state:
                return await sampling.pump(sampling.resume(ctx.request_state, ctx.input_responses), ctx)
            usable, modern = sampling.can_sample(ctx) if config.sampling else (False, False)
            if not usable and http is None:
                return await anyio.to_thread.run_sync(lambda: op(bank, None, None))

            def body(job: sampling.Job) -> T:
                backends: list[LLM] = [sampling.SamplingLLM(job)] if usable else []
                return op(bank, ChainLLM(backends + ([http] if http else [])), job.progress)

            return await sampling.pump(sampling.start(body, modern, config.sampling_timeout), ctx)
        except (RbError, ValidationError) as exc:
            raise _tool_error(exc) from exc
        except (ToolError, anyio.get_cancelled_exc_class()):
            raise
        except Exception as exc:
            raise _unexpected(exc) from exc

    app = MCPServer(
        "rb-mcp", instructions=INSTRUCTIONS, version=__version__, lifespan=lifespan, **server_options
    )
    app.middleware.append(open_after_handshake)

    @app.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False))
    async def recall_strategies(
        task: Annotated[
            str,
            Field(
                min_length=1,
                max_length=MAX_TASK,
                description="The task you are about to start, as you would describe it to a colleague: goal, "
                "error messages, symbols and files involved.",
            ),
        ],
        project: Project = None,
        k: Annotated[
            int | None, Field(None, ge=1, le=20, description="How many memory items to return (default 3).")
        ] = None,
        kinds: Annotated[
            list[Kind] | None,
            Field(None, description="Only these kinds: strategy, pitfall, note. Omit for all."),
        ] = None,
    ) -> Annotated[CallToolResult, RecallResult]:
        """Recall strategies and pitfalls from past tasks before you start a task.

        Call this first for every non-trivial coding task (bug fix, feature, refactor, debugging).
        It returns up to k memory items distilled from earlier successes (strategies) and failures
        (pitfalls), plus similar past tasks, and a ready guidance text. Apply what fits, ignore what
        does not. Keep the returned recall_id and pass it to record_trajectory when the task ends so
        the memories that helped (or misled) get credit.
        """
        result = await run(lambda bank, *a: bank.recall(*a), task, project, k, kinds)
        text = f"{result.guidance}\n\n(recall_id={result.recall_id}, items={len(result.items)}, episodes={len(result.episodes)})"
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structured_content=result.model_dump(mode="json")
        )

    @app.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False))
    async def record_trajectory(
        ctx: Context,
        task: Annotated[
            str | None,
            Field(
                None,
                max_length=MAX_TASK,
                description="The task that was worked on. Required unless trajectory_id is given.",
            ),
        ] = None,
        steps: Annotated[
            list[StepIn] | None,
            Field(
                None,
                max_length=MAX_STEPS,
                description="What was done and seen, in order: strings or {thought, action, observation} "
                "objects. Include commands, errors and test results. Give steps or summary.",
            ),
        ] = None,
        summary: Annotated[
            str | None,
            Field(
                None,
                max_length=MAX_SUMMARY,
                description="A summary of the trajectory (instead of or besides steps).",
            ),
        ] = None,
        outcome: Annotated[
            Outcome | None,
            Field(
                None,
                description="Your verdict: success (goal reached and verified), failure, or impossible. Omit it "
                "to get a judge prompt first.",
            ),
        ] = None,
        rationale: Annotated[
            str | None,
            Field(None, max_length=2000, description="One or two sentences of evidence for the verdict."),
        ] = None,
        items: Annotated[
            list[ItemDraft] | None,
            Field(
                None,
                description="Up to 3 memory items you distilled (title, description, content). Omit them to get the "
                "extraction prompt; send [] when nothing transferable was learned.",
            ),
        ] = None,
        files: Annotated[
            list[Annotated[str, Field(max_length=MAX_PATH)]] | None,
            Field(None, max_length=MAX_FILES, description="Repository-relative files the work touched."),
        ] = None,
        project: Project = None,
        recall_id: Annotated[
            int | None,
            Field(
                None, ge=1, le=2**63 - 1, description="The recall_id from recall_strategies for this task."
            ),
        ] = None,
        group_id: Annotated[
            str | None,
            Field(
                None,
                max_length=MAX_ID,
                description="Attempt group (same id for attempts of one task; see refine_attempt).",
            ),
        ] = None,
        trajectory_id: Annotated[
            int | None,
            Field(
                None,
                ge=1,
                le=2**63 - 1,
                description="Answer a pending prompt: the trajectory_id a previous call returned.",
            ),
        ] = None,
    ) -> Annotated[CallToolResult, RecordResult] | InputRequiredResult:
        """Record a finished task (success or failure) so future tasks learn from it.

        Call this when a task ends, whatever the result. Three ways to use it:
        - One call: task + steps (or summary) + outcome + items (your distilled lessons).
        - Without outcome: the server judges it with its own model when it has one (your client's
          model through sampling, or a configured endpoint) and distills it in the same call
          (status "stored"). Otherwise you get a judge prompt and a trajectory_id; answer with
          record_trajectory(trajectory_id=..., outcome=..., rationale=...).
        - Without items: likewise, the server's model distills them, or you get an extraction
          prompt (why it worked / why it failed); answer with
          record_trajectory(trajectory_id=..., items=[{title, description, content}, ...]).
        Your own outcome and items always take precedence over the server's model. Items must be
        transferable lessons: no ids, hashes, absolute paths or secrets (secrets are redacted
        anyway). Near-duplicates strengthen an existing memory instead of adding a copy.
        """

        def op(bank: Bank, llm: LLM | None, progress: ProgressFn | None) -> RecordResult:
            return bank.record(
                task=task, steps=steps, summary=summary, outcome=outcome, rationale=rationale, items=items,
                files=files, project=project, recall_id=recall_id, group_id=group_id, trajectory_id=trajectory_id,
                llm=llm, progress=progress,
            )  # fmt: skip

        result = await run_with_model(ctx, op)
        if isinstance(result, InputRequiredResult):
            return result
        return CallToolResult(
            content=[TextContent(type="text", text=_record_text(result))],
            structured_content=result.model_dump(mode="json"),
        )

    @app.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False))
    async def refine_attempt(
        ctx: Context,
        task: Annotated[
            str, Field(min_length=1, max_length=MAX_TASK, description="The task being attempted.")
        ],
        attempt: Annotated[
            str,
            Field(
                max_length=MAX_ATTEMPT,
                description="Your current attempt: the approach, the change and what you observed. Put what you "
                "corrected since the last iteration at the top. May be empty when sending contrast items.",
            ),
        ],
        mode: Annotated[
            Literal["sequential", "parallel"],
            Field(
                description="sequential: self-check this attempt against recalled pitfalls (call again each "
                "iteration). parallel: one of k attempts of the same task; once two have outcomes you get a "
                "self-contrast prompt."
            ),
        ],
        group_id: Annotated[
            str | None,
            Field(
                None,
                max_length=MAX_ID,
                description="Same id for every attempt/iteration of this task. Sequential mode makes one if omitted; parallel needs it.",
            ),
        ] = None,
        iteration: Annotated[
            int | None, Field(None, ge=1, le=1000, description="Refinement step number (sequential).")
        ] = None,
        outcome: Annotated[
            Outcome | None, Field(None, description="Parallel mode: the verdict of this attempt.")
        ] = None,
        items: Annotated[
            list[ItemDraft] | None,
            Field(
                None,
                description="Parallel: up to 5 items answering the self-contrast prompt. Sequential: up to 3 "
                "notes (insights from this iteration), stored as kind 'note'.",
            ),
        ] = None,
        project: Project = None,
    ) -> Annotated[CallToolResult, RefineResult] | InputRequiredResult:
        """Memory-aware test-time scaling: use when stuck, retrying, or trying several approaches.

        Sequential (self-refinement): send your current attempt; get a self-check built from the
        pitfalls memory holds for this task and from your earlier iterations (when the server has a
        model, that model runs the check and you get its review). Your attempt notes are kept as
        learning signals. Call again after each correction with the same group_id.
        Parallel (self-contrast): record each attempt of one task with the same group_id and its
        outcome. When two or more have verdicts you get a contrast prompt (what the successes share,
        where the failures diverged); answer with refine_attempt(mode="parallel", group_id=...,
        items=[...]) to store up to 5 lessons linked to every attempt. When the server has a model,
        it judges attempts sent without an outcome, runs the contrast itself, stores the lessons and
        names the best attempt, all in the same call.
        """

        def op(bank: Bank, llm: LLM | None, progress: ProgressFn | None) -> RefineResult:
            return bank.refine(
                task=task, attempt=attempt, mode=mode, group_id=group_id, iteration=iteration, outcome=outcome,
                items=items, project=project, llm=llm, progress=progress,
            )  # fmt: skip

        result = await run_with_model(ctx, op)
        if isinstance(result, InputRequiredResult):
            return result
        text = result.next_step + (f"\n\n{result.prompt}" if result.prompt else "")
        if result.stored:
            text += "\n\nStored: " + ", ".join(f"#{s.id} {s.title} ({s.action})" for s in result.stored)
        return CallToolResult(
            content=[TextContent(type="text", text=text)], structured_content=result.model_dump(mode="json")
        )

    @app.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=True))
    async def distill_pending(
        ctx: Context,
        limit: Annotated[
            int,
            Field(
                5, ge=1, le=50, description="At most this many pending trajectories in this call (default 5)."
            ),
        ] = 5,
    ) -> Annotated[CallToolResult, DrainReport] | InputRequiredResult:
        """Judge and distill recorded trajectories that are still waiting for a verdict or lessons.

        Trajectories recorded while no model was available (or whose prompts were never answered)
        wait in the bank. Call this when the user asks to catch up on memory, or when
        record_trajectory said a trajectory stays queued. The server's model (your client's model
        through sampling, or a configured endpoint) judges and distills them, oldest first, and
        contrasts attempt groups that are ready. Without a server-side model it lists what waits,
        so you can answer each with record_trajectory(trajectory_id=...). Reports progress.
        """

        def op(bank: Bank, llm: LLM | None, progress: ProgressFn | None) -> DrainReport:
            if llm is None:
                from rb_mcp.loop.distill import queue_report

                return queue_report(
                    bank,
                    "no server-side model: the client offers no sampling and RB_MCP_LLM_BASE_URL is unset",
                )
            return bank.distill_pending(llm, limit, progress)

        result = await run_with_model(ctx, op)
        if isinstance(result, InputRequiredResult):
            return result
        return CallToolResult(
            content=[TextContent(type="text", text=_drain_text(result))],
            structured_content=result.model_dump(mode="json"),
        )

    _register_resources(app, state, opened)
    _register_prompts(app)
    return app


def _drain_text(report: DrainReport) -> str:
    if report.stopped and not report.backend:
        ids = ", ".join(map(str, report.remaining_ids)) or "none"
        return f"{report.stopped}. {report.remaining} trajectories wait (ids: {ids}); answer each with record_trajectory(trajectory_id=...)."
    text = (
        f"{report.backend}: judged {report.judged}, distilled {report.distilled}, contrasted {report.contrasted} "
        f"group(s), stored {report.stored} item(s); {report.failed} failed, {report.remaining} still pending."
    )
    return text + (f" Stopped early: {report.stopped}" if report.stopped else "")


def _record_text(result: RecordResult) -> str:
    text = f"trajectory_id={result.trajectory_id} status={result.status}\n{result.next_step}"
    if result.prompt:
        text += f"\n\n{result.prompt}"
    if result.stored:
        text += "\n\nStored: " + ", ".join(f"#{s.id} {s.title} ({s.action})" for s in result.stored)
    if result.rejected:
        text += "\n\nRejected: " + "; ".join(f"{r.title!r}: {' '.join(r.problems)}" for r in result.rejected)
    return text


def _wait(opened: Future[Bank], timeout: float | None) -> Bank | None:
    """The opened bank; None when opening failed (the reason is in the server state) or timed out."""
    try:
        return opened.result(timeout)
    except (FutureTimeout, Exception):
        return None


def _preload(bank: Bank) -> None:
    try:
        bank.embedder.load()
    except Exception as exc:  # reported again, with advice, on the first tool call that needs it
        log.warning("embedding model preload failed: %s", exc)
    try:
        bank.store.warm_vectors()
    except Exception as exc:
        log.warning("vector index preload failed: %s", exc)


def _register_resources(app: MCPServer, state: dict[str, Any], opened: Future[Bank]) -> None:
    def bank() -> Bank:
        found = state.get("bank") or _wait(opened, 10.0)
        if found is None:
            raise ResourceError(state.get("error") or "the bank is still opening; retry in a moment")
        return found

    @app.resource("rb://items/recent", name="recent-items", mime_type="application/json")
    def recent_items() -> str:
        """The 25 most recently updated active memory items (that this client may see)."""
        from rb_mcp.loop import items as item_ops

        seen, params = visibility.sql_filter("scope")
        rows = bank().store.query(
            f"select {item_ops.ITEM_COLUMNS} from items where status = 'active' and {seen} "
            "order by updated_at desc limit 25",
            params,
        )
        return json.dumps([item_ops.row_to_item(r).model_dump(mode="json") for r in rows], indent=1)

    @app.resource("rb://items/{item_id}", name="item", mime_type="application/json")
    def item(item_id: str) -> str:
        """One memory item with its history and source trajectories."""
        from rb_mcp.loop import items as item_ops

        if not item_id.isdigit():
            raise ResourceError(f"item id {item_id!r} is not a number; use rb://items/<id>")
        found = item_ops.get_items(bank().store, [int(item_id)])
        if not found or not visibility.visible([found[int(item_id)].scope])[0]:
            raise ResourceError(f"no memory item {item_id}")
        data = found[int(item_id)].model_dump(mode="json")
        data["history"] = item_ops.history(bank().store, int(item_id))
        data["sources"] = [
            r[0]
            for r in bank().store.query(
                "select trajectory_id from item_sources where item_id = ?", (int(item_id),)
            )
        ]
        return json.dumps(data, indent=1)

    @app.resource("rb://stats", name="stats", mime_type="application/json")
    def stats() -> str:
        """Counts of items by kind and status, trajectories by status, recalls."""
        from rb_mcp.admin import stats as bank_stats

        result = bank_stats(bank())
        # Counts stay bank-wide; the names of scopes this client may not see are left out.
        shown = visibility.visible([p["scope"] for p in result.projects])
        result.projects = [p for p, ok in zip(result.projects, shown) if ok]
        return result.model_dump_json(indent=1)


def _register_prompts(app: MCPServer) -> None:
    @app.prompt(name="use-memory", description="Work a task with rb-mcp memory: recall, work, record.")
    def use_memory(task: str) -> str:
        return (
            f"Task: {task}\n\n"
            "Before you start, call recall_strategies with this task and read the guidance. While you work, "
            "if you get stuck or an attempt fails, call refine_attempt (mode='sequential') with your attempt. "
            "When you are done, call record_trajectory with the task, your steps, your verdict (success, "
            "failure or impossible) and the recall_id, and follow its prompt to distill up to 3 lessons."
        )

    @app.prompt(
        name="record-task", description="Record what just happened as a trajectory and distill lessons."
    )
    def record_task(task: str) -> str:
        return (
            f"The task '{task}' has ended. Call record_trajectory with the task, the main steps you took with "
            "their observations, the files you touched and your honest verdict. Then answer its extraction "
            "prompt with up to 3 transferable memory items."
        )
