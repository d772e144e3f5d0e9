"""Consolidation by the server-side model: for a new item and its nearest neighbour in the gray zone
(cosine from RB_MCP_LLM_MERGE_FLOOR up to the dedupe threshold, where embeddings alone cannot
tell one lesson from two), the model decides merge, replace or keep both.

Above the threshold `items.store_items` merges on its own; below the floor the items are simply
different. A "keep both" answer is remembered in the `meta` table (key `llm_keep_both:<a>:<b>`),
so the same pair is never asked again, not even by a full sweep (`rb-mcp distill --consolidate`).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from rb_mcp import prompts
from rb_mcp.clock import now
from rb_mcp.llm import LLM, LLMError, MergeAnswer, ask_json
from rb_mcp.loop import items as item_ops
from rb_mcp.models import ItemDraft, StoredItem
from rb_mcp.store import from_blob, to_blob

if TYPE_CHECKING:
    from rb_mcp.loop.bank import Bank

log = logging.getLogger(__name__)


def _pair_key(a: int, b: int) -> str:
    return f"llm_keep_both:{min(a, b)}:{max(a, b)}"


def new_items(bank: Bank, stored: list[StoredItem], llm: LLM) -> list[StoredItem]:
    """For each newly added item, let the model settle its nearest gray-zone neighbour (cosine from
    RB_MCP_LLM_MERGE_FLOOR up to the dedupe threshold, where embeddings alone cannot tell)."""
    floor, ceiling = bank.config.llm_merge_floor, bank.config.dedupe_threshold
    if floor >= ceiling:
        return stored
    out = []
    for entry in stored:
        if entry.action == "added":
            entry = settle(bank, entry.id, llm) or entry
        out.append(entry)
    return out


def gray_neighbour(bank: Bank, item_id: int) -> tuple[int, float] | None:
    floor, ceiling = bank.config.llm_merge_floor, bank.config.dedupe_threshold
    row = bank.store.one("select scope, embedding from items where id = ? and status = 'active'", (item_id,))
    if row is None or row[1] is None:
        return None
    vec = from_blob(row[1])
    for other, similarity in bank.store.knn("item_vec", vec, [row[0]], 6):
        if other == item_id or similarity >= ceiling:
            continue
        if similarity < floor:
            return None
        active = bank.store.one("select 1 from items where id = ? and status = 'active'", (other,))
        if active and bank.store.get_meta(_pair_key(item_id, other)) is None:
            return other, similarity
    return None


def settle(bank: Bank, item_id: int, llm: LLM) -> StoredItem | None:
    """Ask the model about one item and its gray-zone neighbour; apply merge / replace / keep both.
    Returns the StoredItem describing the new item's fate, or None when nothing changed."""
    found = gray_neighbour(bank, item_id)
    if found is None:
        return None
    other, similarity = found
    texts = {r[0]: tuple(r) for r in bank.store.query(
        "select id, title, description, content from items where id in (?, ?)", (item_id, other))}  # fmt: skip

    def check(answer: MergeAnswer) -> list[str]:
        if answer.decision == "merge" and answer.merged is None:
            return ["decision merge needs the merged item"]
        if answer.decision == "merge" and answer.merged is not None:
            draft = ItemDraft(**answer.merged.model_dump())
            _, rejected = item_ops.gate_drafts([draft], [])
            return [p for r in rejected for p in r.problems]
        return []

    prompt = prompts.llm_merge(texts[other], texts[item_id], similarity)
    try:
        answer, _ = ask_json(
            llm, prompt, MergeAnswer, prompts.MERGE_FORMAT, max_tokens=bank.config.llm_max_tokens, check=check
        )
    except LLMError as exc:
        log.warning("consolidation of items %d and %d skipped: %s", other, item_id, exc)
        return None
    if answer is None:
        return None
    title = texts[item_id][1]
    if answer.decision == "keep_both":
        with bank.store.transaction() as db:
            bank.store.set_meta(db, _pair_key(item_id, other), now())
        return None
    if answer.decision == "replace":
        if not _supersede(bank, old=other, new=item_id):
            return None
        return StoredItem(id=item_id, title=title, action="added", similarity=round(similarity, 4))
    merged = item_ops.gate_drafts([ItemDraft(**answer.merged.model_dump())], [])[0][0]  # type: ignore[union-attr]
    if not _merge_into(bank, keep=other, gone=item_id, merged=merged):
        return None
    return StoredItem(id=other, title=merged.title, action="merged", similarity=round(similarity, 4))


def _both_active(db: Any, a: int, b: int) -> bool:
    # The model took its time: either item may have been forgotten or merged elsewhere meanwhile.
    return (
        db.execute("select count(*) from items where id in (?, ?) and status = 'active'", (a, b)).fetchone()[
            0
        ]
        == 2
    )


def _supersede(bank: Bank, old: int, new: int) -> bool:
    stamp = now()
    with bank.store.transaction() as db:
        bank.store.lock_items(db, [old, new])
        if not _both_active(db, old, new):
            return False
        title, description, content, strength = db.execute(
            "select title, description, content, strength from items where id = ?", (old,)
        ).fetchone()
        db.execute(
            "insert into item_history (item_id, title, description, content, reason, changed_at) "
            "values (?, ?, ?, ?, ?, ?)",
            (new, title, description, content, f"replaced item {old} (model decision)", stamp),
        )
        db.execute(
            "update items set strength = strength + ?, updated_at = ? where id = ?", (strength, stamp, new)
        )
        _retire(bank, db, old, new, stamp)
    return True


def _merge_into(bank: Bank, keep: int, gone: int, merged: ItemDraft) -> bool:
    bank.ready_vectors()
    vec = bank.embedder.embed([item_ops.item_text(merged.title, merged.description, merged.content)])[0]
    digest = item_ops.content_hash(merged.title, merged.description, merged.content)
    stamp = now()
    with bank.store.transaction() as db:
        bank.store.lock_items(db, [keep, gone])
        if not _both_active(db, keep, gone):
            return False
        rows = {r[0]: r[1:] for r in db.execute(
            "select id, title, description, content, files, tags, strength from items where id in (?, ?)", (keep, gone))}  # fmt: skip
        title, description, content, files, tags, _ = rows[keep]
        g_title, g_description, g_content, g_files, g_tags, g_strength = rows[gone]
        history = "insert into item_history (item_id, title, description, content, reason, changed_at) values (?, ?, ?, ?, ?, ?)"
        db.execute(
            history, (keep, title, description, content, f"merged with item {gone} by the model", stamp)
        )
        db.execute(
            history, (keep, g_title, g_description, g_content, "merged variant (model decision)", stamp)
        )
        db.execute(
            "update items set title = ?, description = ?, content = ?, embedding = ?, content_hash = ?, files = ?, "
            "tags = ?, strength = strength + ?, updated_at = ? where id = ?",
            (
                merged.title, merged.description, merged.content, to_blob(vec), digest,
                json.dumps(list(dict.fromkeys(json.loads(files) + json.loads(g_files)))[:50]),
                json.dumps(list(dict.fromkeys(json.loads(tags) + json.loads(g_tags)))[:12]),
                g_strength, stamp, keep,
            ),
        )  # fmt: skip
        _retire(bank, db, gone, keep, stamp)
    return True


def _retire(bank: Bank, db: Any, gone: int, keep: int, stamp: str) -> None:
    """`gone` is superseded by `keep`, which inherits its sources; both are re-indexed."""
    db.execute(
        "update items set status = 'superseded', superseded_by = ?, updated_at = ? where id = ?",
        (keep, stamp, gone),
    )
    db.execute(
        "insert or ignore into item_sources (item_id, trajectory_id, relation) "
        "select ?, trajectory_id, relation from item_sources where item_id = ?",
        (keep, gone),
    )
    bank.store.index_item(db, gone)
    bank.store.index_item(db, keep)


def sweep_pairs(bank: Bank, llm: LLM) -> int:
    """Offer every undecided gray-zone pair in the bank to the model once; returns how many it merged
    or replaced. 'keep both' answers are remembered, so a later sweep does not ask again."""
    if bank.config.llm_merge_floor >= bank.config.dedupe_threshold:
        return 0
    changed = 0
    for (item_id,) in bank.store.query("select id from items where status = 'active' order by id desc"):
        if bank.store.one("select 1 from items where id = ? and status = 'active'", (item_id,)) is None:
            continue
        if settle(bank, item_id, llm) is not None:
            changed += 1
        if getattr(llm, "down", ""):
            break
    return changed
