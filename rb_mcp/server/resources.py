"""The MCP resources (browsing the bank) and prompts (the loop as a slash command)."""

from __future__ import annotations

import json
import re
from typing import Annotated

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS
from mcp_types.version import is_version_at_least
from pydantic import Field

from rb_mcp import visibility
from rb_mcp.ids import MAX_ROW_ID
from rb_mcp.server.calls import BankHandle
from rb_mcp.server.sampling import INPUT_REQUIRED_VERSION
from rb_mcp.server.strict import guard

# "Resource not found": -32002 up to protocol 2025-11-25; 2026-07-28 (SEP-2164) answers invalid params.
RESOURCE_NOT_FOUND = -32002
_ITEM_ID = re.compile(r"[1-9][0-9]{0,18}")  # ASCII digits only: "²".isdigit() is true
TaskArg = Annotated[str, Field(description="The task, as you would tell a colleague: goal, errors, files.")]


def not_found(ctx: Context, uri: str, message: str) -> MCPError:
    version = ctx.protocol_version
    modern = bool(version) and is_version_at_least(version, INPUT_REQUIRED_VERSION)
    return MCPError(code=INVALID_PARAMS if modern else RESOURCE_NOT_FOUND, message=message, data={"uri": uri})


def register_resources(app: MCPServer, handle: BankHandle) -> None:
    bank = handle.for_resource

    @app.resource("rb://items/recent", name="recent-items", mime_type="application/json")
    @guard
    def recent_items() -> str:
        """The 25 most recently updated active memory items (that this client may see)."""
        return json.dumps([item.model_dump(mode="json") for item in bank().items(limit=25)], indent=1)

    @app.resource("rb://items/{item_id}", name="item", mime_type="application/json")
    @guard
    def item(item_id: str, ctx: Context) -> str:
        """One memory item with its history and source trajectories."""
        uri = f"rb://items/{item_id}"
        if not _ITEM_ID.fullmatch(item_id) or int(item_id) > MAX_ROW_ID:
            raise not_found(
                ctx, uri, f"that item id is not an item number (1 to {MAX_ROW_ID}); use rb://items/<id>"
            )
        found = bank().item(int(item_id))
        if found is None:
            raise not_found(ctx, uri, f"no memory item {item_id}; rb://items/recent lists the recent ones")
        return json.dumps(found, indent=1)

    @app.resource("rb://stats", name="stats", mime_type="application/json")
    @guard
    def stats() -> str:
        """Counts of items by kind and status, trajectories by status, recalls."""
        from rb_mcp.admin import stats as bank_stats

        result = bank_stats(bank())
        # Counts stay bank-wide; the names of scopes this client may not see are left out.
        shown = visibility.visible([p["scope"] for p in result.projects])
        result.projects = [p for p, ok in zip(result.projects, shown) if ok]
        seen = visibility.visible([row["project"] for row in result.guidance])
        result.guidance = [row for row, ok in zip(result.guidance, seen) if ok]
        return result.model_dump_json(indent=1)


def register_prompts(app: MCPServer) -> None:
    @app.prompt(name="use-memory", description="Work a task with rb-mcp memory: recall, work, record.")
    def use_memory(task: TaskArg) -> str:
        return (
            f"Task: {task}\n\n"
            "Before you start, call recall_strategies with this task and read the guidance. While you work, "
            "if you get stuck or an attempt fails, call refine_attempt (mode='sequential') with your attempt. "
            "When you are done, call record_trajectory with the task, your steps, your verdict (success, "
            "failure or impossible) and the recall_id, and follow its prompt to distill up to 3 lessons."
        )

    @app.prompt(
        name="record-task", description="Record what just happened as a trajectory and distill lessons."
    )
    def record_task(task: Annotated[str, Field(description="The task that just ended.")]) -> str:
        return (
            f"The task '{task}' has ended. Call record_trajectory with the task, the main steps you took with "
            "their observations, the files you touched and your honest verdict. Then answer its extraction "
            "prompt with up to 3 transferable memory items."
        )
