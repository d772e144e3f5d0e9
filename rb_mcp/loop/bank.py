"""The ReasoningBank loop as plain functions: recall, record (judge -> distill -> consolidate), refine.

No MCP here: the server and the CLI call these methods. Who judges and distills, in order: the
agent when it sends a verdict or items (always wins); else the server-side model passed as `llm`
(the client's model through sampling, or an endpoint; see `rb_mcp.distill`); else the agent again:
`record` answers with the prompt to follow and keeps the trajectory pending until the agent's
follow-up call (or `rb-mcp distill`) brings the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rb_mcp import project as projects
from rb_mcp import prompts, visibility
from rb_mcp.config import Config
from rb_mcp.embed import Embedder, FastEmbedder
from rb_mcp.errors import BankError, InputError
from rb_mcp.llm import LLM
from rb_mcp.loop import consolidate, curate, distill, effect, refine, review
from rb_mcp.loop import items as item_ops
from rb_mcp.loop import trajectories as trajs
from rb_mcp.loop.recall import Retriever
from rb_mcp.loop.trajectories import DEFAULT_KIND, MAX_RECORD_ITEMS, coerce_steps
from rb_mcp.models import (
    ItemDraft,
    Kind,
    MemoryItem,
    Outcome,
    RecallResult,
    RecordResult,
    RefineResult,
    Step,
    Trajectory,
)
from rb_mcp.redact import redact
from rb_mcp.store import GLOBAL, Store, open_store

log = logging.getLogger(__name__)


class Bank:
    """One open bank: the store, the embedder and the settings. Use as a context manager."""

    def __init__(self, config: Config, embedder: Embedder | None = None, store: Store | None = None):
        self.config = config
        self.store = store or open_store(config.bank)
        self.embedder: Embedder = embedder or FastEmbedder(config.model)
        self.default_project = config.project or projects.default_for_cwd()
        self._vectors_ready = False
        self.retriever = Retriever(self)

    def __enter__(self) -> Bank:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.store.close()

    # ---- helpers ---------------------------------------------------------------------------
    def ready_vectors(self) -> None:
        """Bind the bank to the embedding model on first use (loads the model)."""
        if not self._vectors_ready:
            self.store.ensure_vectors(self.embedder.name, self.embedder.dim)
            self._vectors_ready = True

    def use_embedder(self, embedder: Embedder) -> None:
        """Switch to `embedder`, whose model the bank's vectors were just rebuilt with (`rb-mcp reembed`)."""
        self.embedder = embedder
        self._vectors_ready = True

    def embed_one(self, text: str):
        self.ready_vectors()
        return self.embedder.embed([text])[0]

    def scope_of(self, project: str | None) -> str | None:
        return visibility.resolve(project, self.default_project)

    def trajectory(self, trajectory_id: int) -> Trajectory:
        return trajs.get_trajectory(self.store, trajectory_id)

    def check_group(self, group_id: str | None) -> None:
        """Refuse a group_id whose attempts live in a scope the caller may not see (its notes would leak)."""
        if group_id:
            for where in self.store.group_scopes(group_id):
                visibility.check(where, f"group_id {group_id!r} (choose another id)")

    def _check_recall_id(self, recall_id: int | None) -> None:
        if recall_id is None:
            return
        event = self.store.recall_event(recall_id)
        if event is None:
            raise InputError(
                f"recall_id {recall_id} is unknown; pass the recall_id that recall_strategies returned"
            )
        visibility.check(event["project"], f"recall_id {recall_id}")

    # ---- recall ----------------------------------------------------------------------------
    def recall(
        self, task: str, project: str | None = None, k: int | None = None, kinds: Sequence[Kind] | None = None
    ) -> RecallResult:
        if not task or not task.strip():
            raise InputError("task is empty; describe the task you are about to start")
        return self.retriever.recall(task, self.scope_of(project), k or self.config.k, kinds)

    # ---- record ----------------------------------------------------------------------------
    def record(
        self,
        task: str | None = None,
        steps: Sequence[str | Step | dict[str, Any]] | None = None,
        summary: str | None = None,
        outcome: Outcome | None = None,
        rationale: str | None = None,
        items: Sequence[ItemDraft | dict[str, Any]] | None = None,
        files: Sequence[str] | None = None,
        project: str | None = None,
        recall_id: int | None = None,
        group_id: str | None = None,
        trajectory_id: int | None = None,
        llm: LLM | None = None,
        progress: distill.ProgressFn | None = None,
    ) -> RecordResult:
        drafts = (
            [d if isinstance(d, ItemDraft) else ItemDraft(**d) for d in items] if items is not None else None
        )
        if drafts is not None and len(drafts) > MAX_RECORD_ITEMS:
            raise InputError(
                f"items holds {len(drafts)} items; send at most {MAX_RECORD_ITEMS}, the most transferable"
            )
        if trajectory_id is None:
            trajectory_id = self._new_task(
                task, steps, summary, outcome, rationale, files, project, recall_id, group_id
            )
        traj = self.trajectory(trajectory_id)
        visibility.check(traj.project, f"trajectory {trajectory_id}")
        if traj.role == "refine":
            raise BankError(
                f"trajectory {trajectory_id} is a refinement note; record the final attempt instead"
            )
        credited: list[int] = []
        if outcome is not None and traj.outcome is None:
            credited = self._apply_verdict(traj, outcome, rationale or "")
            traj = self.trajectory(trajectory_id)
        elif outcome is not None and outcome != traj.outcome:
            raise InputError(
                f"trajectory {trajectory_id} was already judged {traj.outcome}; record a new trajectory for a new attempt"
            )
        note = ""
        if traj.outcome is None:
            if drafts:
                raise InputError(
                    "items need a verdict first: pass outcome (success, failure or impossible) with them"
                )
            if llm is not None:
                verdict, note = distill.judge(self, traj, llm)
                distill.tick(progress, 1, 3, f"judged by {llm.name}" if verdict else "judging failed")
                if verdict is not None:
                    credited = self._apply_verdict(traj, verdict.outcome, verdict.rationale)
                    traj = self.trajectory(trajectory_id)
        if traj.outcome is None:
            return RecordResult(
                trajectory_id=trajectory_id,
                status="needs_verdict",
                outcome=None,
                next_step=distill.because(note, "could not judge it")
                + f"Judge the trajectory: answer the prompt, then call record_trajectory(trajectory_id="
                f"{trajectory_id}, outcome=..., rationale=...).",
                prompt=prompts.judge(
                    traj.task, trajs.trajectory_text(self.store, traj), traj.files, trajectory_id
                ),
            )
        if traj.status == "distilled" and drafts:
            raise InputError(
                f"trajectory {trajectory_id} is already distilled; record a new trajectory instead"
            )
        if drafts is None and traj.status == "distilled":
            return RecordResult(
                trajectory_id=trajectory_id,
                status="stored",
                outcome=traj.outcome,
                next_step="Nothing to do: this trajectory is already distilled.",
            )
        if drafts is None and llm is not None:
            drafts, note = distill.extract(self, traj, llm, MAX_RECORD_ITEMS)
            distill.tick(
                progress, 2, 3, f"distilled by {llm.name}" if drafts is not None else "distilling failed"
            )
            if drafts is not None:
                return self._distill_by_model(traj, drafts, credited, llm, progress)
        if drafts is None:
            return RecordResult(
                trajectory_id=trajectory_id,
                status="needs_items",
                outcome=traj.outcome,
                credited=credited,
                next_step=distill.because(note, f"judged it {traj.outcome} but could not distill it")
                + f"Distill memory items: answer the prompt, then call record_trajectory(trajectory_id="
                f"{trajectory_id}, items=[...]).",
                prompt=prompts.extract(
                    traj.outcome,
                    traj.task,
                    trajs.trajectory_text(self.store, traj),
                    traj.files,
                    trajectory_id,
                ),
            )
        return self._distill(traj, drafts, credited)

    def _apply_verdict(self, traj: Trajectory, outcome: Outcome, rationale: str) -> list[int]:
        # Only the first verdict counts: a model answer that arrives late (a sampling job, a drain running
        # alongside) must not reopen a trajectory someone else already judged or distilled.
        if not self.store.set_verdict(traj.id, outcome, redact(rationale)):
            return []
        return item_ops.credit(self.store, traj.recall_id, outcome)

    def judge_with(self, traj: Trajectory, llm: LLM) -> Outcome | None:
        """Judge a pending trajectory with the server-side model; None when the model could not."""
        verdict, _ = distill.judge(self, traj, llm)
        if verdict is None:
            return None
        self._apply_verdict(traj, verdict.outcome, verdict.rationale)
        return verdict.outcome

    def _distill_by_model(self, traj, drafts, credited, llm: LLM, progress) -> RecordResult:
        if (
            self.trajectory(traj.id).status == "distilled"
        ):  # distilled by someone else while the model thought
            return RecordResult(
                trajectory_id=traj.id, status="stored", outcome=traj.outcome, credited=credited,
                next_step="Nothing to do: this trajectory is already distilled.",
            )  # fmt: skip
        result = self._distill(traj, drafts, credited)
        result.stored = consolidate.new_items(self, result.stored, llm)
        distill.tick(progress, 3, 3, "consolidated")
        result.next_step = (
            f"Done: {llm.name} distilled {len(result.stored)} memory item(s) from this {traj.outcome} trajectory; "
            "nothing else to do."
            + (" Some drafts failed the quality gate; see rejected." if result.rejected else "")
            + review.held_note(self.config, result.stored)
        )
        return result

    # ---- refine (memory-aware test-time scaling lives in rb_mcp.refine) -----------------------
    def refine(
        self,
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
        return refine.refine(
            self, task, attempt, mode, group_id, iteration, outcome, items, project, llm, progress
        )

    def contrast_with(
        self, task: str, group_id: str, scope: str | None, llm: LLM, progress=None
    ) -> RefineResult:
        return refine.contrast_with(self, task, group_id, scope, llm, progress)

    def distill_pending(
        self,
        llm: LLM,
        limit: int | None = None,
        progress: distill.ProgressFn | None = None,
        sweep: bool = False,
    ) -> distill.DrainReport:
        """Drain the queue: pending trajectories and attempt groups ready for a contrast."""
        return distill.drain(self, llm, limit=limit, progress=progress, sweep=sweep)

    def _new_task(self, task, steps, summary, outcome, rationale, files, project, recall_id, group_id) -> int:
        if not task or not task.strip():
            raise InputError("task is empty; pass the task the trajectory worked on")
        step_list = coerce_steps(steps)
        if not step_list and not (summary or "").strip():
            raise InputError("pass steps (what was done and seen) or a summary of the trajectory")
        self._check_recall_id(recall_id)
        self.check_group(group_id)
        return trajs.insert_trajectory(
            self,
            task=task,
            project=self.scope_of(project),
            steps=step_list,
            summary=summary or "",
            outcome=None,
            rationale="",
            files=files or [],
            status="pending_verdict",
            role="attempt" if group_id else "task",
            recall_id=recall_id,
            group_id=group_id,
        )

    def _distill(self, traj: Trajectory, drafts: list[ItemDraft], credited: list[int]) -> RecordResult:
        stored, rejected = trajs.gate_and_store(
            self,
            drafts,
            item_ops.recalled_texts(self.store, traj.recall_id),
            refuse=f"no item was stored for trajectory {traj.id}; fix these and call record_trajectory("
            f"trajectory_id={traj.id}, items=[...]) again (or items=[] if nothing transferable was learned):\n",
            default_kind=DEFAULT_KIND[traj.outcome or "success"],
            scope=traj.project or GLOBAL,
            sources=[traj.id],
            files=traj.files,
        )
        trajs.update_trajectory(self.store, traj.id, status="distilled")
        return RecordResult(
            trajectory_id=traj.id,
            status="stored",
            outcome=traj.outcome,
            stored=stored,
            rejected=rejected,
            credited=credited,
            next_step=(
                "Done: the memory is stored."
                if not rejected
                else "Stored what passed; see rejected for the rest."
            )
            + review.held_note(self.config, stored),
        )

    # ---- curating (the CLI, the resources, the review page) ---------------------------------
    def items(
        self, project: str | None = None, kind: Kind | None = None, include_all: bool = False, limit: int = 50
    ) -> list[MemoryItem]:
        """Items the caller may see, most recently updated first (active only unless `include_all`)."""
        return curate.list_items(self.store, project, kind, include_all, limit)

    def item(self, item_id: int) -> dict[str, Any] | None:
        """One item with its history and source trajectory ids; None when absent or not visible."""
        return curate.item_detail(self.store, item_id)

    def forget(self, ids: Sequence[int], hard: bool = True) -> list[int]:
        """Forget (hard) or archive each item; returns the ids that named no item."""
        return curate.forget_items(self.store, ids, hard)

    def move(self, item_id: int, scope: str) -> bool:
        """Move an item to another scope (`global` promotes it to team memory)."""
        return curate.move_item(self.store, item_id, scope)

    def backup(self, target: str | Path) -> Path:
        """An online, checked copy of the bank in a new SQLite file."""
        return self.store.backup(target)

    # ---- the review page (rb-mcp ui; rb_mcp.loop.review) and the effect of memory (rb_mcp.loop.effect) ----
    def browse(
        self,
        text: str = "",
        project: str | None = None,
        kind: Kind | None = None,
        status: review.Status = "active",
        sort: review.Sort = "recent",
        page: int = 1,
    ) -> review.Listing:
        """A page of items found by their words, filtered by project, kind and status, sorted."""
        return review.browse(self, text, project, kind, status, sort, page)

    def preview_recall(
        self, task: str, project: str | None = None, k: int | None = None, kinds: Sequence[Kind] | None = None
    ) -> RecallResult:
        """The recall an agent would get for `task`, with scores and why each matched; not logged."""
        return review.preview(self, task, project, k, kinds)

    def scopes(self) -> list[tuple[str, int]]:
        """(scope, items) of every scope the caller may see, the fullest first."""
        return self.store.item_scopes()

    def item_page(self, item_id: int) -> review.ItemPage | None:
        """An item with its history, merges, source trajectories and recalls; None when not visible."""
        return review.item_page(self, item_id)

    def edit_item(
        self, item_id: int, title: str, description: str, content: str, kind: Kind, seen: str
    ) -> bool:
        """A person's wording for an item (redacted, gated, re-embedded; old wording kept in history)."""
        return review.edit(self, item_id, title, description, content, kind, seen)

    def restore(self, item_id: int) -> None:
        """Make an archived or merged item active again."""
        review.restore(self, item_id)

    def merge_items(self, gone: int, keep: int) -> None:
        """Merge item `gone` into item `keep` (a person's consolidation)."""
        review.merge(self, gone, keep)

    def inbox(self, page: int = 1) -> review.Listing:
        """Items added or changed since a person last reviewed them (held ones first)."""
        return review.inbox(self, page)

    def review_counts(self) -> dict[str, int]:
        """How many items wait in the review inbox, and how many trajectories for a verdict or items."""
        return {"inbox": self.store.inbox_count(), "pending": self.store.pending_count()}

    def approve(self, seen: Sequence[tuple[int, str]]) -> list[int]:
        """Approve items as shown, (id, updated_at) each; held ones enter recall. The ids approved."""
        return review.approve(self, seen)

    def pending(self, page: int = 1) -> tuple[list[Trajectory], int]:
        """Trajectories waiting for a verdict or for items, oldest first, and how many wait."""
        return review.pending(self, page)

    def trajectory_page(self, trajectory_id: int) -> review.TrajectoryPage | None:
        """A trajectory the caller may see, with the items distilled from it; or None."""
        return review.trajectory(self, trajectory_id)

    def judge(
        self,
        trajectory_id: int,
        outcome: Outcome | None,
        rationale: str = "",
        items: Sequence[dict[str, Any]] = (),
        none_learned: bool = False,
    ) -> RecordResult:
        """A person's verdict and lessons for a pending trajectory (all gated first, then `record`)."""
        return review.judge(self, trajectory_id, outcome, rationale, items, none_learned)

    def dismiss(self, trajectory_id: int) -> None:
        """Take a pending trajectory out of the queue without a verdict or lessons."""
        review.dismiss(self, trajectory_id)

    def effect(self, top: int = 10) -> effect.EffectStats:
        """Outcomes with and without recalled memory, the items that helped and harmed most, guidance tokens."""
        return effect.effect_stats(self.store, top=top)
