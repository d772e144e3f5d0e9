"""What the review page's routes share: the open bank, the launch, and the templates (Jinja2 with
autoescape on: memory text is untrusted, so everything a template prints is escaped)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from rb_mcp.errors import AccessError, InputError, RbError
from rb_mcp.loop.bank import Bank
from rb_mcp.ui.security import Launch

HERE = Path(__file__).parent
KINDS = ("strategy", "pitfall", "note")
OUTCOMES = ("success", "failure", "impossible")
# How the loop words an id that names nothing (or nothing the caller may see): the page answers 404.
MISSING = ("no memory item", "no trajectory")
# What a finished action says on the page it redirects to (a code in the address, never free text).
NOTICES = {
    "edited": "Saved: the item is re-embedded and re-indexed; its old wording is in the history below.",
    "unchanged": "Nothing changed: the wording is the same.",
    "approved": "Approved.",
    "stale": "Not approved: the item changed since the page showed it; review it again.",
    "archived": "Archived: kept here, never recalled again (restore brings it back).",
    "restored": "Restored: the item is recalled again.",
    "forgotten": "Forgotten: the item, its vector, its index entries and its history are gone.",
    "promoted": "Promoted: the item is team memory now (scope global).",
    "merged": "Merged: the other item's wording is in this item's history; edit this one to combine them.",
    "judged": "Recorded: the verdict and lessons are stored.",
    "verdict": "Verdict stored: write the lessons, or save with 'nothing transferable' checked.",
    "dismissed": "Dismissed: the trajectory left the queue; it stays in the bank as a past task.",
}


@dataclass
class UI:
    """What every route shares: the bank, the launch's secrets, the templates."""

    bank: Bank
    launch: Launch
    env: Environment
    label: str

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        done = request.query_params.get("done", "")
        counts = self.bank.review_counts()
        html = self.env.get_template(name).render(
            csrf=self.launch.csrf, counts=counts, label=self.label, review=self.bank.config.review,
            notice=NOTICES.get(done, ""), path=request.url.path, **{"error": "", **context},
        )  # fmt: skip
        return HTMLResponse(html, status_code=status)

    def failure(
        self, request: Request, exc: RbError, name: str = "error.html", **context: Any
    ) -> HTMLResponse:
        """An expected failure, on the page it happened on: 404, 409 or 422, with what to do."""
        status = 422 if isinstance(exc, InputError) and not isinstance(exc, AccessError) else 409
        if isinstance(exc, AccessError) or str(exc).startswith(MISSING):
            status = 404
        return self.render(request, name, status, error=str(exc), **context)


class RowId(Convertor):
    """A path segment naming a row: at most 18 digits, so it always fits a 64-bit id (else 404)."""

    regex = "[0-9]{1,18}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("id", RowId())


def redirect(path: str, done: str = "") -> RedirectResponse:
    return RedirectResponse(path + (f"?done={done}" if done else ""), status_code=303)


async def form_of(request: Request) -> list[tuple[str, str]]:
    """The posted form's fields in order (the guard has checked its size and CSRF token already)."""
    body = await request.body()
    return parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)


def field(fields: list[tuple[str, str]], name: str, default: str = "") -> str:
    return next((v for k, v in fields if k == name), default)


def number(value: str | None, default: int | None = None) -> int | None:
    """A whole number of at most 18 digits (it fits a 64-bit id), else `default`."""
    text = (value or "").strip()
    return int(text) if text.isdigit() and len(text) <= 18 else default


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(kinds=KINDS, outcomes=OUTCOMES)
    return env
