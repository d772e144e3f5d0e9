"""What a person does on the review page (`rb-mcp ui`), as plain functions over the bank.

Browse and search items; preview the recall an agent would get for a task; read an item with its
history, merges, source trajectories and every recall that returned it; edit it (through the same
redaction and quality gate as the agent's items, re-embedded and re-indexed, the old wording kept in
history), restore or merge it; approve what waits in the review inbox (with RB_MCP_REVIEW=required
new items are held out of recall until then); judge the trajectories waiting for a verdict or items,
or dismiss them. What a caller may see follows `rb_mcp.visibility`, as recall does.

A person acts on what the page showed: edits and approvals carry the item's `updated_at` as seen,
and an item changed since (a merge by an agent, another reviewer) is refused rather than overwritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from rb_mcp import visibility
from rb_mcp.clock import now
from rb_mcp.errors import BankError, GateError, InputError
from rb_mcp.loop import items as item_ops
from rb_mcp.loop import trajectories as trajs
from rb_mcp.loop.trajectories import MAX_RECORD_ITEMS
from rb_mcp.models import (
    ItemDraft,
    Kind,
    MemoryItem,
    Outcome,
    RecallResult,
    RecordResult,
    StoredItem,
    Trajectory,
)

if TYPE_CHECKING:
    from rb_mcp.loop.bank import Bank

PAGE = 50
Sort = Literal["relevance", "recent", "recalled", "helped", "harmed"]
Status = Literal["active", "superseded", "archived", "any"]
EDITED = "edited by a person"


class Listed(BaseModel):
    """An item as a list shows it, with its review state."""

    item: MemoryItem
    held: bool = Field(description="Waits for a person's approval and is not recalled until then.")
    unreviewed: bool = Field(description="Added or changed since a person last reviewed it.")


class Listing(BaseModel):
    items: list[Listed]
    total: int
    page: int
    pages: int


class Merged(BaseModel):
    id: int
    title: str
    merged_at: str


class RecallUse(BaseModel):
    """One recall that returned the item, and what followed it."""

    recall_id: int
    created_at: str
    task: str
    project: str | None
    rank: int
    score: float
    outcome: Outcome | None = Field(description="The verdict of the task recorded with this recall, if any.")
    trajectory_id: int | None


class ItemPage(BaseModel):
    item: MemoryItem
    held: bool
    reviewed_at: str | None
    history: list[dict[str, str]]
    merged: list[Merged]
    sources: list[Trajectory]
    recalls: list[RecallUse]


class TrajectoryPage(BaseModel):
    trajectory: Trajectory
    items: list[MemoryItem] = Field(description="The items distilled from it (any status).")


def held_note(config: Any, stored: Sequence[StoredItem]) -> str:
    """The sentence record_trajectory adds when new items wait for a person's approval."""
    if config.review != "required" or not any(s.action == "added" for s in stored):
        return ""
    return (
        " The new items wait for a person's approval in `rb-mcp ui` (RB_MCP_REVIEW=required) and are not "
        "recalled until then."
    )


# ---- reading ---------------------------------------------------------------------------------
def _listing(bank: Bank, ids: list[int], total: int, page: int) -> Listing:
    found = bank.store.items_by_id(ids)
    marks = bank.store.review_marks(ids)
    rows = []
    for i in ids:
        if i not in found:  # forgotten between the two reads
            continue
        reviewed_at, held = marks.get(i, (None, False))
        item = found[i]
        unreviewed = item.status == "active" and (reviewed_at is None or item.updated_at > reviewed_at)
        rows.append(Listed(item=item, held=held, unreviewed=unreviewed))
    return Listing(items=rows, total=total, page=page, pages=max(1, -(-total // PAGE)))


def scope_key(bank: Bank, project: str | None) -> str | None:
    """The scope a filter names (a name, remote or path, resolved as everywhere else); None for any."""
    if not project or not project.strip():
        return None
    return visibility.resolve(project, bank.default_project)


def browse(
    bank: Bank,
    text: str = "",
    project: str | None = None,
    kind: Kind | None = None,
    status: Status = "active",
    sort: Sort = "recent",
    page: int = 1,
) -> Listing:
    """A page of items: searched by their words (keyword index), filtered, sorted."""
    page = max(1, page)
    ids, total = bank.store.browse_item_ids(
        text=text[:1000], scope=scope_key(bank, project), kind=kind or None,
        status=None if status == "any" else status, sort=sort if text.strip() or sort != "relevance" else "recent",
        limit=PAGE, offset=(page - 1) * PAGE,
    )  # fmt: skip
    return _listing(bank, ids, total, page)


def preview(
    bank: Bank,
    task: str,
    project: str | None = None,
    k: int | None = None,
    kinds: Sequence[Kind] | None = None,
) -> RecallResult:
    """Exactly the recall an agent would get for `task`, without logging it (no recall id, no credit)."""
    if not task or not task.strip():
        raise InputError("task is empty; type the task an agent would start")
    return bank.retriever.recall(task, bank.scope_of(project), k or bank.config.k, kinds, log_event=False)


def item_page(bank: Bank, item_id: int) -> ItemPage | None:
    """An item with everything behind it; None when there is none or the caller may not see it."""
    item = _visible_item(bank, item_id)
    if item is None:
        return None
    store = bank.store
    reviewed_at, held = store.review_marks([item_id]).get(item_id, (None, False))
    sources = []
    for trajectory_id in store.item_source_ids(item_id)[:50]:
        data = store.get_trajectory(trajectory_id)
        if data is not None and visibility.visible([data["project"]])[0]:
            sources.append(Trajectory(**data))
    return ItemPage(
        item=item,
        held=held,
        reviewed_at=reviewed_at,
        history=store.item_history(item_id),
        merged=[Merged(id=i, title=t, merged_at=at) for i, t, at in store.merged_into(item_id)],
        sources=sources,
        recalls=[RecallUse(**r) for r in store.item_recalls(item_id)],
    )


def inbox(bank: Bank, page: int = 1) -> Listing:
    """Items added or changed since a person last reviewed them; held ones first."""
    page = max(1, page)
    ids, total = bank.store.inbox_item_ids(PAGE, (page - 1) * PAGE)
    return _listing(bank, ids, total, page)


def pending(bank: Bank, page: int = 1) -> tuple[list[Trajectory], int]:
    """A page of the trajectories waiting for a verdict or for items, oldest first, and how many wait."""
    ids = bank.store.pending_trajectories()
    page = max(1, page)
    shown = []
    for trajectory_id in ids[(page - 1) * PAGE : page * PAGE]:
        data = bank.store.get_trajectory(trajectory_id)
        if data is not None:
            shown.append(Trajectory(**data))
    return shown, len(ids)


def trajectory(bank: Bank, trajectory_id: int) -> TrajectoryPage | None:
    """A trajectory the caller may see, with the items distilled from it; None otherwise."""
    data = bank.store.get_trajectory(trajectory_id)
    if data is None or not visibility.visible([data["project"]])[0]:
        return None
    ids = sorted(bank.store.items_distilled_from([trajectory_id]))
    found = bank.store.items_by_id(ids)
    items = [found[i] for i in ids if i in found and visibility.visible([found[i].scope])[0]]
    return TrajectoryPage(trajectory=Trajectory(**data), items=items)


# ---- a person's changes ----------------------------------------------------------------------
def _visible_item(bank: Bank, item_id: int) -> MemoryItem | None:
    item = bank.store.items_by_id([item_id]).get(item_id)
    if item is None or not visibility.visible([item.scope])[0]:
        return None
    return item


def _need(bank: Bank, item_id: int) -> MemoryItem:
    item = _visible_item(bank, item_id)
    if item is None:
        raise BankError(f"no memory item {item_id}; it may have been forgotten meanwhile")
    return item


def _draft(title: str, description: str, content: str, kind: Kind | None) -> ItemDraft:
    try:
        return ItemDraft(title=title, description=description, content=content, kind=kind)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(map(str, first["loc"]))
        raise InputError(f"{field}: {first['msg']}") from None


def _gated(drafts: Sequence[ItemDraft], recalled: Sequence[str] = ()) -> list[ItemDraft]:
    """The drafts redacted and gated; any rejection is a GateError naming every fix (nothing is written)."""
    accepted, rejected = item_ops.gate_drafts(drafts, recalled)
    if rejected:
        raise GateError("fix these and save again:\n" + "\n".join(trajs.rejection_lines(rejected)))
    return accepted


def edit(bank: Bank, item_id: int, title: str, description: str, content: str, kind: Kind, seen: str) -> bool:
    """Rewrite an item as a person worded it (redacted and gated like an agent's item), re-embedded and
    re-indexed, the old wording kept in its history; also approves it. False when nothing changed."""
    old = _need(bank, item_id)
    if old.status != "active":
        raise BankError(f"item {item_id} is {old.status}; restore it before editing")
    clean = _gated([_draft(title, description, content, kind)])[0]
    digest = item_ops.content_hash(clean.title, clean.description, clean.content)
    same = digest == item_ops.content_hash(old.title, old.description, old.content) and kind == old.kind
    if same:
        return False
    bank.ready_vectors()
    vec = bank.embedder.embed([item_ops.item_text(clean.title, clean.description, clean.content)])[0]
    store = bank.store
    stamp = now()
    with store.transaction() as tx:
        store.lock_items(tx, [item_id])
        current = store.items_by_id([item_id], tx).get(item_id)
        if current is None or current.status != "active" or current.updated_at != seen:
            raise BankError(
                f"item {item_id} changed since you opened it (merged, edited or archived meanwhile); "
                "reload it and edit the current wording"
            )
        store.add_history(tx, item_id, current.title, current.description, current.content, EDITED, stamp)
        store.revise_item(
            tx, item_id, title=clean.title, description=clean.description, content=clean.content,
            kind=kind, vec=vec, digest=digest, stamp=stamp,
        )  # fmt: skip
        store.index_item(tx, item_id)
    return True


def approve(bank: Bank, seen: Sequence[tuple[int, str]]) -> list[int]:
    """Approve items as they were shown: each (id, updated_at seen). Held ones enter recall. The ids
    approved; an item changed since it was shown stays in the inbox."""
    visible = [(i, at) for i, at in seen if _visible_item(bank, i) is not None]
    if not visible:
        return []
    with bank.store.transaction() as tx:
        return bank.store.mark_reviewed(tx, visible, now())


def restore(bank: Bank, item_id: int) -> None:
    """Make an archived or superseded item active (and recalled) again."""
    item = _need(bank, item_id)
    with bank.store.transaction() as tx:
        if not bank.store.restore_item(tx, item_id, now()):
            raise BankError(f"item {item_id} is {item.status}; only archived or merged items can be restored")
        bank.store.index_item(tx, item_id)


def merge(bank: Bank, gone: int, keep: int) -> None:
    """Merge item `gone` into item `keep`: `keep` keeps its wording (edit it to combine both), gains
    `gone`'s strength, files, tags and sources, and keeps `gone`'s wording in its history; `gone` is
    superseded and no longer recalled."""
    if gone == keep:
        raise InputError("an item cannot be merged into itself; choose another item")
    for item_id in (gone, keep):
        _need(bank, item_id)
    store = bank.store
    stamp = now()
    with store.transaction() as tx:
        store.lock_items(tx, [gone, keep])
        if not store.all_active([gone, keep], tx):
            raise BankError(f"items {gone} and {keep} must both be active to merge; restore them first")
        found = store.items_by_id([gone, keep], tx)
        lost, kept = found[gone], found[keep]
        reason = f"merged from item {gone} by a person"
        store.add_history(tx, keep, lost.title, lost.description, lost.content, reason, stamp)
        files = list(dict.fromkeys(kept.files + lost.files))[:50]
        tags = list(dict.fromkeys(kept.tags + lost.tags))[:12]
        store.strengthen_item(tx, keep, lost.strength, stamp, files=files, tags=tags)
        store.supersede_item(tx, gone, keep, stamp)
        store.index_item(tx, gone)
        store.index_item(tx, keep)


def judge(
    bank: Bank,
    trajectory_id: int,
    outcome: Outcome | None,
    rationale: str,
    drafts: Sequence[dict[str, Any]],
    none_learned: bool = False,
) -> RecordResult:
    """A person's verdict and lessons for a pending trajectory, through `Bank.record` (same redaction
    and gate). Every lesson is gated first, so a refused one writes nothing, not even the verdict."""
    traj = bank.trajectory(trajectory_id)
    visibility.check(traj.project, f"trajectory {trajectory_id}")
    if traj.status not in ("pending_verdict", "pending_items"):
        raise BankError(f"trajectory {trajectory_id} is not waiting (it is {traj.status}); nothing changed")
    if traj.outcome is None and outcome is None:
        raise InputError("choose a verdict: success, failure or impossible")
    items = [_draft(d.get("title", ""), d.get("description", ""), d.get("content", ""), d.get("kind") or None)
             for d in drafts]  # fmt: skip
    if len(items) > MAX_RECORD_ITEMS:
        raise InputError(f"write at most {MAX_RECORD_ITEMS} lessons, the most transferable")
    _gated(items, item_ops.recalled_texts(bank.store, traj.recall_id))
    given: list[ItemDraft] | None = items if items or none_learned else None
    return bank.record(
        trajectory_id=trajectory_id,
        outcome=outcome if traj.outcome is None else None,
        rationale=rationale,
        items=given,
    )


def dismiss(bank: Bank, trajectory_id: int) -> None:
    """Take a trajectory out of the queue without a verdict or lessons (it stays a past task)."""
    traj = bank.trajectory(trajectory_id)
    visibility.check(traj.project, f"trajectory {trajectory_id}")
    if traj.status not in ("pending_verdict", "pending_items") or traj.role == "refine":
        raise BankError(f"trajectory {trajectory_id} is not waiting (it is {traj.status}); nothing changed")
    trajs.update_trajectory(bank.store, trajectory_id, status="distilled")
