"""The review page as an ASGI app: Starlette routes over one open `Bank`, server-side rendered with
Jinja2 (autoescape on: memory text is untrusted), behind the launch's `Guard`.

GET routes read and never write (`pages`); every change is a POST of a plain HTML form (`actions`)
that ends in a redirect to the page showing its result. The templates and the one script and style
sheet live in this package (`templates/`, `static/`); nothing is loaded from anywhere else.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from rb_mcp.admin import stats
from rb_mcp.errors import RbError
from rb_mcp.loop.bank import Bank
from rb_mcp.ui import actions, pages
from rb_mcp.ui.security import Guard, Launch
from rb_mcp.ui.view import HERE, UI, environment


def build_app(bank: Bank, launch: Launch) -> Guard:
    """The whole page for one launch: routes, static files, and the guard in front of them."""
    try:
        label = f"bank {stats(bank).bank}"
    except RbError as exc:
        label = f"bank unreadable: {exc}"
    ui = UI(bank, launch, environment(), label)
    routes = [
        Route("/", pages.items(ui)),
        Route("/recall", pages.recall(ui)),
        Route("/items/{item_id:id}", pages.item(ui)),
        Route("/items/{item_id:id}/edit", pages.edit(ui)),
        Route("/items/{item_id:id}/forget", pages.forget(ui)),
        Route("/inbox", pages.inbox(ui)),
        Route("/pending", pages.pending(ui)),
        Route("/trajectories/{trajectory_id:id}", pages.trajectory(ui)),
        Route("/effect", pages.effect(ui)),
        *actions.routes(ui),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]

    async def unexpected(request: Request, exc: Exception) -> HTMLResponse:
        # A bank that is locked, full or unreachable: say so on the page (503), as the CLI would.
        return HTMLResponse(
            ui.env.get_template("error.html").render(
                csrf="", counts={"inbox": "?", "pending": "?"}, label=label, review=bank.config.review,
                notice="", path=request.url.path, error=str(exc),
            ),
            status_code=503,
        )  # fmt: skip

    app = Starlette(routes=routes, exception_handlers={RbError: unexpected})
    return Guard(app, launch)
