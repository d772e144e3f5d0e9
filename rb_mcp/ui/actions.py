"""The review page's POST routes: every change a person makes, each through one `Bank` method.

The guard has already checked the origin, the launch cookie and the form's CSRF token. A change that
works redirects (303) to the page showing it, with a notice code; one the bank refuses (the quality
gate, an item changed meanwhile) shows the form again with the reason and what was typed, and
writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rb_mcp.errors import InputError, RbError
from rb_mcp.ui import pages
from rb_mcp.ui.view import KINDS, OUTCOMES, UI, field, form_of, number, redirect

Fields = list[tuple[str, str]]
Action = Callable[[Request, Fields], Any]


def _seen(value: str) -> tuple[int, str] | None:
    """An `id@updated_at` pair as the inbox posts it."""
    head, _, stamp = value.partition("@")
    item_id = number(head)
    return (item_id, stamp) if item_id is not None and stamp else None


def _back(fields: Fields, item_id: int) -> str:
    return "/inbox" if field(fields, "back") == "inbox" else f"/items/{item_id}"


def routes(ui: UI) -> list[Route]:
    def post(path: str, act: Action) -> Route:
        async def endpoint(request: Request) -> Response:
            fields = await form_of(request)
            return await run_in_threadpool(act, request, fields)

        return Route(path, endpoint, methods=["POST"])

    def failed(request: Request, exc: RbError, back: str) -> Response:
        return ui.failure(request, exc, "error.html", back=back)

    def edit_item(request: Request, fields: Fields) -> Response:
        item_id = request.path_params["item_id"]
        values = {k: field(fields, k) for k in ("title", "description", "content", "kind", "updated_at")}
        try:
            if values["kind"] not in KINDS:
                raise InputError(f"kind must be one of {', '.join(KINDS)}")
            changed = ui.bank.edit_item(item_id, values["title"], values["description"], values["content"],
                                        values["kind"], values["updated_at"])  # type: ignore[arg-type]  # fmt: skip
        except RbError as exc:
            page = ui.bank.item_page(item_id)
            if page is None:
                return failed(request, exc, "/")
            return ui.failure(request, exc, "edit.html", page=page, values=values, section="items")
        return redirect(f"/items/{item_id}", "edited" if changed else "unchanged")

    def archive(request: Request, fields: Fields) -> Response:
        item_id = request.path_params["item_id"]
        if ui.bank.forget([item_id], hard=False):
            return failed(request, InputError(f"no memory item {item_id}"), "/")
        return redirect(_back(fields, item_id), "archived")

    def restore(request: Request, fields: Fields) -> Response:
        item_id = request.path_params["item_id"]
        try:
            ui.bank.restore_item(item_id)
        except RbError as exc:
            return failed(request, exc, f"/items/{item_id}")
        return redirect(f"/items/{item_id}", "restored")

    def forget(request: Request, fields: Fields) -> Response:
        item_id = request.path_params["item_id"]
        if field(fields, "confirm") != "forget":
            return failed(request, InputError("confirm on the confirmation page to forget an item"),
                          f"/items/{item_id}/forget")  # fmt: skip
        if ui.bank.forget([item_id], hard=True):
            return failed(request, InputError(f"no memory item {item_id}"), "/")
        return redirect("/", "forgotten")

    def promote(request: Request, fields: Fields) -> Response:
        item_id = request.path_params["item_id"]
        if not ui.bank.move(item_id, "global"):
            return failed(request, InputError(f"no memory item {item_id}"), "/")
        return redirect(f"/items/{item_id}", "promoted")

    def merge(request: Request, fields: Fields) -> Response:
        item_id = request.path_params["item_id"]
        into = number(field(fields, "into").strip().lstrip("#"))
        try:
            if into is None:
                raise InputError("name the item to merge into by its number, e.g. 12")
            ui.bank.merge_items(item_id, into)
        except RbError as exc:
            return failed(request, exc, f"/items/{item_id}")
        return redirect(f"/items/{into}", "merged")

    def approve_one(request: Request, fields: Fields) -> Response:
        item_id = request.path_params["item_id"]
        done = ui.bank.approve([(item_id, field(fields, "updated_at"))])
        return redirect(_back(fields, item_id), "approved" if done else "stale")

    def approve_many(request: Request, fields: Fields) -> Response:
        only = field(fields, "only")
        chosen = [only] if only else [v for k, v in fields if k == "item"]
        seen = [pair for pair in map(_seen, chosen) if pair is not None]
        if not seen:
            return failed(request, InputError("tick the items to approve first"), "/inbox")
        done = ui.bank.approve(seen)
        return redirect("/inbox", "approved" if len(done) == len(seen) else "stale")

    def judge(request: Request, fields: Fields) -> Response:
        trajectory_id = request.path_params["trajectory_id"]
        outcome = field(fields, "outcome")
        drafts = [{k: field(fields, f"{k}_{n}") for k in ("title", "description", "content", "kind")}
                  for n in range(1, 4)]  # fmt: skip
        written = [d for d in drafts if any(d[k].strip() for k in ("title", "description", "content"))]
        none_learned = field(fields, "none_learned") == "yes"
        try:
            if outcome and outcome not in OUTCOMES:
                raise InputError(f"the verdict must be one of {', '.join(OUTCOMES)}")
            if any(d["kind"] and d["kind"] not in KINDS for d in written):
                raise InputError(f"a lesson's kind must be one of {', '.join(KINDS)}")
            if written and none_learned:
                raise InputError("either write lessons or check 'nothing transferable', not both")
            result = ui.bank.judge(trajectory_id, outcome or None, field(fields, "rationale"), written,  # type: ignore[arg-type]
                                   none_learned)  # fmt: skip
        except RbError as exc:
            context = pages.trajectory_context(ui, trajectory_id)
            if context is None:
                return failed(request, exc, "/pending")
            context["values"] = {"outcome": outcome, "rationale": field(fields, "rationale"), "items": drafts,
                                 "none_learned": none_learned}  # fmt: skip
            return ui.failure(request, exc, "trajectory.html", **context)
        if result.status == "stored":
            return redirect("/pending", "judged")
        return redirect(f"/trajectories/{trajectory_id}", "verdict")

    def dismiss(request: Request, fields: Fields) -> Response:
        trajectory_id = request.path_params["trajectory_id"]
        try:
            ui.bank.dismiss(trajectory_id)
        except RbError as exc:
            return failed(request, exc, f"/trajectories/{trajectory_id}")
        return redirect("/pending", "dismissed")

    item = "/items/{item_id:id}"
    trajectory = "/trajectories/{trajectory_id:id}"
    return [
        post(f"{item}/edit", edit_item),
        post(f"{item}/archive", archive),
        post(f"{item}/restore", restore),
        post(f"{item}/forget", forget),
        post(f"{item}/promote", promote),
        post(f"{item}/merge", merge),
        post(f"{item}/approve", approve_one),
        post("/inbox/approve", approve_many),
        post(f"{trajectory}/judge", judge),
        post(f"{trajectory}/dismiss", dismiss),
    ]
