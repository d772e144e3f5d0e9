"""The review page in a real headless Chromium driven by Playwright, against `rb-mcp ui` running as a
person runs it: open it with the token, search, open an item, edit it and see `rb-mcp recall` return
the new text, archive it and see it gone, approve a held item, judge a pending trajectory; a page
with a hostile item runs no script. The run also takes the README's screenshot.

Needs Chromium and Playwright: `apt-get install -y chromium` and `pip install playwright` (the test
extra has it; Playwright's own browser download is not needed). Set RB_MCP_TEST_CHROMIUM to use
another Chromium binary, and RB_MCP_UPDATE_SCREENSHOT=1 to write docs/review-page.png.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_ui_cli import first_line, rb
from test_ui_pages import CURSOR, PIN, READY

from rb_mcp.clock import now
from rb_mcp.config import Config
from rb_mcp.loop.bank import Bank

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("RB_MCP_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        sync_playwright is None or not Path(CHROMIUM).exists(),
        reason="needs a headless Chromium and Playwright: apt-get install -y chromium && pip install playwright "
        "(or point RB_MCP_TEST_CHROMIUM at a Chromium binary)",
    ),
]
PROJECT = "github.com/acme/shop"
TZ = {
    "title": "Compare timestamps in one time zone",
    "description": "Off-by-hours bugs around midnight come from comparing a local time with a UTC one.",
    "content": "Normalise both sides to UTC at the boundary where they enter the program, keep them aware of "
    "their zone, and add a test that runs with the process time zone set far from UTC.",
}
BISECT = {
    "title": "Bisect a regression with a script that exits 0 or 1",
    "description": "When a change broke behaviour somewhere in many commits, let git bisect find it.",
    "content": "Write a short script that reproduces the bug and exits non-zero on failure, then run git bisect "
    "run with it between the last good and the first bad commit, and read the culprit's diff.",
}
HOSTILE_TITLE = "<script>window.__pwned = 1; alert('x')</script> Guard the parser"


def _hostile(path: Path, embedder) -> int:
    """An item no agent could store (the gate refuses it), written straight into the bank while the page
    runs, as an import or an old bank could hold it."""
    with Bank(Config(bank=path, project=None, preload=False), embedder=embedder) as bank:
        bank.ready_vectors()
        store = bank.store
        with store.transaction() as tx:
            item_id = store.insert_item(
                tx, title=HOSTILE_TITLE, description='<img src=x onerror="window.__pwned=2">',
                content='<a href="javascript:window.__pwned=3">run</a><svg onload="window.__pwned=4"></svg>',
                kind="pitfall", scope="<b>hostile</b>", trajectory_id=None, files=['"><script>alert(5)</script>'],
                tags=[], vec=embedder.embed(["hostile"])[0], digest="0" * 64, stamp=now(),
            )  # fmt: skip
            store.index_item(tx, item_id)
    return item_id


def _seed(path: Path, embedder) -> dict[str, int]:
    config = Config(bank=path, project=None, preload=False)
    with Bank(config, embedder=embedder) as bank:
        bank.default_project = None
        ids = {}
        for name, item, project, files in (
            ("ready", READY, PROJECT, ["tests/test_upload.py", "tests/conftest.py"]),
            ("cursor", CURSOR, PROJECT, ["api/pagination.py"]),
            ("pin", PIN, "global", ["requirements.txt"]),
            ("tz", TZ, PROJECT, ["billing/invoice.py"]),
            ("bisect", BISECT, "global", []),
        ):
            r = bank.record(task=f"Fix: {item['description']}", steps=["reproduced", "fixed", "tests green"],
                            outcome="success", items=[item], project=project, files=files)  # fmt: skip
            ids[name] = r.stored[0].id
        for task, outcome in (("Integration test hangs until the mock service is ready", "success"),
                              ("Upload test times out on CI while the S3 mock starts", "success"),
                              ("Export job test flaky when the worker starts late", "failure")):  # fmt: skip
            rec = bank.recall(task, project=PROJECT)
            bank.record(task=task, summary="done", outcome=outcome, recall_id=rec.recall_id, project=PROJECT,
                        items=[])  # fmt: skip
        seen = bank.item_page(ids["pin"]).item.updated_at
        bank.approve([(ids["pin"], seen)])
        bank.record(task="Search results repeat after the second page", summary="tried a secondary sort",
                    project=PROJECT)  # fmt: skip
    return ids


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder) -> Iterator[SimpleNamespace]:
    home = tmp_path_factory.mktemp("ui-browser")
    bank = home / "bank.sqlite3"
    ids = _seed(bank, embedder)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RB_MCP_")}
    env.update(RB_MCP_BANK=str(bank), XDG_DATA_HOME=str(home / "data"), RB_MCP_LOG_LEVEL="WARNING",
               RB_MCP_PROJECT=PROJECT)  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "rb_mcp", "ui", "--no-browser"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        url = first_line(proc)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            yield SimpleNamespace(
                url=url,
                origin=url.split("/?")[0],
                env=env,
                ids=ids,
                browser=browser,
                bank=bank,
                embedder=embedder,
            )
            browser.close()
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.fixture
def page(server) -> Iterator[Page]:
    context = server.browser.new_context(viewport={"width": 1280, "height": 860})
    tab = context.new_page()
    tab.dialogs = []
    tab.on("dialog", lambda d: (tab.dialogs.append(d.message), d.accept()))
    tab.goto(server.url)
    yield tab
    context.close()


def recall(server, task: str) -> str:
    out = rb(server.env, "recall", task, "--json")
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_open_with_the_token_search_and_open_an_item(server, page: Page, tmp_path):
    expect(page.locator("h1")).to_have_text("Memory items")
    assert "token" not in page.url  # the address lost the token, the cookie holds it
    shot = (
        ROOT / "docs" / "review-page.png"
        if os.environ.get("RB_MCP_UPDATE_SCREENSHOT")
        else tmp_path / "p.png"
    )
    shot.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    page.fill("input[name=q]", "readiness probe")
    page.press("input[name=q]", "Enter")
    rows = page.locator("table.list a.title")
    expect(rows.first).to_have_text(READY["title"])
    assert CURSOR["title"] not in page.content()
    rows.first.click()
    expect(page.get_by_test_id("item-title")).to_have_text(READY["title"])
    expect(page.locator("body")).to_contain_text("Integration test hangs until the mock service is ready")


def test_edit_and_the_agents_next_recall_reflects_it(server, page: Page):
    page.goto(f"{server.origin}/items/{server.ids['tz']}")
    page.click("text=Edit")
    new = ("Normalise both sides to UTC where they enter the program, store them zone-aware, and run one test with "
           "the process time zone set to UTC+14 so a local comparison fails loudly.")  # fmt: skip
    page.fill("textarea[name=content]", new)
    page.click("button:has-text('Save')")
    expect(page.locator(".notice")).to_contain_text("re-embedded")
    expect(page.get_by_test_id("item-content")).to_have_text(new)
    assert new in recall(server, "invoice dates are off by a day around midnight")


def test_archive_and_it_is_gone_from_recall(server, page: Page):
    task = "Build broke overnight after a dependency released a new version"
    assert PIN["title"] in recall(server, task)
    page.goto(f"{server.origin}/items/{server.ids['pin']}")
    page.click("button:has-text('Archive')")
    expect(page.locator(".notice")).to_contain_text("Archived")
    assert PIN["title"] not in recall(server, task)


def test_approve_an_inbox_item(server, page: Page, tmp_path):
    lesson = {"title": "Retry only idempotent requests after a timeout",
              "description": "Retrying a request that changed state can apply it twice when the first try landed.",
              "content": "Before adding a retry, check that the call is idempotent or carries an idempotency key; "
              "retry with backoff and a bound, and log each attempt so duplicates can be traced."}  # fmt: skip
    items = tmp_path / "items.json"
    items.write_text(json.dumps([lesson]))
    held_env = {**server.env, "RB_MCP_REVIEW": "required"}
    out = rb(held_env, "record", "--task", "Payments were charged twice after a timeout", "--summary", "s",
             "--outcome", "failure", "--items", str(items))  # fmt: skip
    assert out.returncode == 0 and "approval" in json.loads(out.stdout)["next_step"]
    task = "A payment request timed out and the client retried it"
    assert lesson["title"] not in recall(server, task)
    page.goto(f"{server.origin}/inbox")
    row = page.locator("tr", has_text=lesson["title"])
    expect(row.locator(".badge.held")).to_be_visible()
    row.locator("button:has-text('Approve')").click()
    expect(page.locator(".notice")).to_have_text("Approved.")
    assert lesson["title"] in recall(server, task)


def test_judge_a_pending_trajectory(server, page: Page):
    page.goto(f"{server.origin}/pending")
    page.click("text=Search results repeat after the second page")
    page.check("input[name=outcome][value=failure]")
    page.fill("textarea[name=rationale]", "the secondary sort did not remove the duplicates")
    lesson = {"title": "Page with a cursor on a unique key, not an offset",
              "description": "Offset paging over rows that change or share a sort value repeats or skips rows.",
              "content": "Sort by the display column and a unique key together, hand the last pair to the next page "
              "as a cursor, and test with many rows that share the display value."}  # fmt: skip
    page.fill("input[name=title_1]", lesson["title"])
    page.fill("input[name=description_1]", lesson["description"])
    page.fill("textarea[name=content_1]", lesson["content"])
    page.click("button:has-text('Save')")
    expect(page.locator(".notice")).to_contain_text("Recorded")
    found = json.loads(recall(server, "the second page of search results shows rows from the first"))
    # The lesson is stored as its own item, or merged into the near-duplicate already there (consolidation):
    # then that item's strength rose and the lesson's wording is its text or in its history.
    stored = [i for i in found["items"] if i["title"] == lesson["title"]]
    if stored:
        assert stored[0]["kind"] == "pitfall"  # a lesson from a failure
    else:
        shown = json.loads(rb(server.env, "show", str(found["items"][0]["id"])).stdout)
        assert shown["strength"] >= 2, shown
        assert lesson["title"] in [h["title"] for h in shown["history"]] + [shown["title"]], shown


def test_a_page_with_a_hostile_item_runs_no_script(server, page: Page):
    hostile = _hostile(server.bank, server.embedder)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    for path in (f"/items/{hostile}", "/", "/?q=parser", "/inbox", "/effect",
                 "/recall?task=Guard+the+parser&project=%3Cb%3Ehostile%3C%2Fb%3E"):  # fmt: skip
        page.goto(server.origin + path)
        assert page.evaluate("window.__pwned") is None, path
        assert page.locator("a[href^='javascript'], [onerror], [onload], main script").count() == 0, path
    page.goto(f"{server.origin}/items/{hostile}")
    expect(page.get_by_test_id("item-title")).to_have_text(HOSTILE_TITLE)  # shown as text, not run
    expect(page.get_by_test_id("item-content")).to_contain_text('<a href="javascript:')
    assert page.dialogs == [] and violations == []
