"""Trajectories as the loop sees them: recording one (redacted, its task embedded), changing it later,
its text for the model (with its group's refinement notes), the limits on what one trajectory may
distill, and storing the items distilled from it once they pass the gate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rb_mcp import visibility
from rb_mcp.errors import BankError, InputError
from rb_mcp.loop import items as item_ops
from rb_mcp.loop import upkeep
from rb_mcp.loop.anchors import Tree
from rb_mcp.models import ItemDraft, Kind, Outcome, RejectedItem, Step, StoredItem, Trajectory, is_blank
from rb_mcp.redact import redact
from rb_mcp.store import Store, to_blob

if TYPE_CHECKING:
    from rb_mcp.loop.bank import Bank

MAX_RECORD_ITEMS = 3
MAX_CONTRAST_ITEMS = 5
DEFAULT_KIND: dict[str, Kind] = {"success": "strategy", "failure": "pitfall", "impossible": "pitfall"}


def steps_text(steps: Sequence[Step], summary: str) -> str:
    lines = [f"{n}. {s.text()}" for n, s in enumerate(steps, 1) if s.text()]
    if summary:
        lines.insert(0, f"Summary: {summary}")
    return "\n".join(lines)


def coerce_steps(steps: Sequence[str | Step | dict[str, Any]] | None) -> list[Step]:
    out: list[Step] = []
    for step in steps or []:
        if isinstance(step, Step):
            out.append(step)
        elif isinstance(step, str):
            out.append(Step(action=step))
        else:
            out.append(Step(**step))
    return out


def checked_steps(steps: Sequence[str | Step | dict[str, Any]] | None) -> list[Step]:
    """The steps as `Step`s; a step that shows nothing (whitespace, zero-width characters, NUL) is
    refused rather than stored as noise."""
    out = coerce_steps(steps)
    for n, step in enumerate(out):
        if all(is_blank(v) for v in (step.thought, step.action, step.observation)):
            raise InputError(
                f"steps[{n}] is empty (nothing but whitespace or invisible characters); describe what was "
                "done and seen in it, or leave it out"
            )
    return out


def refuse_unusable(drafts: Sequence[ItemDraft] | None, recalled: Sequence[str], refuse: str) -> None:
    """Raise InputError (`refuse`, then one line per draft) when drafts were sent and none would pass
    the gate: checked before anything is written, so a refused call writes nothing."""
    if drafts:
        accepted, rejected = item_ops.gate_drafts(drafts, recalled)
        if not accepted:
            raise InputError(refuse + "\n".join(rejection_lines(rejected)))


def redact_step(step: Step) -> dict[str, str]:
    return {k: redact(v) for k, v in step.model_dump().items()}


# ---- the rows ------------------------------------------------------------------------------------
def insert_trajectory(
    bank: Bank,
    *,
    task: str,
    project: str | None,
    steps: list[Step],
    summary: str,
    outcome: Outcome | None,
    rationale: str,
    files: Sequence[str],
    status: str,
    role: str,
    recall_id: int | None = None,
    group_id: str | None = None,
    iteration: int | None = None,
) -> int:
    """Record a trajectory, redacted, with its task embedded for recall (a refinement note is not
    recalled: no embedding); indexed in the same transaction. Its id."""
    task = redact(task)
    embedding = to_blob(bank.embed_one(task)) if role != "refine" else None
    store = bank.store
    with store.transaction() as tx:
        trajectory_id = store.insert_trajectory(
            tx, task=task, project=project, steps=[redact_step(s) for s in steps], summary=redact(summary),
            outcome=outcome, rationale=redact(rationale), files=[redact(f) for f in files], status=status,
            role=role, recall_id=recall_id, group_id=group_id, iteration=iteration, task_embedding=embedding,
            owner=visibility.owner(),
        )  # fmt: skip
        store.index_task(tx, trajectory_id)
    return trajectory_id


def update_trajectory(
    store: Store, trajectory_id: int, *, steps: Sequence[Step] | None = None, **fields: Any
) -> None:
    """Change a trajectory's columns (`status=...`); new steps are redacted as on insert."""
    if steps is not None:
        fields["steps"] = [redact_step(s) for s in steps]
    store.update_trajectory(trajectory_id, **fields)


def get_trajectory(store: Store, trajectory_id: int) -> Trajectory:
    data = store.get_trajectory(trajectory_id)
    if data is None:
        raise BankError(
            f"no trajectory with id {trajectory_id}; use the trajectory_id returned by record_trajectory, "
            "or record the task again"
        )
    return Trajectory(**data)


def group_notes(store: Store, group_id: str) -> list[tuple[int, str]]:
    """The refinement notes of an attempt group, in order: (iteration, text)."""
    return [(i or 0, steps_text(coerce_steps(s), "")) for i, s in store.refinement_notes(group_id)]


def trajectory_text(store: Store, traj: Trajectory, note_chars: int = 800) -> str:
    """The trajectory for the model: its summary and steps, then its group's refinement notes."""
    text = steps_text(traj.steps, traj.summary)
    if traj.group_id:
        notes = group_notes(store, traj.group_id)
        if notes:
            text += "\n\nINTERMEDIATE NOTES FROM REFINEMENT (signals too, even if not in the final result):\n"
            text += "\n".join(f"- iteration {i}: {n[:note_chars]}" for i, n in notes)
    return text


# ---- the items distilled from trajectories -------------------------------------------------------
def rejection_lines(rejected: Sequence[RejectedItem]) -> list[str]:
    return [f"item {r.index + 1} ({r.title!r}): " + "; ".join(r.problems) for r in rejected]


def gate_and_store(
    bank: Bank,
    drafts: Sequence[ItemDraft],
    recalled: Sequence[str],
    *,
    refuse: str | None,
    default_kind: Kind,
    scope: str,
    sources: Sequence[int],
    files: Sequence[str],
    tree: Tree | None = None,
) -> tuple[list[StoredItem], list[RejectedItem]]:
    """Gate the drafts, then store those that pass, linked to `sources` and anchored in `tree`. With
    `refuse`, drafts of which none passed are an InputError: `refuse`, then one line per rejected
    draft. A `supersedes` id the caller may not see refuses them all, before anything is written."""
    upkeep.check_supersedes(bank.store, drafts)
    accepted, rejected = item_ops.gate_drafts(drafts, recalled)
    if refuse is not None and drafts and not accepted:
        raise InputError(refuse + "\n".join(rejection_lines(rejected)))
    if accepted:
        bank.ready_vectors()
    stored = item_ops.store_items(
        bank.store, bank.embedder, accepted, default_kind=default_kind, scope=scope, sources=sources,
        files=files, dedupe_threshold=bank.config.dedupe_threshold, tree=tree,
        hold=bank.config.review == "required",
    )  # fmt: skip
    return stored, rejected
