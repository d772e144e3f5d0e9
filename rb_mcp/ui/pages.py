"""The review page's GET routes: each reads through one or two `Bank` methods and renders a template.
None of them writes (a recall preview is not logged); Starlette runs them in worker threads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from rb_mcp.errors import RbError
from rb_mcp.ui import charts
from rb_mcp.ui.view import KINDS, UI, number

Endpoint = Callable[[Request], Response]
SORTS = {"recent": "recently changed", "recalled": "most recalled", "helped": "helped most",
         "harmed": "harmed most", "relevance": "best match"}  # fmt: skip
STATUSES = {"active": "active", "archived": "archived", "superseded": "merged away", "any": "any status"}


def _choice(value: str | None, allowed: Any, default: str) -> str:
    return value if value in allowed else default


def _filters(request: Request) -> dict[str, str]:
    q = request.query_params
    text = q.get("q", "")[:1000]
    return {
        "q": text,
        "project": q.get("project", "")[:300],
        "kind": _choice(q.get("kind"), KINDS, ""),
        "status": _choice(q.get("status"), STATUSES, "active"),
        "sort": _choice(q.get("sort"), SORTS, "relevance" if text.strip() else "recent"),
    }


def items(ui: UI) -> Endpoint:
    def endpoint(request: Request) -> Response:
        params = _filters(request)
        page = max(1, number(request.query_params.get("page"), 1) or 1)
        try:
            listing = ui.bank.browse(
                params["q"], params["project"] or None, params["kind"] or None,  # type: ignore[arg-type]
                params["status"], params["sort"], page,  # type: ignore[arg-type]
            )  # fmt: skip
        except RbError as exc:
            return ui.failure(request, exc, "items.html", params=params, listing=None, scopes=ui.bank.scopes(),
                              sorts=SORTS, statuses=STATUSES, section="items")  # fmt: skip
        return ui.render(request, "items.html", params=params, listing=listing, scopes=ui.bank.scopes(),
                         sorts=SORTS, statuses=STATUSES, section="items")  # fmt: skip

    return endpoint


def recall(ui: UI) -> Endpoint:
    def endpoint(request: Request) -> Response:
        q = request.query_params
        task = q.get("task", "")[:20_000]
        default = ui.bank.default_project or "global"
        project = q.get("project", "")[:300].strip() or default
        k = min(20, max(1, number(q.get("k"), ui.bank.config.k) or ui.bank.config.k))
        # The project the agent would name: this repository's, any scope holding items, or team memory.
        choices = list(dict.fromkeys([default, *(s for s, _ in ui.bank.scopes()), "global", project]))
        context = {"task": task, "project": project, "k": k, "result": None, "choices": choices,
                   "default_project": ui.bank.default_project, "section": "recall"}  # fmt: skip
        if not task.strip():
            return ui.render(request, "recall.html", **context)
        try:
            context["result"] = ui.bank.preview_recall(task, project, k)
        except RbError as exc:
            return ui.failure(request, exc, "recall.html", **context)
        return ui.render(request, "recall.html", **context)

    return endpoint


def _item_or_404(ui: UI, request: Request, item_id: int) -> Any:
    page = ui.bank.item_page(item_id)
    if page is None:
        return ui.render(request, "error.html", 404, error=f"No memory item {item_id}: it was forgotten, "
                         "or never existed.")  # fmt: skip
    return page


def _item_view(ui: UI, template: str, values: Callable[[Any], dict[str, Any]] | None = None) -> Endpoint:
    """A page about one item (404 when it is gone): `template` with the item's page, and `values`."""

    def endpoint(request: Request) -> Response:
        found = _item_or_404(ui, request, request.path_params["item_id"])
        if isinstance(found, Response):
            return found
        extra = {"values": values(found)} if values else {}
        return ui.render(request, template, page=found, section="items", **extra)

    return endpoint


def item(ui: UI) -> Endpoint:
    return _item_view(ui, "item.html")


def edit(ui: UI) -> Endpoint:
    fields = {"title", "description", "content", "kind", "updated_at"}
    return _item_view(ui, "edit.html", lambda found: found.item.model_dump(include=fields))


def forget(ui: UI) -> Endpoint:
    return _item_view(ui, "forget.html")


def inbox(ui: UI) -> Endpoint:
    def endpoint(request: Request) -> Response:
        page = max(1, number(request.query_params.get("page"), 1) or 1)
        return ui.render(request, "inbox.html", listing=ui.bank.inbox(page), section="inbox")

    return endpoint


def pending(ui: UI) -> Endpoint:
    def endpoint(request: Request) -> Response:
        page = max(1, number(request.query_params.get("page"), 1) or 1)
        shown, total = ui.bank.pending(page)
        pages = max(1, -(-total // 50))
        return ui.render(request, "pending.html", shown=shown, total=total, page=page, pages=pages,
                         section="pending")  # fmt: skip

    return endpoint


def trajectory_context(ui: UI, trajectory_id: int) -> dict[str, Any] | None:
    found = ui.bank.trajectory_page(trajectory_id)
    if found is None:
        return None
    blank = [{"title": "", "description": "", "content": "", "kind": ""} for _ in range(3)]
    return {"found": found, "traj": found.trajectory, "values": {"outcome": "", "rationale": "", "items": blank, "none_learned": False},
            "section": "pending"}  # fmt: skip


def trajectory(ui: UI) -> Endpoint:
    def endpoint(request: Request) -> Response:
        trajectory_id = request.path_params["trajectory_id"]
        context = trajectory_context(ui, trajectory_id)
        if context is None:
            return ui.render(request, "error.html", 404, error=f"No trajectory {trajectory_id}.")
        return ui.render(request, "trajectory.html", **context)

    return endpoint


def effect(ui: UI) -> Endpoint:
    def endpoint(request: Request) -> Response:
        stats = ui.bank.effect()
        drawn = [charts.success_rates(stats.overall), charts.credit(stats.most_helped, True),
                 charts.credit(stats.most_harmed, False)]  # fmt: skip
        return ui.render(
            request, "effect.html", stats=stats, charts=drawn, width=charts.WIDTH, section="effect"
        )

    return endpoint
