"""The SQL of the review page (`rb-mcp ui`): browsing and searching items, the review inbox and the
approval that lets a held item into recall, a person's edits and restores, an item's merges and
recalls, and the counts the effect page is drawn from.

Shared by both backends: the statements are written with `?` placeholders, which
`rb_mcp.store.pgsql.PgConn` translates for PostgreSQL. A method that takes `db` runs inside the
caller's `transaction()`; the others read on their own. What a caller may see follows
`rb_mcp.visibility`, as listing does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rb_mcp import visibility
from rb_mcp.store.common import to_blob

# The sort orders a person can pick (the loop names them; never user input).
ORDERS = {
    "recent": "updated_at desc, id desc",
    "recalled": "recall_count desc, id desc",
    "helped": "helped desc, id desc",
    "harmed": "harmed desc, id desc",
}
STATUSES = ("active", "superseded", "archived")
# Added or changed since the last review; the same text as the partial index `items_unreviewed`.
UNREVIEWED = "status = 'active' and (reviewed_at is null or updated_at > reviewed_at)"
TEXT_MATCHES = 500  # keyword matches a search looks at
_LIKE_WORDS = 8


def _marks(ids: Sequence[Any]) -> str:
    return ",".join("?" * len(ids))


def _like(word: str) -> str:
    escaped = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class ReviewRows:
    """Mixed into `SqliteStore` and `PgStore`, whose `query`, `one` and `keyword` it uses."""

    # ---- browsing and searching ------------------------------------------------------------
    def browse_item_ids(
        self,
        *,
        text: str = "",
        scope: str | None = None,
        kind: str | None = None,
        status: str | None = "active",
        sort: str = "recent",
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[int], int]:
        """One page of the items matching the filters (None: any) in the scopes the caller may see,
        and how many match in all. With `text`, active items are found by the keyword index and the
        others by their words; sort "relevance" keeps the keyword ranking (best first)."""
        seen, seen_params = visibility.sql_filter("scope")
        where, params = [seen], list(seen_params)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if scope is not None:
            where.append("scope = ?")
            params.append(scope)
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        ranked: list[int] = []
        if text.strip():
            ranked = self._text_matches(text, scope, status)
            if not ranked:
                return [], 0
            where.append(f"id in ({_marks(ranked)})")
            params += ranked
        condition = " and ".join(where)
        if ranked and sort == "relevance":
            kept = {r[0] for r in self.query(f"select id from items where {condition}", params)}
            ordered = [i for i in ranked if i in kept]
            return ordered[offset : offset + limit], len(ordered)
        order = ORDERS.get(sort, ORDERS["recent"])
        ids = [
            r[0]
            for r in self.query(
                f"select id from items where {condition} order by {order} limit ? offset ?",
                (*params, limit, offset),
            )
        ]
        total = int(self.one(f"select count(*) from items where {condition}", params)[0])
        return ids, total

    def _text_matches(self, text: str, scope: str | None, status: str | None) -> list[int]:
        found: list[int] = []
        if status in (None, "active"):
            parts = [scope] if scope else [s for s, _ in self.item_scopes()]
            found = [i for i, _ in self.keyword("item_fts", text, parts, TEXT_MATCHES)]
        if status != "active":
            # Archived and superseded items leave the keyword index: match their words instead.
            words = [w for w in text.split() if w][:_LIKE_WORDS]
            if words:
                likes = " and ".join(
                    "lower(title || ' ' || description || ' ' || content) like ? escape '\\'" for _ in words
                )
                rows = self.query(
                    f"select id from items where status != 'active' and {likes} order by updated_at desc limit ?",
                    (*[_like(w) for w in words], TEXT_MATCHES),
                )
                found += [r[0] for r in rows]
        return found

    def item_scopes(self) -> list[tuple[str, int]]:
        """(scope, items of any status) of every scope the caller may see, the fullest first."""
        seen, params = visibility.sql_filter("scope")
        rows = self.query(
            f"select scope, count(*) from items where {seen} group by scope order by count(*) desc, scope",
            params,
        )
        return [(r[0], int(r[1])) for r in rows]

    def review_marks(self, ids: Sequence[int]) -> dict[int, tuple[str | None, bool]]:
        """(reviewed_at, held) of these items: when a person last approved each, and whether it waits
        out of recall for that approval."""
        if not ids:
            return {}
        rows = self.query(f"select id, reviewed_at, held from items where id in ({_marks(ids)})", tuple(ids))
        return {r[0]: (r[1], bool(r[2])) for r in rows}

    # ---- the review inbox ------------------------------------------------------------------
    def inbox_item_ids(self, limit: int = 50, offset: int = 0) -> tuple[list[int], int]:
        """Active items added or changed since their last review, in scopes the caller may see: held
        ones first, then the most recently changed; and how many there are."""
        seen, params = visibility.sql_filter("scope")
        condition = f"{UNREVIEWED} and {seen}"
        ids = [
            r[0]
            for r in self.query(
                f"select id from items where {condition} order by held desc, updated_at desc, id desc "
                "limit ? offset ?",
                (*params, limit, offset),
            )
        ]
        return ids, self.inbox_count() if ids or offset else 0

    def inbox_count(self) -> int:
        """How many active items wait in the review inbox (of the scopes the caller may see)."""
        seen, params = visibility.sql_filter("scope")
        return int(self.one(f"select count(*) from items where {UNREVIEWED} and {seen}", params)[0])

    def pending_count(self) -> int:
        """How many trajectories wait for a verdict or for items, in scopes the caller may see (as
        `pending_trajectories`, counted on the status index alone: refinement notes are never pending)."""
        seen, params = visibility.sql_filter("project")
        return int(
            self.one(
                f"select count(*) from trajectories where status in ('pending_verdict', 'pending_items') and {seen}",
                params,
            )[0]
        )

    def mark_reviewed(self, db: Any, seen: Sequence[tuple[int, str]], stamp: str) -> list[int]:
        """Approve each (item, updated_at as the reviewer saw it): reviewed at `stamp` and no longer held.
        An item changed since it was seen (or not active) is left alone; the ids approved."""
        done: list[int] = []
        for item_id, updated_at in seen:
            cur = db.execute(
                "update items set reviewed_at = ?, held = 0 where id = ? and status = 'active' and updated_at = ?",
                (stamp, item_id, updated_at),
            )
            if cur.rowcount:
                done.append(item_id)
        return done

    def hold_item(self, db: Any, item_id: int) -> None:
        """Keep a new item out of recall until a person approves it (RB_MCP_REVIEW=required)."""
        db.execute("update items set held = 1 where id = ?", (item_id,))

    # ---- a person's changes ----------------------------------------------------------------
    def revise_item(
        self,
        db: Any,
        item_id: int,
        *,
        title: str,
        description: str,
        content: str,
        kind: str,
        vec: np.ndarray,
        digest: str,
        stamp: str,
    ) -> None:
        """A person's wording (and kind) for an item, with its embedding and content hash; reviewed and
        approved by the same act (keep the old wording in history first, re-index afterwards)."""
        db.execute(
            "update items set title = ?, description = ?, content = ?, kind = ?, embedding = ?, content_hash = ?, "
            "updated_at = ?, reviewed_at = ?, held = 0 where id = ?",
            (title, description, content, kind, to_blob(vec), digest, stamp, stamp, item_id),
        )

    # ---- an item's page --------------------------------------------------------------------
    def merged_into(self, item_id: int) -> list[tuple[int, str, str]]:
        """(id, title, updated_at) of the items superseded by this one (merged into it), newest first."""
        rows = self.query(
            "select id, title, updated_at from items where superseded_by = ? order by updated_at desc, id desc",
            (item_id,),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def item_recalls(self, item_id: int, limit: int = 100) -> list[dict[str, Any]]:
        """The recalls that returned the item, newest first: when, the task, the project, the item's
        rank and score, the verdict credited afterwards and the trajectory recorded with the recall."""
        seen, params = visibility.sql_filter("e.project")
        rows = self.query(
            "select e.id, e.created_at, e.query, e.project, h.rank, h.score, e.credited_outcome, "
            "(select min(t.id) from trajectories t where t.recall_id = e.id) "
            "from recall_hits h join recall_events e on e.id = h.recall_id "
            f"where h.item_id = ? and {seen} order by e.id desc limit ?",
            (item_id, *params, limit),
        )
        names = ("recall_id", "created_at", "task", "project", "rank", "score", "outcome", "trajectory_id")
        return [dict(zip(names, r)) for r in rows]
