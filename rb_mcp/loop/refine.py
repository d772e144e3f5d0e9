"""Memory-aware test-time scaling (MaTTS) on the bank: sequential refinement and parallel contrast.

Sequential: each iteration's attempt is kept as a refinement note (a signal for the final
extraction) and answered with a self-check built from recalled pitfalls; with a server-side
model, the model runs that check and its "check again" turns, and the reviews join the note.
Parallel: k attempts of one task share a group; once two have verdicts, their self-contrast
distills up to 5 items linked to every attempt, and the judge picks the best of k.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rb_mcp import prompts
from rb_mcp.errors import InputError
from rb_mcp.llm import LLM
from rb_mcp.loop import consolidate, distill, upkeep
from rb_mcp.loop import trajectories as trajs
from rb_mcp.loop.trajectories import MAX_CONTRAST_ITEMS, MAX_RECORD_ITEMS, coerce_steps, steps_text
from rb_mcp.models import AttemptView, ItemDraft, Outcome, RefineResult, Step
from rb_mcp.store import GLOBAL

if TYPE_CHECKING:
    from rb_mcp.loop.bank import Bank


def refine(
    bank: Bank,
    task: str,
    attempt: str,
    mode: str,
    group_id: str | None = None,
    iteration: int | None = None,
    outcome: Outcome | None = None,
    items: Sequence[ItemDraft | dict[str, Any]] | None = None,
    project: str | None = None,
    llm: LLM | None = None,
    progress: distill.ProgressFn | None = None,
) -> RefineResult:
    if not task or not task.strip():
        raise InputError("task is empty; pass the task the attempts are for")
    drafts = [d if isinstance(d, ItemDraft) else ItemDraft(**d) for d in items] if items is not None else None
    scope = bank.scope_of(project)
    bank.check_group(group_id)
    upkeep.check_supersedes(bank.store, drafts or [])
    if mode == "sequential":
        result = _refine_sequential(bank, task, attempt, group_id, iteration, drafts, scope)
        if llm is not None and bank.config.llm_check_turns > 0:
            result = _review_by_model(bank, result, task, attempt, llm, progress)
        return result
    if mode == "parallel":
        return _refine_parallel(bank, task, attempt, group_id, outcome, drafts, scope, llm, progress)
    raise InputError(f"mode {mode!r} is unknown; use 'sequential' or 'parallel'")


def _refine_sequential(bank: Bank, task, attempt, group_id, iteration, drafts, scope) -> RefineResult:
    if not attempt or not attempt.strip():
        raise InputError("attempt is empty; pass your current attempt (with what you corrected at the top)")
    if drafts is not None and len(drafts) > MAX_RECORD_ITEMS:
        raise InputError(f"items holds {len(drafts)} notes; send at most {MAX_RECORD_ITEMS}")
    group_id = group_id or f"g-{secrets.token_hex(6)}"
    previous = trajs.group_notes(bank.store, group_id)
    if iteration is None:
        iteration = max((i for i, _ in previous), default=0) + 1
    trajectory_id = trajs.insert_trajectory(
        bank, task=task, project=scope, steps=[Step(action=attempt)], summary="", outcome=None, rationale="",
        files=[], status="signal", role="refine", group_id=group_id, iteration=iteration,
    )  # fmt: skip
    stored, rejected = [], []
    if drafts:
        stored, rejected = trajs.gate_and_store(
            bank, drafts, [], refuse=None, default_kind="note", scope=scope or GLOBAL, sources=[trajectory_id],
            files=[], tree=bank.tree_for(None, None, scope),
        )  # fmt: skip
    pitfalls = bank.retriever.recall(task, scope, 3, ["pitfall", "note", "strategy"], log_event=False).items
    lessons = [f"{h.title}: {h.content}" for h in pitfalls]
    return RefineResult(
        group_id=group_id,
        mode="sequential",
        status="check",
        iteration=iteration,
        trajectory_id=trajectory_id,
        next_step=f"Run the self-check, correct the attempt, then call refine_attempt again with group_id="
        f"{group_id!r} (or record_trajectory with group_id when done).",
        prompt=prompts.refine_check(task, attempt, iteration, previous, lessons),
        pitfalls=pitfalls,
        stored=stored,
        rejected=rejected,
    )


def _review_by_model(
    bank: Bank, result: RefineResult, task: str, attempt: str, llm: LLM, progress
) -> RefineResult:
    """The server's model runs the self-check (and its 'check again' turns); each pass is kept on the
    refinement note as a signal for the final extraction."""
    previous = [(i, n) for i, n in trajs.group_notes(bank.store, result.group_id) if i != result.iteration]
    lessons = [f"{h.title}: {h.content}" for h in result.pitfalls]
    reviews, note = distill.review(bank, task, attempt, result.iteration or 1, previous, lessons, llm)
    distill.tick(progress, 1, 1, "reviewed" if reviews else "review failed")
    if reviews is None:
        result.next_step = distill.because(note, "could not review the attempt") + result.next_step
        return result
    steps = [Step(action=attempt)] + [Step(observation=f"check {n} by the server's model: {r}") for n, r in
                                      enumerate(reviews, 1)]  # fmt: skip
    trajs.update_trajectory(bank.store, result.trajectory_id, steps=steps)
    result.prompt = prompts.review_result(reviews[-1], len(reviews), llm.name)
    result.next_step = (
        f"Read the review, correct the attempt, then call refine_attempt again with group_id={result.group_id!r} "
        "(or record_trajectory with group_id when done)."
    )
    return result


def _refine_parallel(
    bank: Bank, task, attempt, group_id, outcome, drafts, scope, llm=None, progress=None
) -> RefineResult:
    if not group_id:
        raise InputError("parallel mode needs group_id: use one id for all attempts of this task")
    if attempt and attempt.strip():
        _insert_attempt(bank, task, attempt, group_id, outcome, scope)
    if drafts is not None:
        return _store_contrast(bank, group_id, _attempts(bank, group_id), drafts, scope)
    if llm is not None:
        return contrast_with(bank, task, group_id, scope, llm, progress)
    return _parallel_prompt(bank, task, group_id, _attempts(bank, group_id))


def _parallel_prompt(
    bank: Bank, task: str, group_id: str, views: list[AttemptView], note: str = ""
) -> RefineResult:
    judged = [v for v in views if v.outcome is not None]
    if len(judged) < 2:
        return RefineResult(
            group_id=group_id, mode="parallel", status="needs_verdicts", attempts=views,
            next_step=distill.because(note, "could not judge the attempts") + "Record more attempts of this task with "
            "the same group_id and an outcome each; the self-contrast prompt comes once two or more attempts "
            "have verdicts.",
        )  # fmt: skip
    texts = [(v.trajectory_id, v.outcome, v.excerpt) for v in judged]
    return RefineResult(
        group_id=group_id, mode="parallel", status="contrast", attempts=views,
        next_step=distill.because(note, "could not contrast the attempts") + "Answer the self-contrast prompt, then "
        f"call refine_attempt(mode='parallel', group_id={group_id!r}, items=[...]).",
        prompt=prompts.contrast(task, texts, group_id),
    )  # fmt: skip


def contrast_with(
    bank: Bank, task: str, group_id: str, scope: str | None, llm: LLM, progress=None
) -> RefineResult:
    """Parallel MaTTS by the server's model: judge the unjudged attempts, contrast them all, pick the
    best of k; falls back to the agent's contrast prompt when the model fails."""
    unjudged = [v for v in _attempts(bank, group_id) if v.outcome is None]
    total = len(unjudged) + 2
    for n, view in enumerate(unjudged, 1):
        bank.judge_with(bank.trajectory(view.trajectory_id), llm)
        distill.tick(progress, n, total, f"judged attempt {view.iteration or n}")
    views = _attempts(bank, group_id)
    judged = [v for v in views if v.outcome is not None]
    if len(judged) < 2:
        return _parallel_prompt(
            bank, task, group_id, views, "" if not unjudged else "some verdicts are missing"
        )
    if not bank.store.fresh_attempts(group_id):
        return RefineResult(
            group_id=group_id, mode="parallel", status="stored", attempts=views,
            next_step="Nothing new to contrast: every judged attempt is distilled. Record another attempt first.",
        )  # fmt: skip
    drafts, note = distill.contrast(bank, task, judged, llm, MAX_CONTRAST_ITEMS)
    distill.tick(progress, total - 1, total, "contrasted" if drafts is not None else "contrast failed")
    if drafts is None:
        return _parallel_prompt(bank, task, group_id, views, note)
    best, why = distill.best_of(bank, task, judged, llm)
    result = _store_contrast(bank, group_id, views, drafts, scope)
    result.stored = consolidate.new_items(bank, result.stored, llm)
    distill.tick(progress, total, total, "stored")
    pick = (
        f" Best of {len(judged)}: attempt {best.iteration} (trajectory {best.trajectory_id}): {why}."
        if best
        else ""
    )
    result.next_step = (
        f"Done: {llm.name} contrasted {len(judged)} attempts and stored {len(result.stored)} item(s) linked to all "
        f"of them.{pick}"
    )
    return result


def _insert_attempt(bank: Bank, task, attempt, group_id, outcome, scope) -> int:
    n = bank.store.count_attempts(group_id)
    return trajs.insert_trajectory(
        bank, task=task, project=scope, steps=[Step(action=attempt)], summary="", outcome=outcome, rationale="",
        files=[], status="pending_items" if outcome else "pending_verdict", role="attempt",
        group_id=group_id, iteration=n + 1,
    )  # fmt: skip


def _attempts(bank: Bank, group_id: str) -> list[AttemptView]:
    return [
        AttemptView(
            trajectory_id=tid,
            iteration=iteration,
            outcome=outcome,
            excerpt=steps_text(coerce_steps(steps), summary)[:4000],
        )  # fmt: skip
        for tid, iteration, outcome, summary, steps in bank.store.group_attempts(group_id)
    ]


def _store_contrast(bank: Bank, group_id, views, drafts, scope) -> RefineResult:
    if len(drafts) > MAX_CONTRAST_ITEMS:
        raise InputError(
            f"items holds {len(drafts)} items; send at most {MAX_CONTRAST_ITEMS} from the contrast"
        )
    judged = [v for v in views if v.outcome is not None]
    if len(judged) < 2:
        raise InputError("contrast items need two or more judged attempts in this group; record them first")
    any_success = any(v.outcome == "success" for v in judged)
    stored, rejected = trajs.gate_and_store(
        bank, drafts, [], refuse="no contrast item was stored; fix these and send the items again:\n",
        default_kind="strategy" if any_success else "pitfall", scope=scope or GLOBAL,
        sources=[v.trajectory_id for v in judged], files=[], tree=bank.tree_for(None, None, scope),
    )  # fmt: skip
    bank.store.mark_contrasted(group_id, [v.trajectory_id for v in judged])
    return RefineResult(
        group_id=group_id, mode="parallel", status="stored", attempts=views, stored=stored, rejected=rejected,
        next_step="Done: the contrast items are stored and linked to every attempt.",
    )  # fmt: skip
