"""The index consistency checks `rb-mcp doctor` runs on either backend: every active item has
exactly its keyword row (and vector), every searchable past task its own, and nothing else is
indexed. `not exists`, never `not in (subquery)`: PostgreSQL runs the latter row by row once the
ids outgrow work_mem, which at 100k items takes minutes."""

from __future__ import annotations

from typing import Any

from rb_mcp.store.common import GLOBAL

_ACTIVE = "i.status = 'active'"
_SEARCHED = "t.role != 'refine'"

KEYWORD_CHECKS = [
    ("items without FTS row", f"select id from items i where {_ACTIVE} and not exists (select 1 from item_fts f where f.rowid = i.id)"),
    ("FTS rows without active item", f"select rowid from item_fts f where not exists (select 1 from items i where i.id = f.rowid and {_ACTIVE})"),
    ("tasks without FTS row", f"select id from trajectories t where {_SEARCHED} and not exists (select 1 from task_fts f where f.rowid = t.id)"),
    ("task FTS rows without trajectory", "select rowid from task_fts f where not exists (select 1 from trajectories t where t.id = f.rowid)"),
]  # fmt: skip
VECTOR_CHECKS = [
    ("items without vector", f"select id from items i where {_ACTIVE} and i.embedding is not null and not exists (select 1 from item_vec v where v.item_id = i.id)"),
    ("vectors without active item", f"select item_id from item_vec v where not exists (select 1 from items i where i.id = v.item_id and {_ACTIVE} and i.embedding is not null)"),
    ("item vectors in another scope than their item", "select v.item_id from item_vec v join items i on i.id = v.item_id where v.scope != i.scope"),
    ("tasks without vector", f"select id from trajectories t where {_SEARCHED} and t.task_embedding is not null and not exists (select 1 from task_vec v where v.trajectory_id = t.id)"),
    ("task vectors without trajectory", f"select trajectory_id from task_vec v where not exists (select 1 from trajectories t where t.id = v.trajectory_id and {_SEARCHED} and t.task_embedding is not null)"),
    ("task vectors in another project than their task", f"select v.trajectory_id from task_vec v join trajectories t on t.id = v.trajectory_id where v.project != coalesce(t.project, '{GLOBAL}')"),
]  # fmt: skip
NO_VECTOR_TABLE = [
    ("items with embeddings but no vector table", "select id from items where embedding is not null")
]


def problems(store: Any, checks: list[tuple[str, str]]) -> list[str]:
    """One line per failed check, naming up to ten of the rows at fault."""
    found: list[str] = []
    for label, sql in checks:
        ids = [r[0] for r in store.query(sql)]
        if ids:
            found.append(f"{label}: {ids[:10]}{' ...' if len(ids) > 10 else ''}")
    return found
