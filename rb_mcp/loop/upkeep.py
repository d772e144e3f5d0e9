"""Forgetting that is never loss: memory that stays true without a person having to keep it so.

An item leaves recall, with the reason written into its history, when

- its anchors stayed broken over `STALE_RECALLS` recalls in a row (the code it names is gone),
- it harmed more often than it helped over at least `MIN_VERDICTS` verdicts,
- its text reads as instructions to the model (stored before the gate knew to refuse it),
- it expired: `expire_days` (RB_MCP_EXPIRE_DAYS) passed since it was stored or last changed, and
  in that time no recall returned it, or it never helped although tasks it was recalled for
  were judged (maintenance: `rb-mcp maintain`, which the server also runs at most once a day),
- a newer item names it in `supersedes`: the agent found it wrong (it becomes superseded).

Nothing here deletes: archived and superseded items stay in the bank, are listed with
`rb-mcp list --status archived` and come back with `rb-mcp restore ID` (`Bank.restore`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import timedelta

from rb_mcp import clock, visibility
from rb_mcp.errors import InputError, StoreError
from rb_mcp.models import ItemDraft, MaintenanceReport, Retired
from rb_mcp.store import Store
from rb_mcp.store.protocol import Tx

log = logging.getLogger(__name__)

STALE_RECALLS = 3
MIN_VERDICTS = 4
EVERY = timedelta(days=1)  # the server's lazy maintenance runs at most this often
LAST_RUN = "maintained_at"  # meta key: when maintenance last ran on this bank
MAX_REASON = 200  # item_history.reason, as exports validate it


def archive(
    store: Store, tx: Tx, item_id: int, reason: str, stamp: str, *, only_if: str | None = None
) -> bool:
    """Archive an active item inside `tx`, keeping its text and `reason` in its history; False
    when it is not active any more (or changed since `only_if`, its updated_at when it was judged)."""
    store.lock_items(tx, [item_id])
    item = store.items_by_id([item_id], tx).get(item_id)
    if item is None or item.status != "active" or (only_if is not None and item.updated_at != only_if):
        return False
    store.add_history(tx, item_id, item.title, item.description, item.content, reason[:MAX_REASON], stamp)
    store.archive_item(tx, item_id, stamp)
    store.unindex_item(tx, item_id)
    return True


# ---- at recall: anchors that stay broken -------------------------------------------------------
def note_checks(
    store: Store, checks: Iterable[tuple[int, bool | None, int, str | None]], poisoned: dict[int, str]
) -> list[int]:
    """After a logged recall: count each returned item whose anchors broke, clear the count of one
    whose anchors hold again, archive those broken `STALE_RECALLS` times in a row and those whose
    text reads as instructions. Writes only when something changed; the ids archived."""
    counts: dict[int, int] = {}
    retire: dict[int, str] = {}
    for item_id, verified, stale, reason in checks:
        if verified is False:
            counts[item_id] = stale + 1
            if stale + 1 >= STALE_RECALLS:
                retire[item_id] = (
                    f"archived: its anchors stayed broken in {stale + 1} recalls in a row ({reason})"
                )
        elif verified is True and stale:
            counts[item_id] = 0
    retire.update(
        {i: f"archived: its text reads as instructions to the model ({why})" for i, why in poisoned.items()}
    )
    if not counts and not retire:
        return []
    stamp = clock.now()
    try:
        with store.transaction() as tx:
            store.set_stale_counts(tx, counts)
            return [i for i, reason in retire.items() if archive(store, tx, i, reason, stamp)]
    except StoreError as exc:  # a read-only or full bank still answers recalls
        log.warning("recall checks not recorded: %s", exc)
        return []


# ---- at credit: items that harm --------------------------------------------------------------
def harms(helped: int, harmed: int) -> bool:
    return helped + harmed >= MIN_VERDICTS and harmed > helped


def harm_reason(helped: int, harmed: int) -> str:
    return f"archived: it harmed more often than it helped (harmed {harmed}, helped {helped} over {helped + harmed} verdicts)"


def retire_harmful(store: Store, tx: Tx, ids: Sequence[int]) -> list[int]:
    """Inside the credit transaction: archive the credited items that now harm more than they help."""
    stamp = clock.now()
    found = store.items_by_id(ids, tx)
    return [
        i for i, item in found.items()
        if item.status == "active" and harms(item.helped, item.harmed)
        and archive(store, tx, i, harm_reason(item.helped, item.harmed), stamp)
    ]  # fmt: skip


# ---- maintenance -------------------------------------------------------------------------------
def _why(row: tuple, idle_before: str, days: int) -> str | None:
    _, _, _, updated, helped, harmed, _, last = row
    if harms(helped, harmed):
        return harm_reason(helped, harmed)
    if not days or updated >= idle_before:
        return None
    if last is None or last < idle_before:
        when = "never recalled" if last is None else f"last recalled {last[:10]}"
        return f"archived: expired, not recalled for {days} days ({when}; RB_MCP_EXPIRE_DAYS)"
    if helped == 0 and harmed > 0:
        return f"archived: expired, never helped in {days} days (harmed {harmed}; RB_MCP_EXPIRE_DAYS)"
    return None


def maintain(store: Store, expire_days: int, dry_run: bool = False) -> MaintenanceReport:
    """One pass over the bank's active items: archive the expired and the harmful ones (or, with
    `dry_run`, only list them). Bank-wide housekeeping: it does not filter by caller."""
    moment = clock.current()
    ran_at = clock.stamp(moment)
    idle_before = clock.stamp(moment - timedelta(days=expire_days)) if expire_days else ""
    with store.snapshot() as db:
        rows = store.upkeep_rows(db, idle_before, MIN_VERDICTS)
    report = MaintenanceReport(dry_run=dry_run, ran_at=ran_at, expire_days=expire_days, checked=len(rows))
    for row in rows:
        reason = _why(row, idle_before, expire_days)
        if reason is None:
            continue
        if not dry_run:
            with store.transaction() as tx:
                if not archive(store, tx, row[0], reason, ran_at, only_if=row[3]):
                    continue  # used or changed since the snapshot
        report.archived.append(Retired(id=row[0], title=row[1], scope=row[2], reason=reason))
    if not dry_run:
        with store.transaction() as tx:
            store.set_meta(tx, LAST_RUN, ran_at)
    return report


def due(store: Store) -> bool:
    """Whether a day has passed since maintenance last ran on this bank. Only reads: maintenance
    then reads the items before it writes anything, so a damaged bank is never written to. Two
    servers may both run it once in a while; each archive re-checks the item first."""
    last = store.get_meta(LAST_RUN)
    return last is None or clock.parse(last) <= clock.current() - EVERY


# ---- by hand: restore ------------------------------------------------------------------------
def restore(store: Store, ids: Sequence[int]) -> list[int]:
    """Bring archived or superseded items back into recall; the ids that named no such item the
    caller may see (an active item is not restorable)."""
    missing: list[int] = []
    for item_id in ids:
        stamp = clock.now()
        with store.transaction() as tx:
            store.lock_items(tx, [item_id])
            item = store.items_by_id([item_id], tx).get(item_id)
            if item is None or item.status == "active" or not visibility.visible([item.scope])[0]:
                missing.append(item_id)
                continue
            reason = f"restored by hand (it was {item.status})"
            store.add_history(tx, item_id, item.title, item.description, item.content, reason, stamp)
            store.restore_item(tx, item_id, stamp)
            store.index_item(tx, item_id)
    return missing


# ---- supersede: the agent found a lesson wrong ---------------------------------------------------
def supersede_problems(store: Store, drafts: Sequence[ItemDraft]) -> list[str]:
    """What is wrong with the drafts' `supersedes` ids: each must name an item the caller may see."""
    wanted = sorted({i for d in drafts for i in d.supersedes})
    if not wanted:
        return []
    found = store.items_by_id(wanted)
    seen = visibility.visible([found[i].scope if i in found else None for i in wanted])
    bad = [i for i, ok in zip(wanted, seen) if i not in found or not ok]
    if not bad:
        return []
    return [
        f"supersedes names {', '.join(f'#{i}' for i in bad)}, which is no memory item you can see; name only "
        "ids of items recall_strategies returned to you (shown as [#id] in its guidance)"
    ]


def check_supersedes(store: Store, drafts: Sequence[ItemDraft]) -> None:
    """Refuse drafts whose `supersedes` names an unknown or foreign item, before anything is written."""
    problems = supersede_problems(store, drafts)
    if problems:
        raise InputError(problems[0])


def supersede(store: Store, tx: Tx, gone: Sequence[int], by: int, title: str, stamp: str) -> list[int]:
    """Inside the transaction that stored item `by`: the items in `gone` are superseded by it (they
    leave recall, point to it, keep their text in history); the ids that changed."""
    done: list[int] = []
    ids = [i for i in dict.fromkeys(gone) if i != by]
    if not ids:
        return done
    store.lock_items(tx, ids)
    found = store.items_by_id(ids, tx)
    for item_id in ids:
        item = found.get(item_id)
        if item is None:
            continue
        reason = f"superseded by #{by} ({title[:120]}): a later task found it wrong"
        store.add_history(tx, item_id, item.title, item.description, item.content, reason[:MAX_REASON], stamp)
        store.supersede_item(tx, item_id, by, stamp)
        store.index_item(tx, item_id)
        done.append(item_id)
    return done
