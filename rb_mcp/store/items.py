"""The SQL of memory items, their history, sources, credit counters and consolidation decisions.

Shared by both backends: the statements are written with `?` placeholders, which
`rb_mcp.store.pgsql.PgConn` translates for PostgreSQL. A method that takes `db` runs inside the
caller's `transaction()`; the others read on their own (a read given `db=` reads inside it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from rb_mcp.models import MemoryItem
from rb_mcp.store.common import ID_FLOOR, from_blob, to_blob

ITEM_COLUMNS = (
    "id, title, description, content, kind, scope, trajectory_id, files, tags, created_at, updated_at, "
    "recall_count, helped, harmed, strength, status, superseded_by, anchors, stale_count"
)
_ITEM_KEYS = [c.strip() for c in ITEM_COLUMNS.split(",")]
_HISTORY_KEYS = ("title", "description", "content", "reason", "changed_at")


def row_to_item(row: Sequence[Any]) -> MemoryItem:
    """A row of `select {ITEM_COLUMNS} from items` as a `MemoryItem` (files and tags are JSON)."""
    data = dict(zip(_ITEM_KEYS, row))
    data["files"] = json.loads(data["files"])
    data["tags"] = json.loads(data["tags"])
    anchors = json.loads(data["anchors"] or "{}")
    data["anchors"] = anchors or None
    return MemoryItem(**data)


def _marks(ids: Sequence[Any]) -> str:
    return ",".join("?" * len(ids))


class ItemRows:
    """Mixed into `SqliteStore` and `PgStore`, whose `query`, `one` and `transaction` it uses."""

    def _item_select(self, db: Any, sql: str, params: Sequence[Any]) -> list[Any]:
        return self.query(sql, params) if db is None else db.execute(sql, params).fetchall()

    # ---- reading items ---------------------------------------------------------------------
    def items_by_id(self, ids: Sequence[int], db: Any = None) -> dict[int, MemoryItem]:
        """The items with these ids, whatever their status; ids not in the bank are left out."""
        if not ids:
            return {}
        rows = self._item_select(
            db, f"select {ITEM_COLUMNS} from items where id in ({_marks(ids)})", tuple(ids)
        )
        return {row[0]: row_to_item(row) for row in rows}

    def all_active(self, ids: Sequence[int], db: Any = None) -> bool:
        """True when every one of these (distinct) items exists and is active."""
        rows = self._item_select(
            db, f"select count(*) from items where id in ({_marks(ids)}) and status = 'active'", tuple(ids)
        )
        return rows[0][0] == len(ids)

    def active_item_ids(self) -> list[int]:
        """Every active item, newest first."""
        return [r[0] for r in self.query("select id from items where status = 'active' order by id desc")]

    def active_item_vector(self, item_id: int) -> tuple[str, np.ndarray] | None:
        """(scope, embedding) of an active item; None when it is not active or has no embedding."""
        rows = self.query("select scope, embedding from items where id = ? and status = 'active'", (item_id,))
        if not rows or rows[0][1] is None:
            return None
        return rows[0][0], from_blob(rows[0][1])

    def active_twin(self, db: Any, digest: str, scope: str) -> int | None:
        """The active item in `scope` whose text has this `content_hash`, if any."""
        row = db.execute(
            "select id from items where content_hash = ? and scope = ? and status = 'active'",
            (digest, scope),
        ).fetchone()
        return row[0] if row else None

    def recalled_texts(self, recall_id: int | None) -> list[tuple[str, str, str]]:
        """(title, description, content) of each item the recall `recall_id` returned."""
        if recall_id is None:
            return []
        return self.query(
            "select i.title, i.description, i.content from recall_hits h join items i on i.id = h.item_id "
            "where h.recall_id = ?",
            (recall_id,),
        )

    def recalled_titles(self, recall_id: int | None) -> list[tuple[int, str]]:
        """(id, title) of each item the recall `recall_id` returned, in rank order."""
        if recall_id is None:
            return []
        return [
            (r[0], r[1])
            for r in self.query(
                "select i.id, i.title from recall_hits h join items i on i.id = h.item_id "
                "where h.recall_id = ? order by h.rank",
                (recall_id,),
            )
        ]

    def item_history(self, item_id: int) -> list[dict[str, str]]:
        """The earlier and merged wordings of an item, oldest first, with why each was kept."""
        rows = self.query(
            "select title, description, content, reason, changed_at from item_history where item_id = ? order by id",
            (item_id,),
        )
        return [dict(zip(_HISTORY_KEYS, r)) for r in rows]

    # ---- writing items ---------------------------------------------------------------------
    def insert_item(
        self,
        db: Any,
        *,
        title: str,
        description: str,
        content: str,
        kind: str,
        scope: str,
        trajectory_id: int | None,
        files: Sequence[str],
        tags: Sequence[str],
        vec: np.ndarray,
        digest: str,
        stamp: str,
        anchors: str = "{}",
    ) -> int:
        """A new active item with the next free id (never a forgotten one); returns the id. `anchors`
        is the JSON of what it pointed at (`models.Anchors`), '{}' for nothing."""
        cur = db.execute(
            "insert into items (id, title, description, content, kind, scope, trajectory_id, files, tags, "
            "embedding, content_hash, created_at, updated_at, anchors) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.next_item_id(db),
                title,
                description,
                content,
                kind,
                scope,
                trajectory_id,
                json.dumps(list(files)),
                json.dumps(list(tags)),
                to_blob(vec),
                digest,
                stamp,
                stamp,
                anchors,
            ),
        )
        return int(cur.lastrowid)

    def link_sources(self, db: Any, item_id: int, trajectory_ids: Sequence[int]) -> None:
        """Record that these trajectories taught the item (a link already there is kept)."""
        for trajectory_id in trajectory_ids:
            db.execute(
                "insert or ignore into item_sources (item_id, trajectory_id) values (?, ?)",
                (item_id, trajectory_id),
            )

    def rewrite_item(
        self, db: Any, item_id: int, title: str, description: str, content: str, vec: np.ndarray, digest: str
    ) -> None:
        """New wording for an item, with its embedding and content hash (keep the old in history first)."""
        db.execute(
            "update items set title = ?, description = ?, content = ?, embedding = ?, content_hash = ? where id = ?",
            (title, description, content, to_blob(vec), digest, item_id),
        )

    def strengthen_item(
        self,
        db: Any,
        item_id: int,
        by: int,
        stamp: str,
        files: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
    ) -> None:
        """Add `by` to the item's strength and touch it; its files and tags are replaced when given."""
        db.execute(
            "update items set strength = strength + ?, files = coalesce(?, files), tags = coalesce(?, tags), "
            "updated_at = ? where id = ?",
            (
                by,
                None if files is None else json.dumps(list(files)),
                None if tags is None else json.dumps(list(tags)),
                stamp,
                item_id,
            ),
        )

    def add_history(
        self, db: Any, item_id: int, title: str, description: str, content: str, reason: str, changed_at: str
    ) -> None:
        """Keep a wording of the item (its old text, or a variant merged into it) and why."""
        db.execute(
            "insert into item_history (item_id, title, description, content, reason, changed_at) "
            "values (?, ?, ?, ?, ?, ?)",
            (item_id, title, description, content, reason, changed_at),
        )

    def supersede_item(self, db: Any, gone: int, keep: int, stamp: str) -> None:
        """`gone` is superseded by `keep`, which inherits its sources (re-index both afterwards)."""
        db.execute(
            "update items set status = 'superseded', superseded_by = ?, updated_at = ? where id = ?",
            (keep, stamp, gone),
        )
        db.execute(
            "insert or ignore into item_sources (item_id, trajectory_id, relation) "
            "select ?, trajectory_id, relation from item_sources where item_id = ?",
            (keep, gone),
        )

    def set_item_scope(self, db: Any, item_id: int, scope: str, stamp: str) -> bool:
        """Move an item to another scope; False when there is no such item."""
        cur = db.execute("update items set scope = ?, updated_at = ? where id = ?", (scope, stamp, item_id))
        return cur.rowcount != 0

    def archive_item(self, db: Any, item_id: int, stamp: str) -> None:
        """Keep the item's row but never recall it again."""
        db.execute("update items set status = 'archived', updated_at = ? where id = ?", (stamp, item_id))

    def delete_item(self, db: Any, item_id: int) -> None:
        """Delete the item's row (its history and sources go with it) and raise the id floor past
        it, so its id is never handed out again (`common.ID_FLOOR`); unindex it first."""
        db.execute("update items set superseded_by = null where superseded_by = ?", (item_id,))
        db.execute("delete from items where id = ?", (item_id,))
        db.execute(
            "insert into meta values (?, ?) on conflict (key) do update "
            "set value = case when cast(meta.value as integer) > cast(excluded.value as integer) "
            "then meta.value else excluded.value end",
            (ID_FLOOR, str(item_id)),
        )

    # ---- credit ----------------------------------------------------------------------------
    def claim_recall(self, db: Any, recall_id: int, outcome: str, stamp: str) -> bool:
        """Mark the recall credited with `outcome`; False when it already was (or does not exist),
        so of two writers crediting one recall at once exactly one goes on."""
        cur = db.execute(
            "update recall_events set credited_at = ?, credited_outcome = ? where id = ? and credited_at is null",
            (stamp, outcome, recall_id),
        )
        return bool(cur.rowcount)

    def recall_hit_ids(self, db: Any, recall_id: int) -> list[int]:
        """The items the recall returned."""
        return [r[0] for r in db.execute("select item_id from recall_hits where recall_id = ?", (recall_id,))]

    def credit_items(self, db: Any, ids: Sequence[int], helped: bool) -> None:
        """One more `helped` (or `harmed`) for each of these items."""
        column = "helped" if helped else "harmed"
        db.execute(f"update items set {column} = {column} + 1 where id in ({_marks(ids)})", list(ids))

    # ---- anchors, staleness, upkeep (rb_mcp.loop.upkeep) -----------------------------------
    def item_anchors(self, ids: Sequence[int]) -> dict[int, tuple[str, int]]:
        """(anchors JSON, stale_count) of these items, for those that have anchors."""
        if not ids:
            return {}
        rows = self.query(
            f"select id, anchors, stale_count from items where id in ({_marks(ids)}) and anchors != '{{}}'",
            tuple(ids),
        )
        return {r[0]: (r[1], r[2]) for r in rows}

    def set_item_anchors(self, db: Any, item_id: int, anchors: str) -> None:
        """Replace the item's anchors (JSON) and clear its count of broken-anchor recalls."""
        db.execute("update items set anchors = ?, stale_count = 0 where id = ?", (anchors, item_id))

    def set_stale_counts(self, db: Any, counts: dict[int, int]) -> None:
        """Set each item's count of recalls in a row that found its anchors broken (0 once they hold)."""
        for item_id, count in counts.items():
            db.execute("update items set stale_count = ? where id = ?", (count, item_id))

    def upkeep_rows(
        self, db: Any, idle_before: str, min_verdicts: int
    ) -> list[tuple[int, str, str, str, int, int, int, str | None]]:
        """Active items maintenance should look at, read in `db` (a snapshot): those untouched since
        `idle_before` and those with `min_verdicts` verdicts, more harmed than helped. Each as (id,
        title, scope, updated_at, helped, harmed, stale_count, when a recall last returned it)."""
        return db.execute(
            "select i.id, i.title, i.scope, i.updated_at, i.helped, i.harmed, i.stale_count, r.last "
            "from items i left join (select h.item_id, max(e.created_at) as last from recall_hits h "
            "join recall_events e on e.id = h.recall_id group by h.item_id) r on r.item_id = i.id "
            "where i.status = 'active' and (i.updated_at < ? or (i.harmed > i.helped and i.helped + i.harmed >= ?)) "
            "order by i.id",
            (idle_before, min_verdicts),
        ).fetchall()

    def restore_item(self, db: Any, item_id: int, stamp: str) -> bool:
        """Make an archived or superseded item active again (re-index it afterwards); False when it
        is not archived or superseded."""
        cur = db.execute(
            "update items set status = 'active', superseded_by = null, stale_count = 0, updated_at = ? "
            "where id = ? and status != 'active'",
            (stamp, item_id),
        )
        return cur.rowcount != 0
