"""Memory items in the bank: gate, redact, consolidate (merge near-duplicates), credit, forget.

The paper appends every distilled item; we consolidate instead. A new item whose embedding is at
least `dedupe_threshold` cosine from an active item in the same scope (or has the same text)
strengthens that item rather than adding a twin. When the newcomer says more, it replaces the
text and the old wording moves to `item_history`; otherwise the newcomer's wording is kept there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from rb_mcp.clock import now
from rb_mcp.embed import Embedder
from rb_mcp.loop.gate import item_problems
from rb_mcp.models import ItemDraft, Kind, MemoryItem, RejectedItem, StoredItem
from rb_mcp.redact import redact
from rb_mcp.store import Store, from_blob, to_blob
from rb_mcp.store.common import ID_FLOOR

ITEM_COLUMNS = (
    "id, title, description, content, kind, scope, trajectory_id, files, tags, created_at, updated_at, "
    "recall_count, helped, harmed, strength, status, superseded_by"
)


def row_to_item(row: Sequence[Any]) -> MemoryItem:
    keys = [c.strip() for c in ITEM_COLUMNS.split(",")]
    data = dict(zip(keys, row))
    data["files"] = json.loads(data["files"])
    data["tags"] = json.loads(data["tags"])
    return MemoryItem(**data)


def item_text(title: str, description: str, content: str) -> str:
    return f"{title}\n{description}\n{content}"


def content_hash(title: str, description: str, content: str) -> str:
    norm = " ".join(item_text(title, description, content).lower().split())
    return hashlib.sha256(norm.encode()).hexdigest()


def get_items(store: Store, ids: Sequence[int]) -> dict[int, MemoryItem]:
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = store.query(f"select {ITEM_COLUMNS} from items where id in ({marks})", tuple(ids))
    return {row[0]: row_to_item(row) for row in rows}


def recalled_texts(store: Store, recall_id: int | None) -> list[str]:
    if recall_id is None:
        return []
    rows = store.query(
        "select i.title, i.description, i.content from recall_hits h join items i on i.id = h.item_id "
        "where h.recall_id = ?",
        (recall_id,),
    )
    return [item_text(*row) for row in rows]


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
        if store.one("select 1 from items where id = ? and status = 'active'", (item_id,)):
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
) -> list[StoredItem]:
    """Consolidate gated drafts into the bank; one transaction per item so each is all-or-nothing."""
    if not drafts:
        return []
    vecs = embedder.embed([item_text(d.title, d.description, d.content) for d in drafts])
    stored: list[StoredItem] = []
    for draft, vec in zip(drafts, vecs):
        kind: Kind = draft.kind or default_kind
        digest = content_hash(draft.title, draft.description, draft.content)
        with store.transaction() as db:
            # Two writers storing the same new lesson must not both miss the other's copy.
            store.lock_scope(db, scope)
            twin = db.execute(
                "select id from items where content_hash = ? and scope = ? and status = 'active'",
                (digest, scope),
            ).fetchone()
            near = (twin[0], 1.0) if twin else _nearest(store, vec, scope)
            if near and near[1] >= dedupe_threshold:
                _merge(store, db, near[0], draft, vec, digest, sources, files)
                stored.append(
                    StoredItem(id=near[0], title=draft.title, action="merged", similarity=round(near[1], 4))
                )
                continue
            stamp = now()
            cur = db.execute(
                "insert into items (id, title, description, content, kind, scope, trajectory_id, files, tags, "
                "embedding, content_hash, created_at, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    store.next_item_id(db),
                    draft.title,
                    draft.description,
                    draft.content,
                    kind,
                    scope,
                    sources[0] if sources else None,
                    json.dumps(list(files)[:50]),
                    json.dumps(draft.tags),
                    to_blob(vec),
                    digest,
                    stamp,
                    stamp,
                ),
            )
            item_id = int(cur.lastrowid)
            _link(db, item_id, sources)
            store.index_item(db, item_id)
            stored.append(StoredItem(id=item_id, title=draft.title, action="added"))
    return stored


def _link(db: Any, item_id: int, sources: Sequence[int]) -> None:
    for trajectory_id in sources:
        db.execute(
            "insert or ignore into item_sources (item_id, trajectory_id) values (?, ?)",
            (item_id, trajectory_id),
        )


def _merge(
    store: Store,
    db: Any,
    item_id: int,
    draft: ItemDraft,
    vec: np.ndarray,
    digest: str,
    sources: Sequence[int],
    files: Sequence[str],
) -> None:
    store.lock_items(db, [item_id])
    row = db.execute(
        "select title, description, content, files, tags from items where id = ?", (item_id,)
    ).fetchone()
    title, description, content, old_files, old_tags = row
    stamp = now()
    merged_files = list(dict.fromkeys(json.loads(old_files) + list(files)))[:50]
    merged_tags = list(dict.fromkeys(json.loads(old_tags) + draft.tags))[:12]
    says_more = len(draft.content) > len(content) * 1.15 and digest != content_hash(
        title, description, content
    )
    if says_more:
        db.execute(
            "insert into item_history (item_id, title, description, content, reason, changed_at) "
            "values (?, ?, ?, ?, 'replaced by a fuller merge', ?)",
            (item_id, title, description, content, stamp),
        )
        db.execute(
            "update items set title = ?, description = ?, content = ?, embedding = ?, content_hash = ? where id = ?",
            (draft.title, draft.description, draft.content, to_blob(vec), digest, item_id),
        )
    elif digest != content_hash(title, description, content):
        db.execute(
            "insert into item_history (item_id, title, description, content, reason, changed_at) "
            "values (?, ?, ?, ?, 'merged variant', ?)",
            (item_id, draft.title, draft.description, draft.content, stamp),
        )
    db.execute(
        "update items set strength = strength + 1, files = ?, tags = ?, updated_at = ? where id = ?",
        (json.dumps(merged_files), json.dumps(merged_tags), stamp, item_id),
    )
    _link(db, item_id, sources)
    store.index_item(db, item_id)


def credit(store: Store, recall_id: int | None, outcome: str) -> list[int]:
    """Helped / harmed counts for the items a recall returned, once per recall."""
    if recall_id is None:
        return []
    with store.transaction() as db:
        # Claim the event first: of two writers crediting one recall at once, exactly one updates it.
        claimed = db.execute(
            "update recall_events set credited_at = ?, credited_outcome = ? where id = ? and credited_at is null",
            (now(), outcome, recall_id),
        ).rowcount
        if not claimed:
            return []
        ids = [r[0] for r in db.execute("select item_id from recall_hits where recall_id = ?", (recall_id,))]
        column = {"success": "helped", "failure": "harmed"}.get(outcome)
        if column and ids:
            store.lock_items(db, ids)
            marks = ",".join("?" * len(ids))
            db.execute(f"update items set {column} = {column} + 1 where id in ({marks})", ids)
        return ids if column else []


def forget(store: Store, item_id: int, hard: bool = True) -> bool:
    """Remove an item (row, vector, FTS row, history) or archive it; False when it does not exist."""
    with store.transaction() as db:
        if db.execute("select 1 from items where id = ?", (item_id,)).fetchone() is None:
            return False
        store.lock_items(db, [item_id])
        store.unindex_item(db, item_id)
        if hard:
            db.execute("update items set superseded_by = null where superseded_by = ?", (item_id,))
            db.execute("delete from items where id = ?", (item_id,))
            db.execute(
                "insert into meta values (?, ?) on conflict (key) do update "
                "set value = case when cast(meta.value as integer) > cast(excluded.value as integer) "
                "then meta.value else excluded.value end",
                (ID_FLOOR, str(item_id)),
            )
        else:
            db.execute("update items set status = 'archived', updated_at = ? where id = ?", (now(), item_id))
    return True


def set_scope(store: Store, item_id: int, scope: str) -> bool:
    with store.transaction() as db:
        cur = db.execute("update items set scope = ?, updated_at = ? where id = ?", (scope, now(), item_id))
        if cur.rowcount == 0:
            return False
        store.index_item(db, item_id)
    return True


def history(store: Store, item_id: int) -> list[dict[str, str]]:
    rows = store.query(
        "select title, description, content, reason, changed_at from item_history where item_id = ? order by id",
        (item_id,),
    )
    keys = ("title", "description", "content", "reason", "changed_at")
    return [dict(zip(keys, r)) for r in rows]


def embeddings_of(store: Store, ids: Sequence[int]) -> dict[int, np.ndarray]:
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = store.query(f"select id, embedding from items where id in ({marks})", tuple(ids))
    return {r[0]: v for r in rows if (v := from_blob(r[1])) is not None}
