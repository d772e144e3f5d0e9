"""What a person does with the bank's memory: list items, read one with its history and sources,
forget or archive, move to another scope. The CLI, the MCP resources and the review page call these
through `Bank`; what a caller may see follows `rb_mcp.visibility` as recall does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rb_mcp import visibility
from rb_mcp.loop.items import forget, get_items, history, set_scope
from rb_mcp.models import ItemStatus, Kind, MemoryItem
from rb_mcp.project import resolve
from rb_mcp.store import Store


def list_items(
    store: Store,
    project: str | None = None,
    kind: Kind | None = None,
    include_all: bool = False,
    limit: int = 50,
    status: ItemStatus | None = None,
) -> list[MemoryItem]:
    """Items the caller may see, most recently updated first: active ones only unless `include_all`
    (or only those of `status`), filtered by project (a name, remote or path, resolved as the CLI's
    `--project`) and kind."""
    scope = resolve(project, None) if project else None
    if project and scope is None:
        return []  # a project that names no scope matches no item
    ids = store.listed_item_ids(
        limit, active_only=not include_all, scope=scope, kind=kind or None, status=status or None
    )
    found = get_items(store, ids)
    return [found[i] for i in ids if i in found]


def item_detail(store: Store, item_id: int) -> dict[str, Any] | None:
    """One item with its history (older wordings) and sources (trajectory ids); None when there is
    no such item or the caller may not see its scope."""
    found = get_items(store, [item_id]).get(item_id)
    if found is None or not visibility.visible([found.scope])[0]:
        return None
    data = found.model_dump(mode="json")
    data["history"] = history(store, item_id)
    data["sources"] = store.item_source_ids(item_id)
    return data


def forget_items(store: Store, ids: Sequence[int], hard: bool = True) -> list[int]:
    """Forget (or, with hard=False, archive) each item; the ids that named no item."""
    return [i for i in ids if not forget(store, i, hard=hard)]


def move_item(store: Store, item_id: int, scope: str) -> bool:
    """Move an item to `scope` (e.g. promote it to team memory); False when there is no such item."""
    return set_scope(store, item_id, scope)
