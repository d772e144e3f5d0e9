"""The ReasoningBank loop as plain functions: recall, record (judge -> distill -> consolidate), refine.

No MCP here: the server and the CLI call these methods. Who judges and distills, in order: the
agent when it sends a verdict or items (always wins); else the server-side model passed as `llm`
(the client's model through sampling, or an endpoint; see `rb_mcp.distill`); else the agent again:
`record` answers with the prompt to follow and keeps the trajectory pending until the agent's
follow-up call (or `rb-mcp distill`) brings the answer.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rb_mcp import clock, ids, prompts, visibility
from rb_mcp import project as projects
from rb_mcp.config import Config
from rb_mcp.embed import Embedder, embedder_for
from rb_mcp.errors import BankError, InputError
from rb_mcp.llm import LLM
from rb_mcp.loop import anchors, consolidate, curate, distill, ownership, refine, review, upkeep
from rb_mcp.loop import items as item_ops
from rb_mcp.loop import trajectories as trajs
from rb_mcp.loop.anchors import Tree
from rb_mcp.loop.bank_review import ReviewApi
from rb_mcp.loop.recall import Retriever
from rb_mcp.loop.trajectories import DEFAULT_KIND, MAX_RECORD_ITEMS
from rb_mcp.models import (
    MAX_PROJECT,
    ItemDraft,
    ItemStatus,
    Kind,
    MaintenanceReport,
    MemoryItem,
    Outcome,
    RecallResult,
    RecordResult,
    RefineResult,
    Step,
    Trajectory,
    is_blank,
)
from rb_mcp.redact import redact
from rb_mcp.store import GLOBAL, Store, open_store

log = logging.getLogger(__name__)


def _id_key(store: Store) -> str:
    key = store.get_meta(ids.KEY_META)
    if not key:
        raise BankError(
            f"the bank at {store.path} has no id key (made by its schema migration); run `rb-mcp doctor`"
        )
    return key


class Bank(ReviewApi):
    """One open bank: the store, the embedder and the settings. Use as a context manager."""

    def __init__(
        self,
        config: Config,
        embedder: Embedder | None = None,
        store: Store | None = None,
        rng: random.Random | None = None,
    ):
        self.config = config
        self.rng = rng or random.Random()  # draws the control recalls (RB_MCP_CONTROL_RATE)
        self.store = store or open_store(config.bank)
        self.embedder: Embedder = embedder or embedder_for(config.model, self.store.vector_model()[0])
        self.default_project = config.project or projects.default_for_cwd()
        self.id_key = _id_key(self.store)
        self._vectors_ready = False
        self.retriever = Retriever(self)
        self._local_tree: Tree | None | bool = False  # False: not looked up yet
        self._upkeep_due: datetime | None = None
        self._upkeep: threading.Timer | None = None
        self._upkeep_lock = threading.Lock()

    def __enter__(self) -> Bank:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._upkeep is not None:
            self._upkeep.cancel()  # a maintenance not started yet waits for the next start
            self._upkeep.join(timeout=30)
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

    def name_of(self, project: str) -> str:
        """The scope key of a project name a caller sent, as stored: secrets redacted (`rb_mcp.ids`)."""
        if is_blank(project):
            raise InputError("project is empty; pass a project name, a repository path, or leave it out")
        projects.normalise_name(project)  # its checks: not empty, not too long
        return ids.stored_name(project, self.id_key, projects.key_of, MAX_PROJECT)

    def _stored(self, scope: str | None) -> str | None:
        # A key found on this machine (a git remote, RB_MCP_PROJECT) is redacted like a caller's name.
        return ids.stored_name(scope, self.id_key, str, MAX_PROJECT) if scope else scope

    def scope_of(self, project: str | None) -> str | None:
        return self._stored(visibility.resolve(project, self._stored(self.default_project), self.name_of))

    def trajectory(self, trajectory_id: int) -> Trajectory:
        return trajs.get_trajectory(self.store, trajectory_id)

    def tree_for(
        self, project: str | None = None, root: str | Path | None = None, scope: str | None | bool = False
    ) -> Tree | None:
        """The working tree a call's anchors are read in (`rb_mcp.loop.anchors.tree_for`)."""
        return anchors.tree_for(self, project, root, scope)

    # ---- recall ----------------------------------------------------------------------------
    def recall(
        self,
        task: str,
        project: str | None = None,
        k: int | None = None,
        kinds: Sequence[Kind] | None = None,
        *,
        session_id: str | None = None,
        vectors: bool = True,
        exclude_items: Sequence[int] = (),
        root: str | Path | None = None,
    ) -> RecallResult:
        """Memory for a task, logged as a recall event. `session_id` (the client's session) lets a
        later `record(session_id=...)` find this recall; `vectors=False` searches by keyword only
        (no model loaded); `exclude_items` are skipped before the top k is cut. A share
        `config.control_rate` of recalls, drawn from `self.rng`, are controls: no memory, logged so.
        Each item is checked against the working tree (`tree_for`: `root`, e.g. the cwd a hook
        passes, or what the server can see) and carries `verified`."""
        if is_blank(task):
            raise InputError("task is empty; describe the task you are about to start")
        session_id = _session(session_id)
        rate = self.config.control_rate
        control = rate > 0 and self.rng.random() < rate
        return self.retriever.recall(
            task, self.scope_of(project), k or self.config.k, kinds, vectors=vectors,
            exclude_items=exclude_items, session_id=session_id, control=control,
            tree=self.tree_for(project, root),
        )  # fmt: skip

    def session_recalls(self, session_id: str) -> list[str]:
        """The recall ids (handles, as recall returned them) logged with this client session id, oldest first."""
        return [
            ids.recall_handle(self.id_key, n) for n in self.store.session_recalls(_session(session_id) or "")
        ]

    def count_items(self, project: str | None = None) -> dict[str, int]:
        """Active items per scope among the scopes a recall for `project` searches."""
        return self.store.scope_item_counts(visibility.partitions(self.scope_of(project)))

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
        recall_id: str | None = None,
        group_id: str | None = None,
        trajectory_id: int | None = None,
        llm: LLM | None = None,
        progress: distill.ProgressFn | None = None,
        session_id: str | None = None,
        root: str | Path | None = None,
    ) -> RecordResult:
        """Record, judge and distill a trajectory, or answer a pending one (`trajectory_id`). Every
        argument is checked before the first write: a refused call leaves the bank as it was.
        Without `recall_id`, a `session_id` links it to that session's latest recall that returned
        items (else its latest control recall), so the effect statistics know memory came before it."""
        session_id = _session(session_id)
        if recall_id is None and trajectory_id is None and session_id:
            found = self.store.session_recall(session_id)
            event = self.store.recall_event(found) if found else None
            if event is not None and visibility.visible([event["project"]])[0]:
                recall_id = ids.recall_handle(self.id_key, found)
        drafts = (
            [d if isinstance(d, ItemDraft) else ItemDraft(**d) for d in items] if items is not None else None
        )
        if drafts is not None and len(drafts) > MAX_RECORD_ITEMS:
            raise InputError(
                f"items holds {len(drafts)} items; send at most {MAX_RECORD_ITEMS}, the most transferable"
            )
        upkeep.check_supersedes(self.store, drafts or [])
        if trajectory_id is None:
            if files and (tree := self.tree_for(project, root)) is not None:
                files = [tree.shown(f) for f in files]  # absolute paths never leave the machine
            task_row = self._new_task(task, steps, summary, files, project, recall_id, group_id)
            if drafts and outcome is None:
                raise InputError(
                    "items need a verdict first: pass outcome (success, failure or impossible) with them"
                )
            trajs.refuse_unusable(drafts, item_ops.recalled_texts(self.store, task_row["recall_id"]),
                                  "no item was stored and nothing was recorded; fix these and send the call "
                                  "again (or items=[] if nothing transferable was learned):\n")  # fmt: skip
            trajectory_id = trajs.insert_trajectory(self, **task_row)
        else:
            self._check_answer(trajectory_id, drafts, outcome, project, recall_id, group_id)
        traj = self.trajectory(trajectory_id)
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
                return self._distill_by_model(traj, drafts, credited, llm, progress, root)
        if drafts is None and traj.role == "attempt" and traj.iteration is not None:
            # A parallel attempt's lessons come from its group's self-contrast, not from itself alone.
            shown = ids.shown_group(traj.group_id or "")
            return RecordResult(
                trajectory_id=trajectory_id, status="needs_items", outcome=traj.outcome, credited=credited,
                next_step=f"Verdict stored for attempt {traj.iteration} of group {shown!r}. Its lessons come "
                f"from the group's self-contrast: call refine_attempt(mode='parallel', group_id={shown!r}, "
                "task=...) without an attempt once two or more attempts have verdicts.",
            )  # fmt: skip
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
                    self.store.recalled_titles(traj.recall_id),
                ),
            )
        return self._distill(traj, drafts, credited, root)

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

    def _distill_by_model(self, traj, drafts, credited, llm: LLM, progress, root=None) -> RecordResult:
        if (
            self.trajectory(traj.id).status == "distilled"
        ):  # distilled by someone else while the model thought
            return RecordResult(
                trajectory_id=traj.id, status="stored", outcome=traj.outcome, credited=credited,
                next_step="Nothing to do: this trajectory is already distilled.",
            )  # fmt: skip
        result = self._distill(traj, drafts, credited, root)
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

    def _new_task(self, task, steps, summary, files, project, recall_id, group_id) -> dict[str, Any]:
        """The checked columns of a new trajectory, nothing written yet."""
        if is_blank(task):
            raise InputError("task is empty; pass the task the trajectory worked on")
        step_list = trajs.checked_steps(steps)
        if not step_list and is_blank(summary):
            raise InputError("pass steps (what was done and seen) or a summary of the trajectory")
        scope = self.scope_of(project)
        group = ownership.group_of(self, group_id, scope)
        return dict(
            task=task, project=scope, steps=step_list, summary=summary or "", outcome=None, rationale="",
            files=files or [], status="pending_verdict", role="attempt" if group else "task",
            recall_id=ownership.recall_of(self, recall_id, scope), group_id=group,
        )  # fmt: skip

    def _check_answer(self, trajectory_id, drafts, outcome, project, recall_id, group_id) -> None:
        """Refuse an answer to a pending trajectory that would be refused after writing something."""
        traj = ownership.own_trajectory(self, trajectory_id, project)
        if recall_id is not None and ownership.recall_of(self, recall_id, traj.project) != traj.recall_id:
            raise InputError(f"recall_id is not the recall of trajectory {trajectory_id}; leave it out")
        if group_id is not None and ownership.group_of(self, group_id, traj.project) != traj.group_id:
            raise InputError(f"group_id is not the group of trajectory {trajectory_id}; leave it out")
        if traj.role == "refine":
            raise BankError(
                f"trajectory {trajectory_id} is a refinement note; record the final attempt instead"
            )
        if outcome is not None and traj.outcome is not None and outcome != traj.outcome:
            raise InputError(
                f"trajectory {trajectory_id} was already judged {traj.outcome}; record a new trajectory for a new attempt"
            )
        if drafts and outcome is None and traj.outcome is None:
            raise InputError(
                "items need a verdict first: pass outcome (success, failure or impossible) with them"
            )
        if drafts and traj.status == "distilled":
            raise InputError(
                f"trajectory {trajectory_id} is already distilled; record a new trajectory instead"
            )
        trajs.refuse_unusable(drafts, item_ops.recalled_texts(self.store, traj.recall_id),
                              f"no item was stored for trajectory {trajectory_id}; fix these and call "
                              f"record_trajectory(trajectory_id={trajectory_id}, items=[...]) again (or items=[] "
                              "if nothing transferable was learned):\n")  # fmt: skip

    def _distill(
        self, traj: Trajectory, drafts: list[ItemDraft], credited: list[int], root: str | Path | None = None
    ) -> RecordResult:
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
            tree=self.tree_for(None, root, traj.project),
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
        self,
        project: str | None = None,
        kind: Kind | None = None,
        include_all: bool = False,
        limit: int = 50,
        status: ItemStatus | None = None,
    ) -> list[MemoryItem]:
        """Items the caller may see, newest first (only active unless `include_all`; only `status`'s)."""
        return curate.list_items(self.store, project, kind, include_all, limit, status)

    def item(self, item_id: int) -> dict[str, Any] | None:
        """One item with its history and source trajectory ids; None when absent or not visible."""
        return curate.item_detail(self.store, item_id)

    def forget(self, ids: Sequence[int], hard: bool = True) -> list[int]:
        """Forget (hard) or archive each item; returns the ids that named no item."""
        return curate.forget_items(self.store, ids, hard)

    def move(self, item_id: int, scope: str) -> bool:
        """Move an item to another scope (`global` promotes it to team memory)."""
        return curate.move_item(self.store, item_id, self._stored(scope) or scope)

    def backup(self, target: str | Path) -> Path:
        """An online, checked copy of the bank in a new SQLite file."""
        return self.store.backup(target)

    # ---- forgetting that is never loss (rb_mcp.loop.upkeep) ------------------------------------
    def restore(self, ids: Sequence[int]) -> list[int]:
        """Bring archived or superseded items back into recall; returns the ids that named no such item."""
        return upkeep.restore(self.store, ids)

    def maintain(self, dry_run: bool = False) -> MaintenanceReport:
        """Archive expired and harmful items (`RB_MCP_EXPIRE_DAYS`), or list them with `dry_run`."""
        return upkeep.maintain(self.store, self.config.expire_days, dry_run)

    def maintain_soon(self, delay: float = 0.0) -> threading.Timer | None:
        """In `delay` s, maintain in the background if a day has passed since the bank's last run (the
        server asks on every call, 30 s ahead so the call itself runs alone; a look at most hourly)."""
        moment = clock.current()
        with self._upkeep_lock:  # tool calls run in several worker threads at once
            if (self._upkeep_due is not None and moment < self._upkeep_due) or (
                self._upkeep is not None and self._upkeep.is_alive()
            ):
                return None
            self._upkeep_due = moment + timedelta(hours=1)

            def run() -> None:
                try:
                    if upkeep.due(self.store):
                        report = upkeep.maintain(self.store, self.config.expire_days)
                        log.info("maintenance archived %d of %d items", len(report.archived), report.checked)
                except Exception as exc:  # a read-only, busy or closing bank: try again later
                    log.warning("maintenance skipped: %s", exc)

            self._upkeep = threading.Timer(delay, run)
            self._upkeep.name, self._upkeep.daemon = "rb-mcp-maintain", True
            self._upkeep.start()
            return self._upkeep


MAX_SESSION_ID = 200


def _session(session_id: str | None) -> str | None:
    """A client session id as stored: redacted, at most MAX_SESSION_ID characters; None when blank."""
    if session_id is None or not session_id.strip():
        return None
    if len(session_id) > MAX_SESSION_ID:
        raise InputError(f"session_id has {len(session_id)} characters; pass at most {MAX_SESSION_ID}")
    return redact(session_id.strip())
