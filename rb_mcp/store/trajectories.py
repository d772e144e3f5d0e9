"""The SQL of trajectories, attempt groups, refinement notes, the pending queue, recall events and hits, and the keyword search over past tasks.

Shared by both backends: the statements are written with `?` placeholders, which
`rb_mcp.store.pgsql.PgConn` translates for PostgreSQL. A method that takes `db` runs inside the
caller's `transaction()`; the others read, or write in one transaction of their own.

A trajectory's `steps` (a list of step dicts) and `files` (a list of paths) are JSON in their
columns; these methods take and return them as lists.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from rb_mcp import visibility
from rb_mcp.clock import now
from rb_mcp.store.common import from_blob

TRAJ_COLUMNS = (
    "id, task, project, steps, summary, outcome, rationale, files, status, role, recall_id, group_id, "
    "iteration, created_at, updated_at, owner"
)
_TRAJ_NAMES = tuple(c.strip() for c in TRAJ_COLUMNS.split(","))
# The columns a trajectory's later steps may change (the loop names them; never user input).
_UPDATABLE = frozenset({"steps", "summary", "outcome", "rationale", "files", "status"})
_PENDING = "status in ('pending_verdict', 'pending_items') and role != 'refine'"


def _marks(ids: Sequence[Any]) -> str:
    return ",".join("?" * len(ids))


def _seen_and_owned(alias: str = "") -> tuple[str, list[str]]:
    """The caller's own trajectories in scopes it may see, as a SQL condition and its parameters."""
    seen, seen_params = visibility.sql_filter(f"{alias}project")
    owned, owned_params = visibility.owner_filter(f"{alias}owner")
    return f"{seen} and {owned}", [*seen_params, *owned_params]


class TrajectoryRows:
    """Mixed into `SqliteStore` and `PgStore`, whose `query`, `one`, `transaction` and `lock_items` it uses."""

    # ---- trajectories ------------------------------------------------------------------------
    def insert_trajectory(
        self,
        db: Any,
        *,
        task: str,
        project: str | None,
        steps: Sequence[dict[str, str]],
        summary: str,
        outcome: str | None,
        rationale: str,
        files: Sequence[str],
        status: str,
        role: str,
        recall_id: int | None,
        group_id: str | None,
        iteration: int | None,
        task_embedding: bytes | None,
        owner: str = "",
    ) -> int:
        """A new trajectory of `owner` (and its attempt group's row, the first time the group is
        named); its id."""
        stamp = now()
        cur = db.execute(
            "insert into trajectories (task, project, steps, summary, outcome, rationale, files, status, role, "
            "recall_id, group_id, iteration, task_embedding, created_at, updated_at, owner) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                task,
                project,
                json.dumps(list(steps)),
                summary,
                outcome,
                rationale,
                json.dumps(list(files)),
                status,
                role,
                recall_id,
                group_id,
                iteration,
                task_embedding,
                stamp,
                stamp,
                owner,
            ),
        )
        trajectory_id = int(cur.lastrowid)
        if group_id is not None:
            db.execute(
                "insert or ignore into groups (group_id, task, project, created_at) values (?, ?, ?, ?)",
                (group_id, task, project, stamp),
            )
        return trajectory_id

    def get_trajectory(self, trajectory_id: int) -> dict[str, Any] | None:
        """The trajectory's columns by name (steps and files as lists); None when there is none."""
        row = self.one(f"select {TRAJ_COLUMNS} from trajectories where id = ?", (trajectory_id,))
        if row is None:
            return None
        data = dict(zip(_TRAJ_NAMES, row))
        data["steps"] = json.loads(data["steps"])
        data["files"] = json.loads(data["files"])
        return data

    def update_trajectory(self, trajectory_id: int, **fields: Any) -> None:
        """Set these columns (steps and files as lists) and `updated_at`, in a transaction of its own."""
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise ValueError(f"not a trajectory column that changes: {', '.join(sorted(unknown))}")
        values = [json.dumps(list(v)) if k in ("steps", "files") else v for k, v in fields.items()]
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.transaction() as db:
            db.execute(
                f"update trajectories set {sets}, updated_at = ? where id = ?",
                (*values, now(), trajectory_id),
            )

    def set_verdict(self, trajectory_id: int, outcome: str, rationale: str) -> bool:
        """The trajectory's verdict, only if it has none yet (the first verdict counts); whether it was set."""
        with self.transaction() as db:
            cur = db.execute(
                "update trajectories set outcome = ?, rationale = ?, status = 'pending_items', updated_at = ? "
                "where id = ? and outcome is null",
                (outcome, rationale, now(), trajectory_id),
            )
        return cur.rowcount != 0

    # ---- the queue ---------------------------------------------------------------------------
    def pending_trajectories(self, among: Sequence[int] | None = None) -> list[int]:
        """Trajectories waiting for a verdict or for items (refinement notes never do), oldest first,
        of the caller, in the scopes the caller may see (`rb_mcp.visibility`); with `among`, only
        those ids."""
        seen, params = _seen_and_owned()
        sql = f"select id from trajectories where {_PENDING} and {seen}"
        if among is not None:
            if not among:
                return []
            sql += f" and id in ({_marks(among)})"
            params = [*params, *among]
        return [r[0] for r in self.query(sql + " order by id", params)]

    def ready_groups(self) -> list[str]:
        """Attempt groups ready for a contrast: two or more judged parallel attempts, one not yet
        distilled, every attempt the caller's own and in a scope the caller may see; oldest first."""
        seen, params = _seen_and_owned()
        return [r[0] for r in self.query(
            "select group_id from trajectories where role = 'attempt' and iteration is not null and group_id is not null "
            "and outcome is not null group by group_id having count(*) >= 2 "
            "and sum(case when status != 'distilled' then 1 else 0 end) > 0 "
            f"and min(case when {seen} then 1 else 0 end) = 1 order by min(id)", params)]  # fmt: skip

    def waiting_attempts(self) -> int:
        """Undistilled parallel attempts of the caller whose group has fewer than two judged attempts
        (no contrast yet)."""
        seen, params = _seen_and_owned("t.")
        return self.one(
            "select count(*) from trajectories t where t.role = 'attempt' and t.iteration is not null "
            "and t.status != 'distilled' and (select count(*) from trajectories u where u.group_id = t.group_id "
            f"and u.role = 'attempt' and u.iteration is not null and u.outcome is not null) < 2 and {seen}",
            params,
        )[0]

    # ---- attempt groups and their refinement notes -------------------------------------------
    def group(self, group_id: str) -> tuple[str, str | None] | None:
        """The group's task and project, as its first trajectory named them; None when unknown."""
        row = self.one("select task, project from groups where group_id = ?", (group_id,))
        return None if row is None else (row[0], row[1])

    def group_scopes(self, group_id: str) -> list[str | None]:
        """The distinct projects the group's trajectories live in."""
        return [
            r[0]
            for r in self.query("select distinct project from trajectories where group_id = ?", (group_id,))
        ]

    def refinement_notes(self, group_id: str) -> list[tuple[int | None, list[dict[str, str]]]]:
        """The group's refinement notes in order: (iteration, steps)."""
        rows = self.query(
            "select iteration, steps from trajectories where group_id = ? and role = 'refine' order by iteration, id",
            (group_id,),
        )
        return [(r[0], json.loads(r[1])) for r in rows]

    def group_attempts(
        self, group_id: str
    ) -> list[tuple[int, int | None, str | None, str, list[dict[str, str]]]]:
        """The group's attempts (not its refinement notes) in order: (id, iteration, outcome, summary, steps)."""
        rows = self.query(
            "select id, iteration, outcome, summary, steps from trajectories where group_id = ? and role != 'refine' "
            "order by id",
            (group_id,),
        )
        return [(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    def count_attempts(self, group_id: str) -> int:
        """How many attempts (not refinement notes) the group holds."""
        return self.one(
            "select count(*) from trajectories where group_id = ? and role != 'refine'", (group_id,)
        )[0]

    def fresh_attempts(self, group_id: str) -> int:
        """How many of the group's attempts are judged but not distilled yet."""
        return self.one(
            "select count(*) from trajectories where group_id = ? and role != 'refine' and outcome is not null "
            "and status != 'distilled'",
            (group_id,),
        )[0]

    def mark_contrasted(self, group_id: str, trajectory_ids: Sequence[int]) -> None:
        """The group was contrasted and these attempts distilled by it, in one transaction."""
        with self.transaction() as db:
            db.execute("update groups set contrasted_at = ? where group_id = ?", (now(), group_id))
            db.execute(
                f"update trajectories set status = 'distilled', updated_at = ? where id in ({_marks(trajectory_ids)})",
                (now(), *trajectory_ids),
            )

    # ---- what recall reads -------------------------------------------------------------------
    def task_vectors(self, trajectory_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The task embeddings of these trajectories (those that have one)."""
        if not trajectory_ids:
            return {}
        rows = self.query(
            f"select id, task_embedding from trajectories where id in ({_marks(trajectory_ids)})",
            list(trajectory_ids),
        )
        return {r[0]: v for r in rows if (v := from_blob(r[1])) is not None}

    def trajectory_briefs(
        self, trajectory_ids: Sequence[int]
    ) -> list[tuple[int, str, str | None, str | None, list[str]]]:
        """(id, task, outcome, project, files) of these trajectories, in no particular order."""
        if not trajectory_ids:
            return []
        rows = self.query(
            f"select id, task, outcome, project, files from trajectories where id in ({_marks(trajectory_ids)})",
            list(trajectory_ids),
        )
        return [(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    def items_of_tasks(self, trajectory_ids: Sequence[int]) -> list[tuple[int, int]]:
        """(item, trajectory) for every item distilled from these trajectories."""
        if not trajectory_ids:
            return []
        return self.query(
            f"select item_id, trajectory_id from item_sources where trajectory_id in ({_marks(trajectory_ids)})",
            list(trajectory_ids),
        )

    def items_distilled_from(self, trajectory_ids: Sequence[int]) -> set[int]:
        """The items distilled from any of these trajectories."""
        if not trajectory_ids:
            return set()
        rows = self.query(
            f"select distinct item_id from item_sources where trajectory_id in ({_marks(trajectory_ids)})",
            list(trajectory_ids),
        )
        return {r[0] for r in rows}

    def recall_candidates(
        self, item_ids: Sequence[int], have_vectors: Sequence[int]
    ) -> list[tuple[int, str, str, int, int, int, bytes | None]]:
        """The scoring columns of these active items: (id, scope, kind, helped, harmed, strength,
        embedding); the embedding is None for the ids in `have_vectors` (the caller has their similarity).
        Items held for a person's review (RB_MCP_REVIEW=required) are left out: they are never recalled."""
        if not item_ids:
            return []
        return self.query(
            "select id, scope, kind, helped, harmed, strength, "
            f"case when id in ({','.join(str(int(i)) for i in have_vectors) or 'null'}) then null else embedding end "
            f"from items where id in ({_marks(item_ids)}) and status = 'active' and held = 0",
            list(item_ids),
        )

    # ---- recall events and their hits --------------------------------------------------------
    def log_recall(
        self,
        query: str,
        project: str | None,
        k: int,
        hits: Sequence[tuple[int, float]],
        owner: str = "",
        session_id: str | None = None,
        control: bool = False,
    ) -> int:
        """Record a recall by `owner` and the items it returned, (item, score) in rank order, counting
        each item's recalls; the new recall id. `session_id` names the client session, `control` a
        recall that withheld memory on purpose."""
        with self.transaction() as db:
            cur = db.execute(
                "insert into recall_events (query, project, k, created_at, owner, session_id, control, returned) "
                "values (?, ?, ?, ?, ?, ?, ?, ?)",
                (query, project, k, now(), owner, session_id, int(control), len(hits)),
            )
            recall_id = int(cur.lastrowid)
            self.lock_items(db, [item_id for item_id, _ in hits])  # in id order: no deadlock with credit
            for rank, (item_id, score) in enumerate(hits):
                db.execute(
                    "insert into recall_hits (recall_id, item_id, rank, score) values (?, ?, ?, ?)",
                    (recall_id, item_id, rank, score),
                )
                db.execute("update items set recall_count = recall_count + 1 where id = ?", (item_id,))
        return recall_id

    def recall_event(self, recall_id: int) -> dict[str, Any] | None:
        """The recall's query, project, k, time and owner; None when there is no such recall."""
        row = self.one(
            "select query, project, k, created_at, owner from recall_events where id = ?", (recall_id,)
        )
        return None if row is None else dict(zip(("query", "project", "k", "created_at", "owner"), row))

    def recall_usage(self) -> list[tuple[str, str | None, int, int, int, int]]:
        """Per day (UTC, YYYY-MM-DD) and project of the logged recalls: (day, project, recalls, recalls
        that returned items, items returned, characters of those items' title, description, content, id
        marks and provenance (the outcome and first 80 characters of the task they came from))."""
        rows = self.query(
            "select substr(e.created_at, 1, 10), e.project, count(*), "
            "sum(case when h.n is null then 0 else 1 end), coalesce(sum(h.n), 0), coalesce(sum(h.chars), 0) "
            "from recall_events e left join ("
            " select rh.recall_id, count(*) as n, "
            " sum(length(i.title) + length(i.description) + length(i.content) + 2 * length(cast(i.id as text))"
            "  + coalesce(length(t.outcome) + length(substr(t.task, 1, 80)), -6)) as chars "
            " from recall_hits rh join items i on i.id = rh.item_id"
            " left join trajectories t on t.id = i.trajectory_id group by rh.recall_id"
            ") h on h.recall_id = e.id "
            "group by substr(e.created_at, 1, 10), e.project order by 1, 2"
        )
        return [(r[0], r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows]

    def recall_hit_items(self, recall_id: int) -> list[tuple[str, str, str]]:
        """(title, description, content) of the items the recall returned."""
        return [
            (r[0], r[1], r[2])
            for r in self.query(
                "select i.title, i.description, i.content from recall_hits h join items i on i.id = h.item_id "
                "where h.recall_id = ?",
                (recall_id,),
            )
        ]
