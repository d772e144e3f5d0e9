"""The paper's steps done by a server-side model: judge, extract, contrast with best-of-k, the
sequential review, consolidation of near-duplicates, and draining the queue of pending work.

Each step asks through an `llm.LLM` and returns None plus a reason when the model fails, so the
caller can fall back to the agent's round trip. Nothing is written before an answer validates:
a trajectory the model could not finish stays pending (the queue `rb-mcp distill` drains), never
half-distilled. Model calls never happen inside a store transaction.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rb_mcp import prompts
from rb_mcp.errors import RbError
from rb_mcp.llm import (
    LLM,
    BestAnswer,
    ItemsAnswer,
    JudgeAnswer,
    LLMError,
    ask_json,
    converse,
)
from rb_mcp.loop import consolidate, upkeep
from rb_mcp.loop import items as item_ops
from rb_mcp.loop import trajectories as trajs
from rb_mcp.loop.recall import GUIDANCE_MARKS
from rb_mcp.models import AttemptView, DrainReport, ItemDraft, Outcome, Trajectory
from rb_mcp.redact import redact

if TYPE_CHECKING:
    from rb_mcp.loop.bank import Bank

log = logging.getLogger(__name__)

ProgressFn = Callable[[float, float, str], None]
RECALLED = "[recalled memory]"
# A line of rb-mcp's own guidance: one that carries a mark recall writes (its `{recall_id}` or `{id}`, any id).
_GUIDANCE_LINE = re.compile(
    r"^.*(?:"
    + "|".join(r"[0-9a-z-]{1,40}".join(map(re.escape, re.split(r"\{\w+\}", mark))) for mark in GUIDANCE_MARKS)
    + r").*$\n?",
    re.MULTILINE,
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_RUNS = re.compile(r"(?:\[recalled memory\][\s:.,;-]*){2,}")


@dataclass
class Verdict:
    outcome: Outcome
    rationale: str


# ---- recall hygiene ------------------------------------------------------------------------------
def strip_recalled(text: str, recalled: Sequence[tuple[str, str, str]]) -> str:
    """Remove recalled memory text (and rb-mcp's guidance lines) from a trajectory before distilling it,
    so the model distills what the agent did, not what the bank told it: the bank must not echo itself."""
    fragments: set[str] = set()
    for title, description, content in recalled:
        fragments.update([title, description, *_SENTENCE.split(content)])
    for fragment in sorted((f.strip() for f in fragments if len(f.strip()) >= 12), key=len, reverse=True):
        pattern = r"\s+".join(re.escape(word) for word in fragment.split())
        text = re.sub(pattern, RECALLED, text, flags=re.IGNORECASE)
    text = _GUIDANCE_LINE.sub("", text)
    return _RUNS.sub(RECALLED + " ", text)


def recalled_items(bank: Bank, recall_id: int | None) -> list[tuple[str, str, str]]:
    if recall_id is None:
        return []
    return bank.store.recall_hit_items(recall_id)


def clean_text(bank: Bank, traj: Trajectory) -> str:
    # The server's reviews ride on the refinement notes, so the model sees more of each note than the agent.
    text = trajs.trajectory_text(bank.store, traj, note_chars=2500)
    return strip_recalled(text, recalled_items(bank, traj.recall_id))


# ---- judge / extract -----------------------------------------------------------------------------
def judge(bank: Bank, traj: Trajectory, llm: LLM) -> tuple[Verdict | None, str]:
    prompt = prompts.llm_judge(traj.task, clean_text(bank, traj), traj.files)
    try:
        answer, problems = ask_json(llm, prompt, JudgeAnswer, prompts.JUDGE_FORMAT, max_tokens=_tokens(bank))
    except LLMError as exc:
        return None, str(exc)
    if answer is None:
        return None, f"{llm.name} gave no usable verdict twice ({'; '.join(problems)})"
    return Verdict(answer.verdict, redact(answer.rationale.strip())), ""


def extract(bank: Bank, traj: Trajectory, llm: LLM, limit: int) -> tuple[list[ItemDraft] | None, str]:
    """Items distilled by the model; [] is a valid answer. None when it failed twice."""
    recalled = [item_ops.item_text(*r) for r in recalled_items(bank, traj.recall_id)]
    prompt = prompts.llm_extract(
        traj.outcome or "failure", traj.task, clean_text(bank, traj), traj.files, limit
    )
    return _items(bank, llm, prompt, limit, recalled)


def _items(
    bank: Bank, llm: LLM, prompt: str, limit: int, recalled: list[str]
) -> tuple[list[ItemDraft] | None, str]:
    def check(answer: ItemsAnswer) -> list[str]:
        if len(answer.items) > limit:
            return [f"{len(answer.items)} items; give at most {limit}, the most transferable"]
        if wrong := upkeep.supersede_problems(bank.store, answer.items):
            return wrong
        accepted, rejected = item_ops.gate_drafts(answer.items, recalled)
        if answer.items and not accepted:
            return trajs.rejection_lines(rejected)
        return []

    try:
        answer, problems = ask_json(
            llm, prompt, ItemsAnswer, prompts.items_format(limit), max_tokens=_tokens(bank), check=check
        )
    except LLMError as exc:
        return None, str(exc)
    if answer is None:
        return None, f"{llm.name} gave no usable items twice ({'; '.join(problems)})"
    return answer.items, ""


# ---- parallel: contrast and best-of-k ------------------------------------------------------------
def contrast(bank: Bank, task: str, judged: Sequence[AttemptView], llm: LLM, limit: int):
    texts = [(v.trajectory_id, v.outcome, v.excerpt) for v in judged]
    return _items(bank, llm, prompts.llm_contrast(task, texts, limit), limit, [])


def best_of(bank: Bank, task: str, judged: Sequence[AttemptView], llm: LLM) -> tuple[AttemptView | None, str]:
    """Best-of-k selection by the judge among the successful attempts (no call when one or none won)."""
    wins = [v for v in judged if v.outcome == "success"]
    if len(wins) < 2:
        return (wins[0], "the only successful attempt") if wins else (None, "")
    shown = [(n, v.trajectory_id, v.excerpt) for n, v in enumerate(wins, 1)]

    def check(answer: BestAnswer) -> list[str]:
        return [] if answer.best <= len(wins) else [f"best must be an ATTEMPT number from 1 to {len(wins)}"]

    try:
        answer, _ = ask_json(
            llm, prompts.llm_best_of(task, shown), BestAnswer, prompts.BEST_FORMAT, max_tokens=_tokens(bank),
            check=check,
        )  # fmt: skip
    except LLMError as exc:
        return None, str(exc)
    if answer is None:
        return None, "the judge could not pick"
    return wins[answer.best - 1], redact(answer.reason.strip())


# ---- sequential: the review and its "check again" turns ------------------------------------------
def review(
    bank: Bank,
    task: str,
    attempt: str,
    iteration: int,
    previous: Sequence[tuple[int, str]],
    lessons: Sequence[str],
    llm: LLM,
) -> tuple[list[str] | None, str]:
    turns = bank.config.llm_check_turns
    first = prompts.llm_review(task, attempt, iteration, previous, lessons)
    try:
        answers = converse(llm, first, [prompts.CHECK_AGAIN] * (turns - 1), max_tokens=_tokens(bank))
    except LLMError as exc:
        return None, str(exc)
    answers = [redact(a)[:4000] for a in answers if a]
    return (answers, "") if answers else (None, f"{llm.name} returned an empty review")


# ---- the queue -----------------------------------------------------------------------------------
class _Watch:
    """Remembers whether the backend itself failed, so a drain stops instead of timing out N times."""

    def __init__(self, inner: LLM):
        self.inner, self.down = inner, ""

    @property
    def name(self) -> str:
        return self.inner.name

    def complete(self, turns, *, system: str, max_tokens: int) -> str:
        try:
            return self.inner.complete(turns, system=system, max_tokens=max_tokens)
        except LLMError as exc:
            self.down = str(exc)
            raise


def pending_work(bank: Bank) -> tuple[list[int], list[str]]:
    """The queue: pending trajectories (oldest first) and attempt groups ready for a contrast, of the
    scopes the caller may see (over HTTP a client's model must not read other people's trajectories)."""
    return bank.store.pending_trajectories(), bank.store.ready_groups()


def drain(
    bank: Bank, llm: LLM, *, limit: int | None = None, progress: ProgressFn | None = None, sweep: bool = False
) -> DrainReport:
    """Judge and distill pending trajectories (oldest first), then contrast the attempt groups that are
    ready; with `sweep`, also offer undecided gray-zone item pairs to the model. Stops early when the
    backend itself is down, so an unreachable endpoint costs one timeout, not one per trajectory."""
    watch = _Watch(llm)
    report = DrainReport(backend=llm.name)
    tids, groups = pending_work(bank)
    tids = tids if limit is None else tids[:limit]
    total, done = len(tids) + len(groups), 0
    for tid in tids:
        _drain_one(bank, tid, watch, report)
        done += 1
        if progress:
            progress(done, total, f"trajectory {tid}")
        if watch.down:
            break
    if not watch.down:
        groups = bank.store.ready_groups()
        total = done + len(groups)
        for group_id in groups:
            _drain_group(bank, group_id, watch, report)
            done += 1
            if progress:
                progress(done, total, f"group {group_id}")
            if watch.down:
                break
    if sweep and not watch.down:
        report.settled = consolidate.sweep_pairs(bank, watch)
    report.stopped = watch.down
    remaining = bank.store.pending_trajectories()
    report.remaining, report.remaining_ids = len(remaining), remaining[:20]
    report.waiting = bank.store.waiting_attempts()
    report.backend = llm.name
    return report


def _drain_one(bank: Bank, tid: int, llm: LLM, report: DrainReport) -> None:
    try:
        traj = bank.trajectory(tid)
        if traj.role == "attempt" and traj.iteration is not None:
            # A parallel attempt is distilled by its group's contrast, not on its own: judge it only.
            if traj.outcome is None:
                if bank.judge_with(traj, llm) is None:
                    report.failed += 1
                else:
                    report.judged += 1
            return
        before = traj.outcome
        result = bank.record(trajectory_id=tid, llm=llm)
    except RbError as exc:
        log.warning("trajectory %d not distilled: %s", tid, exc)
        report.failed += 1
        return
    report.judged += int(before is None and result.outcome is not None)
    if result.status == "stored":
        report.distilled += 1
        report.stored += len(result.stored)
    else:
        report.failed += 1


def _drain_group(bank: Bank, group_id: str, llm: LLM, report: DrainReport) -> None:
    group = bank.store.group(group_id)
    if group is None:
        return
    try:
        result = bank.contrast_with(group[0], group_id, group[1], llm)
    except RbError as exc:
        log.warning("group %s not contrasted: %s", group_id, exc)
        report.failed += 1
        return
    if result.status == "stored":
        report.contrasted += 1
        report.stored += len(result.stored)
    else:
        report.failed += 1


def _tokens(bank: Bank) -> int:
    return bank.config.llm_max_tokens


def tick(progress: ProgressFn | None, done: float, total: float, message: str) -> None:
    if progress is not None:
        progress(done, total, message)


def because(note: str, what: str) -> str:
    """Why the server's model did not finish a step, as a lead-in to the agent's own instruction."""
    if not note:
        return ""
    return f"The server's model {what} ({note}); the trajectory stays queued for `rb-mcp distill`. Or: "


def queue_report(bank: Bank, reason: str) -> DrainReport:
    """The queue as it stands, for a caller that has no model to drain it with."""
    remaining = bank.store.pending_trajectories()
    return DrainReport(remaining=len(remaining), remaining_ids=remaining[:20], stopped=reason)
