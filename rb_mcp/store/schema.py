"""The bank's tables as the export format and `rb-mcp copy` see them: names and columns, in the
order a copy must write them (a row's references come first)."""

from __future__ import annotations

COLUMNS: dict[str, tuple[str, ...]] = {
    "recall_events": (
        "id", "query", "project", "k", "created_at", "credited_at", "credited_outcome", "owner", "session_id",
        "control", "returned",
    ),
    "trajectories": (
        "id", "task", "project", "steps", "summary", "outcome", "rationale", "files", "status", "role",
        "recall_id", "group_id", "iteration", "task_embedding", "created_at", "updated_at", "owner",
    ),
    "groups": ("group_id", "task", "project", "created_at", "contrasted_at"),
    "items": (
        "id", "title", "description", "content", "kind", "scope", "trajectory_id", "files", "tags",
        "embedding", "content_hash", "recall_count", "helped", "harmed", "strength", "status",
        "superseded_by", "created_at", "updated_at", "anchors", "stale_count", "reviewed_at", "held",
    ),
    "item_sources": ("item_id", "trajectory_id", "relation"),
    "item_history": ("id", "item_id", "title", "description", "content", "reason", "changed_at"),
    "recall_hits": ("recall_id", "item_id", "rank", "score"),
}  # fmt: skip
TABLES: tuple[str, ...] = tuple(COLUMNS)
