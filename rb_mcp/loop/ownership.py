"""Ids are capabilities: every id a caller passes must name something of its own, in its scope.

A `trajectory_id` or `recall_id` comes from an earlier answer to the same caller. One that names
nothing, another identity's row, or a row of another project gets one and the same error, which
says what to pass instead: an id reveals neither whose it is nor that it exists. Recall ids carry
a MAC (`rb_mcp.ids`), so they cannot be walked either. A `group_id` cannot reach anyone else's
group at all: groups are stored per (identity, project) (`rb_mcp.ids.group_key`), so the same
string from another project or identity simply names another group.

Over stdio (no identity) the owner check passes and the scope check still applies: a recall or an
attempt group of project A does not act on project B (a recall of the team scope may credit any
project's task: its items are meant for every project).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rb_mcp import ids, visibility
from rb_mcp.errors import InputError
from rb_mcp.models import MAX_ID, Trajectory, is_blank
from rb_mcp.store import GLOBAL

if TYPE_CHECKING:
    from rb_mcp.loop.bank import Bank


def same_scope(a: str | None, b: str | None) -> bool:
    return (a or GLOBAL) == (b or GLOBAL)


def own_trajectory(bank: Bank, trajectory_id: int, project: str | None = None) -> Trajectory:
    """The caller's trajectory `trajectory_id`; with `project`, it must live in that project."""
    data = bank.store.get_trajectory(trajectory_id)
    traj = Trajectory(**data) if data is not None else None
    if (
        traj is None
        or not visibility.owns(traj.owner)
        or not visibility.visible([traj.project])[0]
        or (
            project is not None
            and not is_blank(project)
            and not same_scope(bank.scope_of(project), traj.project)
        )
    ):
        raise InputError(
            f"trajectory_id {trajectory_id} is unknown here: pass a trajectory_id that record_trajectory "
            "returned to you (with the project it was recorded in, or no project)"
        )
    return traj


def recall_of(bank: Bank, recall_id: str | None, scope: str | None) -> int | None:
    """The recall event the caller's `recall_id` names: a recall of its own, made in `scope` or in the
    team scope (whose items, team and personal ones, apply in every project)."""
    if recall_id is None:
        return None
    number = ids.recall_number(bank.id_key, recall_id)
    event = bank.store.recall_event(number) if number is not None else None
    if (
        event is None
        or not visibility.owns(event["owner"])
        or not visibility.visible([event["project"]])[0]
        or not (same_scope(event["project"], scope) or same_scope(event["project"], GLOBAL))
    ):
        raise InputError(
            "recall_id is unknown here: pass the recall_id (a string like '12-abcdefgh23456789') that "
            "recall_strategies returned to you for this task, with the same project, or leave it out"
        )
    return number


def group_of(bank: Bank, group_id: str | None, scope: str | None) -> str | None:
    """The stored id of the caller's attempt group `group_id` in `scope`; None without one."""
    if group_id is None:
        return None
    if is_blank(group_id):
        raise InputError("group_id is empty; pass a short name for the attempt group, or leave it out")
    return ids.group_key(bank.id_key, visibility.owner(), scope, group_id, MAX_ID)
