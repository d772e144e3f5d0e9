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
from rb_mcp.loop import consolidate, distill, ownership, upkeep
from rb_mcp.loop import trajectories as trajs
from rb_mcp.loop.trajectories import MAX_CONTRAST_ITEMS, MAX_RECORD_ITEMS, coerce_steps, steps_text
from rb_mcp.models import AttemptView, ItemDraft, Outcome, RefineResult, Step, is_blank
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
    """One refinement step. `group_id` is the caller's name for the attempt group; the bank keeps the
    group under its stored id (`rb_mcp.ids.group_key`: the caller's identity and project in it).
    Every argument is checked before the first write."""
    if is_blank(task):
        raise InputError("task is empty; pass the task the attempts are for")
    if mode not in ("sequential", "parallel"):
        raise InputError(f"mode {mode!r} is unknown; use 'sequential' or 'parallel'")
    drafts = [d if isinstance(d, ItemDraft) else ItemDraft(**d) for d in items] if items is not None else None
    scope = bank.scope_of(project)
    if mode == "sequential" and outcome is not None:
        raise InputError(
            "outcome is for parallel mode; in sequential mode record the final attempt with "
            "record_trajectory(group_id=..., outcome=...)"
        )
    if mode == "parallel" and iteration is not None:
        raise InputError("iteration is for sequential mode; parallel attempts are numbered as they arrive")
    if mode == "parallel" and outcome is not None and is_blank(attempt):
        raise InputError("outcome judges an attempt: pass the attempt with it")
    upkeep.check_supersedes(bank.store, drafts or [])
    if mode == "sequential":
        group_id = group_id or f"g-{secrets.token_hex(6)}"
        key = ownership.group_of(bank, group_id, scope) or ""
        result = _refine_sequential(bank, task, attempt, group_id, key, iteration, drafts, scope)
        if llm is not None and bank.config.llm_check_turns > 0:
            result = _review_by_model(bank, result, key, task, attempt, llm, progress)
        return result
    return _refine_parallel(bank, task, attempt, group_id, outcome, drafts, scope, llm, progress)


def _refine_sequential(bank: Bank, task, attempt, group_id, key, iteration, drafts, scope) -> RefineResult:
    if is_blank(attempt):
        raise InputError("attempt is empty; pass your current attempt (with what you corrected at the top)")
    if drafts is not None and len(drafts) > MAX_RECORD_ITEMS:
        raise InputError(f"items holds {len(drafts)} notes; send at most {MAX_RECORD_ITEMS}")
    previous = trajs.group_notes(bank.store, key)
    if iteration is None:
        iteration = max((i for i, _ in previous), default=0) + 1
    trajectory_id = trajs.insert_trajectory(
        bank, task=task, project=scope, steps=[Step(action=attempt)], summary="", outcome=None, rationale="",
        files=[], status="signal", role="refine", group_id=key, iteration=iteration,
    )  # fmt: skip
    stored, rejected = [], []
    if drafts:
        stored, rejected = trajs.gate_and_store(
            bank, drafts, [], refuse=None, default_kind="note", scope=scope or GLOBAL, sources=[trajectory_id],
            files=[], tree=bank.tree_for(None, None, scope),
        )  # fmt: skip
    recalled = bank.retriever.recall(task, scope, 3, ["pitfall", "note", "strategy"], log_event=False).items
    lessons = [f"{h.title}: {h.content}" for h in recalled]
    return RefineResult(
        group_id=group_id,
        mode="sequential",
        status="check",
        iteration=iteration,
        trajectory_id=trajectory_id,
        next_step=f"Run the self-check, correct the attempt, then call refine_attempt again with group_id="
        f"{group_id!r} (or record_trajectory with group_id when done).",
        prompt=prompts.refine_check(task, attempt, iteration, previous, lessons),
        lessons=recalled,
        stored=stored,
        rejected=rejected,
    )


def _review_by_model(
    bank: Bank, result: RefineResult, key: str, task: str, attempt: str, llm: LLM, progress
) -> RefineResult:
    """The server's model runs the self-check (and its 'check again' turns); each pass is kept on the
    refinement note as a signal for the final extraction."""
    previous = [(i, n) for i, n in trajs.group_notes(bank.store, key) if i != result.iteration]
    lessons = [f"{h.title}: {h.content}" for h in result.lessons]
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
    if group_id is None:
        raise InputError("parallel mode needs group_id: use one id for all attempts of this task")
    key = ownership.group_of(bank, group_id, scope) or ""
    new_attempt = not is_blank(attempt)
    if drafts is not None:
        _check_contrast(bank, key, drafts, int(new_attempt and outcome is not None))
    if new_attempt:
        _insert_attempt(bank, task, attempt, key, outcome, scope)
    if drafts is not None:
        return _store_contrast(bank, key, _attempts(bank, key), drafts, scope, group_id)
    if llm is not None:
        return contrast_with(bank, task, key, scope, llm, progress, shown=group_id)
    return _parallel_prompt(bank, task, group_id, _attempts(bank, key))


def _check_contrast(bank: Bank, key: str, drafts: list[ItemDraft], arriving: int) -> None:
    """Refuse contrast items that `_store_contrast` would refuse, before the attempt is written."""
    if len(drafts) > MAX_CONTRAST_ITEMS:
        raise InputError(
            f"items holds {len(drafts)} items; send at most {MAX_CONTRAST_ITEMS} from the contrast"
        )
    judged = sum(1 for view in _attempts(bank, key) if view.outcome is not None) + arriving
    if judged < 2:
        raise InputError("contrast items need two or more judged attempts in this group; record them first")
    trajs.refuse_unusable(
        drafts, [], "no contrast item was stored (nor the attempt); fix these and send the items again:\n"
    )


def _parallel_prompt(
    bank: Bank, task: str, group_id: str, views: list[AttemptView], note: str = "", by_model: bool = False
) -> RefineResult:
    judged = [v for v in views if v.outcome is not None]
    if len(judged) < 2:
        return RefineResult(
            group_id=group_id, mode="parallel", status="needs_verdicts", attempts=views,
            next_step=distill.because(note, "could not judge some attempts") + _verdicts_needed(group_id, views, by_model),
        )  # fmt: skip
    texts = [(v.trajectory_id, v.outcome, v.excerpt) for v in judged]
    return RefineResult(
        group_id=group_id, mode="parallel", status="contrast", attempts=views,
        next_step=distill.because(note, "could not contrast the attempts") + "Answer the self-contrast prompt, then "
        f"call refine_attempt(mode='parallel', group_id={group_id!r}, items=[...]).",
        prompt=prompts.contrast(task, texts, group_id),
    )  # fmt: skip


def _verdicts_needed(group_id: str, views: list[AttemptView], by_model: bool) -> str:
    """What gets a group to its self-contrast: verdicts for the attempts that lack one (resending an
    attempt would record it twice), and a second attempt when there is only one. With the server's
    model, the next attempt sent is judged and contrasted in the same call."""
    judged = [v for v in views if v.outcome is not None]
    unjudged = [v for v in views if v.outcome is None]
    steps = []
    if judged:
        steps.append(
            "Judged so far: " + ", ".join(f"attempt {v.iteration} ({v.outcome})" for v in judged) + "."
        )
    if unjudged:
        ids = ", ".join(f"{v.trajectory_id} (attempt {v.iteration})" for v in unjudged)
        steps.append(
            f"Give each attempt without a verdict its outcome with record_trajectory(trajectory_id=N, "
            f"outcome=...), N one of: {ids}. Do not send those attempts again: that records them twice."
        )
    if by_model:
        steps.append(
            f"Send the next attempt with refine_attempt(mode='parallel', group_id={group_id!r}, attempt=...): "
            "the server's model judges it and runs the self-contrast once two attempts have verdicts."
        )
        return " ".join(steps)
    if len(views) < 2:
        steps.append(
            f"Record another attempt with refine_attempt(mode='parallel', group_id={group_id!r}, attempt=..., "
            "outcome=...)."
        )
    steps.append(
        "The self-contrast prompt comes once two or more attempts have verdicts: then call "
        f"refine_attempt(mode='parallel', group_id={group_id!r}, task=...) without an attempt."
    )
    return " ".join(steps)


def contrast_with(
    bank: Bank, task: str, group_id: str, scope: str | None, llm: LLM, progress=None, shown: str | None = None
) -> RefineResult:
    """Parallel MaTTS by the server's model on the group stored as `group_id` (the caller calls it
    `shown`): judge the unjudged attempts, contrast them all, pick the best of k; falls back to the
    agent's contrast prompt when the model fails."""
    key, group_id = group_id, shown or group_id
    unjudged = [v for v in _attempts(bank, key) if v.outcome is None]
    total = len(unjudged) + 2
    for n, view in enumerate(unjudged, 1):
        bank.judge_with(bank.trajectory(view.trajectory_id), llm)
        distill.tick(progress, n, total, f"judged attempt {view.iteration or n}")
    views = _attempts(bank, key)
    judged = [v for v in views if v.outcome is not None]
    if len(judged) < 2:
        failed = [v for v in views if v.outcome is None]
        note = (
            f"{llm.name} gave no usable verdict for attempt(s) {', '.join(str(v.iteration) for v in failed)}"
        )
        return _parallel_prompt(bank, task, group_id, views, note if failed else "", by_model=True)
    if not bank.store.fresh_attempts(key):
        return RefineResult(
            group_id=group_id, mode="parallel", status="stored", attempts=views,
            next_step="Nothing new to contrast: every judged attempt is distilled. Record another attempt first.",
        )  # fmt: skip
    drafts, note = distill.contrast(bank, task, judged, llm, MAX_CONTRAST_ITEMS)
    distill.tick(progress, total - 1, total, "contrasted" if drafts is not None else "contrast failed")
    if drafts is None:
        return _parallel_prompt(bank, task, group_id, views, note)
    best, why = distill.best_of(bank, task, judged, llm)
    result = _store_contrast(bank, key, views, drafts, scope, group_id)
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


def _store_contrast(bank: Bank, key, views, drafts, scope, group_id) -> RefineResult:
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
    bank.store.mark_contrasted(key, [v.trajectory_id for v in judged])
    return RefineResult(
        group_id=group_id, mode="parallel", status="stored", attempts=views, stored=stored, rejected=rejected,
        next_step="Done: the contrast items are stored and linked to every attempt.",
    )  # fmt: skip
