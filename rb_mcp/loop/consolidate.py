"""Consolidation by the server-side model: for a new item and its nearest neighbour in the gray zone
(cosine from RB_MCP_LLM_MERGE_FLOOR up to the dedupe threshold, where embeddings alone cannot
tell one lesson from two), the model decides merge, replace or keep both.

Above the threshold `items.store_items` merges on its own; below the floor the items are simply
different. A "keep both" answer is remembered in the `meta` table (key `llm_keep_both:<a>:<b>`),
so the same pair is never asked again, not even by a full sweep (`rb-mcp distill --consolidate`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from rb_mcp import prompts
from rb_mcp.clock import now
from rb_mcp.llm import LLM, LLMError, MergeAnswer, ask_json
from rb_mcp.loop import items as item_ops
from rb_mcp.models import ItemDraft, StoredItem
from rb_mcp.store.protocol import Tx

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
    found = bank.store.active_item_vector(item_id)
    if found is None:
        return None
    scope, vec = found
    for other, similarity in bank.store.knn("item_vec", vec, [scope], 6):
        if other == item_id or similarity >= ceiling:
            continue
        if similarity < floor:
            return None
        if bank.store.all_active([other]) and bank.store.get_meta(_pair_key(item_id, other)) is None:
            return other, similarity
    return None


def settle(bank: Bank, item_id: int, llm: LLM) -> StoredItem | None:
    """Ask the model about one item and its gray-zone neighbour; apply merge / replace / keep both.
    Returns the StoredItem describing the new item's fate, or None when nothing changed."""
    found = gray_neighbour(bank, item_id)
    if found is None:
        return None
    other, similarity = found
    texts = {
        i: (i, m.title, m.description, m.content) for i, m in bank.store.items_by_id([item_id, other]).items()
    }

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


def _supersede(bank: Bank, old: int, new: int) -> bool:
    stamp = now()
    store = bank.store
    with store.transaction() as tx:
        store.lock_items(tx, [old, new])
        # The model took its time: either item may have been forgotten or merged elsewhere meanwhile.
        if not store.all_active([old, new], tx):
            return False
        gone = store.items_by_id([old], tx)[old]
        reason = f"replaced item {old} (model decision)"
        store.add_history(tx, new, gone.title, gone.description, gone.content, reason, stamp)
        store.strengthen_item(tx, new, gone.strength, stamp)
        _retire(bank, tx, old, new, stamp)
    return True


def _merge_into(bank: Bank, keep: int, gone: int, merged: ItemDraft) -> bool:
    bank.ready_vectors()
    vec = bank.embedder.embed([item_ops.item_text(merged.title, merged.description, merged.content)])[0]
    digest = item_ops.content_hash(merged.title, merged.description, merged.content)
    stamp = now()
    store = bank.store
    with store.transaction() as tx:
        store.lock_items(tx, [keep, gone])
        if not store.all_active([keep, gone], tx):
            return False
        found = store.items_by_id([keep, gone], tx)
        kept, lost = found[keep], found[gone]
        reason = f"merged with item {gone} by the model"
        store.add_history(tx, keep, kept.title, kept.description, kept.content, reason, stamp)
        reason = "merged variant (model decision)"
        store.add_history(tx, keep, lost.title, lost.description, lost.content, reason, stamp)
        store.rewrite_item(tx, keep, merged.title, merged.description, merged.content, vec, digest)
        files = list(dict.fromkeys(kept.files + lost.files))[:50]
        tags = list(dict.fromkeys(kept.tags + lost.tags))[:12]
        store.strengthen_item(tx, keep, lost.strength, stamp, files=files, tags=tags)
        _retire(bank, tx, gone, keep, stamp)
    return True


def _retire(bank: Bank, tx: Tx, gone: int, keep: int, stamp: str) -> None:
    """`gone` is superseded by `keep`, which inherits its sources; both are re-indexed."""
    bank.store.supersede_item(tx, gone, keep, stamp)
    bank.store.index_item(tx, gone)
    bank.store.index_item(tx, keep)


def sweep_pairs(bank: Bank, llm: LLM) -> int:
    """Offer every undecided gray-zone pair in the bank to the model once; returns how many it merged
    or replaced. 'keep both' answers are remembered, so a later sweep does not ask again."""
    if bank.config.llm_merge_floor >= bank.config.dedupe_threshold:
        return 0
    changed = 0
    for item_id in bank.store.active_item_ids():
        if not bank.store.all_active([item_id]):
            continue
        if settle(bank, item_id, llm) is not None:
            changed += 1
        if getattr(llm, "down", ""):
            break
    return changed
