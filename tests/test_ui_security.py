"""The review page's guard over HTTP (Starlette's TestClient against a real bank): the launch token,
Host and Origin checked exactly, CSRF on every write, nothing changed by a refused request, and
memory text (hostile HTML included) rendered inert under a strict Content-Security-Policy."""

from __future__ import annotations

from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from conftest import good_item
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route
from starlette.testclient import TestClient

from rb_mcp.clock import now
from rb_mcp.loop.bank import Bank
from rb_mcp.loop.review import ItemPage
from rb_mcp.loop.transfer import export_lines
from rb_mcp.models import MemoryItem, Trajectory
from rb_mcp.ui.app import build_app
from rb_mcp.ui.security import CSP, Launch, loopback
from rb_mcp.ui.view import environment

BOTH_BACKENDS = True
PORT = 18766
HOSTILE = {
    "title": "<script>alert('title')</script> Reproduce before patching",
    "description": '<img src=x onerror="window.__pwned=1"> when a parser fails',
    "content": '<a href="javascript:alert(1)">click</a> <svg onload=alert(2)></svg> </textarea><b>bold</b>'
    "{{ 7*7 }} ${7*7} ' \" & end",
}


def make_ui(bank: Bank, cookie: bool = True) -> SimpleNamespace:
    launch = Launch.new("127.0.0.1", PORT)
    client = TestClient(build_app(bank, launch), base_url=f"http://127.0.0.1:{PORT}")
    if cookie:
        client.cookies.set(launch.cookie, launch.token)

    def post(path: str, data: dict | None = None, csrf: bool = True, **headers: str):
        form = {**({"csrf": launch.csrf} if csrf else {}), **(data or {})}
        return client.post(
            path, data=form, headers={"origin": launch.origin, **headers}, follow_redirects=False
        )

    return SimpleNamespace(client=client, launch=launch, post=post, bank=bank)


def seed(bank: Bank) -> tuple[int, int]:
    """One item (with a recall of it) and one pending trajectory; their ids."""
    r = bank.record(task="Parser crashes on empty input", steps=["wrote a repro"], outcome="success",
                    items=[good_item(1)])  # fmt: skip
    bank.recall("parser fails on an empty string")
    pending = bank.record(task="Pagination returns duplicate rows across pages", summary="sort did not help")
    return r.stored[0].id, pending.trajectory_id


def snapshot(bank: Bank) -> list[str]:
    return list(export_lines(bank))


GETS = ["/", "/?q=parser", "/recall?task=parser+crash", "/items/{item}", "/items/{item}/edit", "/items/{item}/forget",
        "/inbox", "/pending", "/trajectories/{traj}", "/effect", "/static/app.css", "/static/app.js"]  # fmt: skip


def test_no_token_is_403_everywhere(bank: Bank):
    item, traj = seed(bank)
    ui = make_ui(bank, cookie=False)
    for path in GETS:
        r = ui.client.get(path.format(item=item, traj=traj))
        assert r.status_code == 403, path
        assert "rb-mcp ui" in r.text and good_item(1)["title"] not in r.text  # nothing of the bank
    ui.client.cookies.set(ui.launch.cookie, "not-the-token")
    assert ui.client.get("/").status_code == 403
    assert ui.client.get("/?token=wrong").status_code == 403
    before = snapshot(bank)
    assert ui.post(f"/items/{item}/archive").status_code == 403
    assert snapshot(bank) == before


def test_the_printed_address_sets_a_strict_cookie_and_drops_the_token(bank: Bank):
    seed(bank)
    ui = make_ui(bank, cookie=False)
    r = ui.client.get(f"/inbox?token={ui.launch.token}&page=1", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/inbox?page=1"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{ui.launch.cookie}={ui.launch.token};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert ui.client.get("/inbox").status_code == 200  # the client kept the cookie
    again = ui.client.get(f"/?token={ui.launch.token}", follow_redirects=False)
    assert (
        again.status_code == 303 and again.headers["location"] == "/"
    )  # the token never stays in the address
    assert ui.launch.token not in ui.client.get("/").text  # never echoed into a page


def test_host_must_be_exactly_the_printed_one(bank: Bank):
    ui = make_ui(bank)
    for host in (
        "localhost:18766",
        "127.0.0.1:1",
        "127.0.0.1",
        "evil.example",
        "127.0.0.1:18766.evil.example",
    ):
        assert ui.client.get("/", headers={"host": host}).status_code == 421, host
    assert ui.client.get("/").status_code == 200


def test_another_origin_changes_nothing(bank: Bank):
    item, _ = seed(bank)
    ui = make_ui(bank)
    before = snapshot(bank)
    for origin in ("http://evil.example", "http://127.0.0.1:1", "null", f"https://127.0.0.1:{PORT}"):
        assert ui.client.get("/", headers={"origin": origin}).status_code == 403, origin
        assert ui.post(f"/items/{item}/archive", origin=origin).status_code == 403, origin
    no_origin = ui.client.post(
        f"/items/{item}/archive", data={"csrf": ui.launch.csrf}, follow_redirects=False
    )
    assert no_origin.status_code == 403
    assert ui.post(f"/items/{item}/archive", **{"sec-fetch-site": "cross-site"}).status_code == 403
    assert ui.post(f"/items/{item}/archive", **{"x-forwarded-for": "10.0.0.1"}).status_code == 403
    assert snapshot(bank) == before
    assert ui.post(f"/items/{item}/archive").status_code == 303  # the same request from the page works
    assert snapshot(bank) != before


def _post_routes(ui: SimpleNamespace, item: int, traj: int) -> list[str]:
    routes = ui.client.app.app.routes
    paths = [r.path for r in routes if isinstance(r, Route) and "POST" in (r.methods or ())]
    assert len(paths) >= 10
    return [p.replace("{item_id:id}", str(item)).replace("{trajectory_id:id}", str(traj)) for p in paths]


def test_every_write_needs_the_csrf_token(bank: Bank):
    item, traj = seed(bank)
    ui = make_ui(bank)
    fields = {"confirm": "forget", "into": str(item), "only": f"{item}@x", "outcome": "failure",
              "updated_at": "x", "title": "t", "description": "d", "content": "c", "kind": "note"}  # fmt: skip
    before = snapshot(bank)
    for path in _post_routes(ui, item, traj):
        assert ui.post(path, fields, csrf=False).status_code == 403, path
        assert ui.post(path, {**fields, "csrf": "wrong"}, csrf=False).status_code == 403, path
    assert snapshot(bank) == before


def test_only_forms_of_bounded_size_and_no_other_methods(bank: Bank):
    item, _ = seed(bank)
    ui = make_ui(bank)
    before = snapshot(bank)
    for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
        assert ui.client.request(method, f"/items/{item}/archive").status_code == 405
    r = ui.client.post(
        f"/items/{item}/archive", json={"csrf": ui.launch.csrf}, headers={"origin": ui.launch.origin}
    )
    assert r.status_code == 415
    assert ui.post(f"/items/{item}/edit", {"content": "x" * 300_000}).status_code == 413
    assert snapshot(bank) == before


def test_every_response_carries_the_strict_headers(bank: Bank):
    item, _ = seed(bank)
    ui = make_ui(bank)
    for r in (ui.client.get("/"), ui.client.get(f"/items/{item}"), ui.client.get("/static/app.js"),
              ui.client.get("/items/999999"), make_ui(bank, cookie=False).client.get("/"),
              ui.client.get("/", headers={"host": "evil.example"}), ui.post(f"/items/{item}/approve", {})):  # fmt: skip
        assert r.headers["content-security-policy"] == CSP
        assert "'unsafe-inline'" not in CSP and "default-src 'self'" in CSP
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["cache-control"] == "no-store"


def test_ids_that_fit_no_row_are_not_found(bank: Bank):
    item, _ = seed(bank)
    ui = make_ui(bank)
    huge = "9" * 40
    for path in (f"/items/{huge}", f"/items/{huge}/edit", f"/trajectories/{huge}", "/items/-1"):
        assert ui.client.get(path).status_code == 404, path
    before = snapshot(bank)
    assert ui.post(f"/items/{huge}/archive").status_code == 404
    assert ui.post(f"/items/{item}/merge", {"into": huge}).status_code == 422
    assert ui.post("/inbox/approve", {"item": f"{huge}@x"}).status_code == 422
    assert ui.client.get(f"/?page={huge}").status_code == 200
    assert snapshot(bank) == before


def test_only_loopback_hosts():
    assert loopback("127.0.0.1") == "127.0.0.1" and loopback("localhost") == "127.0.0.1"
    assert loopback("::1") == "::1" and loopback("[::1]") == "::1" and loopback("127.0.0.2") == "127.0.0.2"
    for host in ("0.0.0.0", "::", "192.168.1.4", "example.com", "10.0.0.1", ""):
        with pytest.raises(ValueError, match="loopback"):
            loopback(host)


# ---- memory text is untrusted ------------------------------------------------------------------
class Audit(HTMLParser):
    """Everything in a page that could run code: script tags, on* handlers, javascript: URLs, styles."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.scripts: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts.append(dict(attrs).get("src"))
        for name, value in attrs:
            low = (value or "").strip().lower()
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action", "formaction", "xlink:href") and not (
                low.startswith("/") or low.startswith("?") or low == ""
            ):
                self.problems.append(f"<{tag} {name}={value!r}>")
            if name == "style":
                self.problems.append(f"<{tag} style=...>")
        if tag in ("iframe", "object", "embed", "base", "frame"):
            self.problems.append(f"<{tag}>")


def assert_inert(html: str) -> None:
    audit = Audit()
    audit.feed(html)
    assert not audit.problems, audit.problems
    assert audit.scripts == ["/static/app.js"], audit.scripts
    assert "<script>alert" not in html


def test_hostile_item_text_is_rendered_inert(bank: Bank):
    store = bank.store
    bank.ready_vectors()
    vec = bank.embedder.embed(["hostile"])[0]
    with store.transaction() as tx:  # straight into the store: an import or an old bank can hold anything
        item_id = store.insert_item(tx, **HOSTILE, kind="pitfall", scope="<b>scope</b>", trajectory_id=None,
                                    files=['"><img src=x onerror=alert(3)>'], tags=["<i>t</i>"], vec=vec,
                                    digest="d" * 64, stamp=now())  # fmt: skip
        store.index_item(tx, item_id)
    pending = bank.record(
        task="<script>alert('task')</script> fix the parser", summary="<img src=x onerror=alert(4)>"
    )
    bank.recall("Reproduce before patching when a parser fails")
    ui = make_ui(bank)
    pages = ["/", "/?q=parser", f"/items/{item_id}", f"/items/{item_id}/edit", f"/items/{item_id}/forget", "/inbox",
             "/pending", f"/trajectories/{pending.trajectory_id}", "/effect",
             "/recall?task=Reproduce+before+patching+when+a+parser+fails&project=%3Cb%3Escope%3C%2Fb%3E",
             "/?q=%3Cscript%3Ealert(1)%3C/script%3E&project=%22%3E%3Cscript%3E"]  # fmt: skip
    for path in pages:
        r = ui.client.get(path)
        assert r.status_code == 200, path
        assert_inert(r.text)
    page = ui.client.get(f"/items/{item_id}").text
    assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=" in page and "&lt;a href=&#34;javascript:alert(1)&#34;&gt;" in page
    assert "{{ 7*7 }}" in page and "${7*7}" in page  # printed, never evaluated


def _item_page(text: str) -> ItemPage:
    stamp = now()
    item = MemoryItem(id=7, title=text or "t", description=text, content=text, kind="note", scope=text or "s",
                      files=[text], tags=[text], created_at=stamp, updated_at=stamp)  # fmt: skip
    traj = Trajectory(id=3, task=text or "t", project=text, summary=text, rationale=text, files=[text],
                      steps=[{"thought": text, "action": text, "observation": text}], status="distilled",
                      outcome="failure", created_at=stamp, updated_at=stamp)  # fmt: skip
    history = [{"title": text, "description": text, "content": text, "reason": text, "changed_at": stamp}]
    return ItemPage(item=item, held=True, reviewed_at=None, history=history, sources=[traj], recalls=[],
                    merged=[{"id": 8, "title": text, "merged_at": stamp}])  # fmt: skip


PIECES = st.sampled_from(["<", ">", '"', "'", "&", "=", "/", ":", ";", "(", ")", " ", "{{", "}}", "%", "$", "`",
                         "\\", "\n", "script", "onerror", "javascript", "svg", "img", "a", "x", "<!--", "-->",
                         "</textarea>", "]]>"])  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.lists(PIECES, max_size=30).map("".join) | st.text(max_size=80))
def test_any_memory_text_renders_inert(text: str):
    env = environment()
    html = env.get_template("item.html").render(
        page=_item_page(text), csrf="c", counts={"inbox": 0, "pending": 0}, label="bank", review="off",
        notice="", error=text, path="/items/7", section="items",
    )  # fmt: skip
    assert_inert(html)
