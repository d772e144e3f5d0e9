"""The SQL of recall sessions, control recalls and the effect of memory on outcomes.

Shared by both backends (`?` placeholders). A trajectory's arm follows from its recall: none
(no recall_id), control (the recall withheld memory on purpose), memory (the recall returned
items) or empty (the recall found nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rb_mcp import visibility

_ARM = (
    "case when t.recall_id is null then 'none' when e.control = 1 then 'control' "
    "when e.returned > 0 then 'memory' else 'empty' end"
)


class EffectRows:
    """Mixed into `SqliteStore` and `PgStore`, whose `query` and `one` it uses."""

    def session_recalls(self, session_id: str) -> list[int]:
        """Ids of the recalls logged with this client session id, oldest first."""
        return [int(r[0]) for r in self.query(
            "select id from recall_events where session_id = ? order by id", (session_id,)
        )]  # fmt: skip

    def session_recall(self, session_id: str) -> int | None:
        """The recall a trajectory of this session answers: its latest recall that returned items,
        else its latest control recall; None when it has neither."""
        row = self.one(
            "select id from recall_events where session_id = ? and (returned > 0 or control = 1) "
            "order by returned > 0 desc, id desc limit 1",
            (session_id,),
        )
        return None if row is None else int(row[0])

    def scope_item_counts(self, scopes: Sequence[str]) -> dict[str, int]:
        """Active items in each of these scopes (0 for a scope holding none)."""
        counts = dict.fromkeys(scopes, 0)
        if scopes:
            for scope, n in self.query(
                f"select scope, count(*) from items where status = 'active' and scope in "
                f"({','.join('?' * len(scopes))}) group by scope",
                list(scopes),
            ):
                counts[scope] = int(n)
        return counts

    def effect_counts(self, project: str | None) -> list[tuple[str, str, str, int]]:
        """Judged trajectories (tasks and attempts, not refinement notes) the caller may see, in
        `project` (None: every project): (project, arm, outcome, count)."""
        seen, params = visibility.sql_filter("t.project")
        where = [seen, "t.outcome is not null", "t.role != 'refine'"]
        if project is not None:
            where.append("coalesce(t.project, 'global') = ?")
            params = [*params, project]
        rows = self.query(
            f"select coalesce(t.project, 'global'), {_ARM}, t.outcome, count(*) from trajectories t "
            f"left join recall_events e on e.id = t.recall_id where {' and '.join(where)} "
            "group by 1, 2, 3 order by 1, 2, 3",
            params,
        )
        return [(r[0], r[1], r[2], int(r[3])) for r in rows]

    def credited_items(self, project: str | None, by: str, limit: int) -> list[tuple[Any, ...]]:
        """The items with the most `by` (helped or harmed) credit, active, visible, in `project`
        (None: any scope): (id, title, scope, helped, harmed, recall_count)."""
        if by not in ("helped", "harmed"):
            raise ValueError(f"by must be helped or harmed, not {by!r}")
        seen, params = visibility.sql_filter("scope")
        where = [seen, "status = 'active'", f"{by} > 0"]
        if project is not None:
            where.append("scope = ?")
            params = [*params, project]
        return [tuple(r) for r in self.query(
            f"select id, title, scope, helped, harmed, recall_count from items where {' and '.join(where)} "
            f"order by {by} desc, id limit ?",
            [*params, limit],
        )]  # fmt: skip
