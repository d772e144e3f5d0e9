"""Memory items in the bank: gate, redact, consolidate (merge near-duplicates), credit, forget.

The paper appends every distilled item; we consolidate instead. A new item whose embedding is at
least `dedupe_threshold` cosine from an active item in the same scope (or has the same text)
strengthens that item rather than adding a twin. When the newcomer says more, it replaces the
text and the old wording moves to `item_history`; otherwise the newcomer's wording is kept there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from rb_mcp.clock import now
from rb_mcp.embed import Embedder
from rb_mcp.loop import anchors, upkeep
from rb_mcp.loop.gate import item_problems
from rb_mcp.models import ItemDraft, Kind, MemoryItem, RejectedItem, StoredItem
from rb_mcp.redact import redact
from rb_mcp.store import Store
from rb_mcp.store.items import ITEM_COLUMNS as ITEM_COLUMNS  # re-exported for cli.py and server/app.py,
from rb_mcp.store.items import row_to_item as row_to_item  # which still read items with their own SQL
from rb_mcp.store.protocol import Tx


def item_text(title: str, description: str, content: str) -> str:
    """The text an item is embedded and hashed by: the one definition of it."""
    return f"{title}\n{description}\n{content}"


def content_hash(title: str, description: str, content: str) -> str:
    norm = " ".join(item_text(title, description, content).lower().split())
    return hashlib.sha256(norm.encode()).hexdigest()


def get_items(store: Store, ids: Sequence[int]) -> dict[int, MemoryItem]:
    return store.items_by_id(ids)


def recalled_texts(store: Store, recall_id: int | None) -> list[str]:
    return [item_text(*row) for row in store.recalled_texts(recall_id)]


def gate_drafts(
    drafts: Sequence[ItemDraft], recalled: Sequence[str]
) -> tuple[list[ItemDraft], list[RejectedItem]]:
    """Redact, then check each draft; secrets never reach the gate's messages or the bank."""
    accepted: list[ItemDraft] = []
    rejected: list[RejectedItem] = []
    for index, draft in enumerate(drafts):
        clean = draft.model_copy(
            update={
                "title": redact(draft.title).strip(),
                "description": redact(draft.description).strip(),
                "content": redact(draft.content).strip(),
                "tags": [redact(t) for t in draft.tags],
            }
        )
        problems = item_problems(clean.title, clean.description, clean.content, recalled)
        if problems:
            rejected.append(RejectedItem(index=index, title=clean.title[:120], problems=problems))
        else:
            accepted.append(clean)
    return accepted, rejected


def _nearest(store: Store, vec: np.ndarray, scope: str) -> tuple[int, float] | None:
    # Any kind: a pitfall from one failure and a strategy from another success are often the same
    # lesson (benchmarks/dedupe_threshold.py: 51 of 69 reworded duplicates cross kinds).
    for item_id, similarity in store.knn("item_vec", vec, [scope], 3):
        if store.all_active([item_id]):
            return item_id, similarity
    return None


def store_items(
    store: Store,
    embedder: Embedder,
    drafts: Sequence[ItemDraft],
    *,
    default_kind: Kind,
    scope: str,
    sources: Sequence[int],
    files: Sequence[str],
    dedupe_threshold: float,
    tree: anchors.Tree | None = None,
    hold: bool = False,
) -> list[StoredItem]:
    """Consolidate gated drafts into the bank; one transaction per item so each is all-or-nothing.
    With the working `tree` the work happened in, each item keeps its anchors (`loop.anchors`);
    the items a draft `supersedes` become superseded by it in the same transaction. With `hold`
    (RB_MCP_REVIEW=required) a new item waits out of recall for a person's approval, and a merge
    never rewrites the wording a person approved: the newcomer's goes to the item's history."""
    if not drafts:
        return []
    vecs = embedder.embed([item_text(d.title, d.description, d.content) for d in drafts])
    stored: list[StoredItem] = []
    for draft, vec in zip(drafts, vecs):
        kind: Kind = draft.kind or default_kind
        digest = content_hash(draft.title, draft.description, draft.content)
        found = anchors.anchors_for(tree, (draft.title, draft.description, draft.content), files)
        with store.transaction() as tx:
            # Two writers storing the same new lesson must not both miss the other's copy.
            store.lock_scope(tx, scope)
            twin = store.active_twin(tx, digest, scope)
            near = (twin, 1.0) if twin is not None else _nearest(store, vec, scope)
            if near and near[0] in draft.supersedes:
                near = None  # a correction never strengthens the lesson it says is wrong
            if near and near[1] >= dedupe_threshold:
                _merge(store, tx, near[0], draft, vec, digest, sources, files, tree, rewrite=not hold)
                gone = upkeep.supersede(store, tx, draft.supersedes, near[0], draft.title, now())
                stored.append(
                    StoredItem(id=near[0], title=draft.title, action="merged", similarity=round(near[1], 4),
                               superseded=gone)
                )  # fmt: skip
                continue
            item_id = store.insert_item(
                tx,
                title=draft.title,
                description=draft.description,
                content=draft.content,
                kind=kind,
                scope=scope,
                trajectory_id=sources[0] if sources else None,
                files=list(files)[:50],
                tags=draft.tags,
                vec=vec,
                digest=digest,
                stamp=now(),
                anchors=found.model_dump_json() if found else "{}",
            )
            store.link_sources(tx, item_id, sources)
            if hold:
                store.hold_item(tx, item_id)
            store.index_item(tx, item_id)
            gone = upkeep.supersede(store, tx, draft.supersedes, item_id, draft.title, now())
            stored.append(StoredItem(id=item_id, title=draft.title, action="added", superseded=gone))
    return stored


def _merge(
    store: Store,
    tx: Tx,
    item_id: int,
    draft: ItemDraft,
    vec: np.ndarray,
    digest: str,
    sources: Sequence[int],
    files: Sequence[str],
    tree: anchors.Tree | None = None,
    rewrite: bool = True,
) -> None:
    store.lock_items(tx, [item_id])
    old = store.items_by_id([item_id], tx)[item_id]
    stamp = now()
    merged_files = list(dict.fromkeys(old.files + list(files)))[:50]
    merged_tags = list(dict.fromkeys(old.tags + draft.tags))[:12]
    old_digest = content_hash(old.title, old.description, old.content)
    says_more = rewrite and len(draft.content) > len(old.content) * 1.15 and digest != old_digest
    if says_more:
        store.add_history(
            tx, item_id, old.title, old.description, old.content, "replaced by a fuller merge", stamp
        )
        store.rewrite_item(tx, item_id, draft.title, draft.description, draft.content, vec, digest)
    elif digest != old_digest:
        store.add_history(tx, item_id, draft.title, draft.description, draft.content, "merged variant", stamp)
    store.strengthen_item(tx, item_id, 1, stamp, files=merged_files, tags=merged_tags)
    if tree is not None:  # re-learned in a tree: its anchors are those of the merged text now
        text = (
            (draft.title, draft.description, draft.content)
            if says_more
            else (old.title, old.description, old.content)
        )
        fresh = anchors.merged(tree, old.anchors, text, merged_files)
        if fresh is not None and fresh != old.anchors:
            store.set_item_anchors(tx, item_id, fresh.model_dump_json())
    store.link_sources(tx, item_id, sources)
    store.index_item(tx, item_id)


def credit(store: Store, recall_id: int | None, outcome: str) -> list[int]:
    """Helped / harmed counts for the items a recall returned, once per recall."""
    if recall_id is None:
        return []
    with store.transaction() as tx:
        # Claim the event first: of two writers crediting one recall at once, exactly one updates it.
        if not store.claim_recall(tx, recall_id, outcome, now()):
            return []
        if outcome not in ("success", "failure"):
            return []
        ids = store.recall_hit_ids(tx, recall_id)
        if ids:
            store.lock_items(tx, ids)
            store.credit_items(tx, ids, helped=outcome == "success")
            if outcome == "failure":
                upkeep.retire_harmful(store, tx, ids)
        return ids


def forget(store: Store, item_id: int, hard: bool = True) -> bool:
    """Remove an item (row, vector, FTS row, history) or archive it; False when it does not exist."""
    with store.transaction() as tx:
        if not store.items_by_id([item_id], tx):
            return False
        store.lock_items(tx, [item_id])
        store.unindex_item(tx, item_id)
        if hard:
            store.delete_item(tx, item_id)
        else:
            store.archive_item(tx, item_id, now())
    return True


def set_scope(store: Store, item_id: int, scope: str) -> bool:
    with store.transaction() as tx:
        if not store.set_item_scope(tx, item_id, scope, now()):
            return False
        store.index_item(tx, item_id)
    return True


def history(store: Store, item_id: int) -> list[dict[str, str]]:
    return store.item_history(item_id)
