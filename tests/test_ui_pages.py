"""Every page and action of the review page over HTTP, against real SQLite and PostgreSQL banks: what a
person sees, and that each change reaches what the agent's next recall returns."""

from __future__ import annotations

import html
import re

from test_ui_security import make_ui, seed

from rb_mcp.loop.bank import Bank

BOTH_BACKENDS = True

READY = {
    "title": "Wait for readiness instead of sleeping when tests depend on a mock service",
    "description": "Intermittent timeouts around mock services usually mean the test starts before the service is ready.",
    "content": "Loop the test to reproduce the flake, correlate failures with service start-up, then replace fixed "
    "sleeps with a readiness probe on a health endpoint or port with a bounded timeout.",
}
CURSOR = {
    "title": "Keyset pagination needs a unique cursor",
    "description": "Sorting by a non-unique column duplicates rows across pages unless the cursor has a tiebreaker.",
    "content": "Order by the timestamp and the primary key together and encode both in the cursor; compare the "
    "tuple in the where clause and test with rows sharing a timestamp.",
}
PIN = {
    "title": "Pin the transitive dependency that broke the build",
    "description": "A build that breaks without a code change usually means an unpinned dependency released.",
    "content": "Diff the resolved dependency versions of the last green and the first red build, pin the one that "
    "moved, then open an issue upstream and schedule the unpinning once it is fixed.",
}
LESSONS = [READY, CURSOR, PIN]
FLAKY_TASK = "Integration test hangs randomly until the mock service is ready"


def titles(bank: Bank, task: str, project: str | None = None) -> list[str]:
    return [h.title for h in bank.recall(task, project).items]


def item_of(bank: Bank, item_id: int):
    return bank.item_page(item_id).item


def test_items_list_search_filters_and_sorts(bank: Bank):
    a = bank.record(
        task="Fix flaky upload test", summary="probe", outcome="success", items=[READY], project="acme/shop"
    )
    b = bank.record(
        task="Pagination duplicates", summary="cursor", outcome="failure", items=[CURSOR], project="global"
    )
    ui = make_ui(bank)
    page = ui.client.get("/").text
    assert READY["title"] in page and CURSOR["title"] in page and "2 items" in page
    found = ui.client.get("/?q=readiness+probe").text
    assert READY["title"] in found and CURSOR["title"] not in found
    assert CURSOR["title"] not in ui.client.get("/?kind=strategy").text
    assert READY["title"] not in ui.client.get("/?project=global").text
    assert 'value="acme/shop" selected' in ui.client.get("/?project=acme/shop").text
    bank.forget([b.stored[0].id], hard=False)
    assert CURSOR["title"] not in ui.client.get("/").text
    archived = ui.client.get("/?status=archived").text
    assert CURSOR["title"] in archived and READY["title"] not in archived
    assert CURSOR["title"] in ui.client.get("/?status=archived&q=tiebreaker").text  # words of archived items
    rec = bank.recall(FLAKY_TASK, project="acme/shop")
    bank.record(
        task=FLAKY_TASK, summary="fixed", outcome="success", recall_id=rec.recall_id, project="acme/shop"
    )
    helped = ui.client.get("/?sort=helped&status=any").text
    assert helped.index(READY["title"]) < helped.index(CURSOR["title"])
    assert a.stored[0].id != b.stored[0].id


def test_recall_preview_is_what_the_agent_gets_and_is_not_logged(bank: Bank):
    bank.record(task="Fix flaky upload test", summary="probe", outcome="success", items=[READY])
    ui = make_ui(bank)
    item_id = bank.items()[0].id
    before = bank.review_counts(), item_of(bank, item_id).recall_count
    page = ui.client.get("/recall", params={"task": FLAKY_TASK, "project": "global"}).text
    agent = bank.preview_recall(FLAKY_TASK, "global")
    assert READY["title"] in page and f"{agent.items[0].score:.1f}" in page
    assert "meaning (vector)" in page
    guidance = re.search(r'<pre class="guidance" data-testid="guidance">(.*?)</pre>', page, re.S).group(1)
    assert html.unescape(guidance) == agent.guidance
    assert (bank.review_counts(), item_of(bank, item_id).recall_count) == before  # nothing logged
    assert "task is empty" not in ui.client.get("/recall").text


def test_item_page_shows_history_sources_and_recalls(bank: Bank):
    r = bank.record(task="Fix flaky upload test", steps=["looped the test 20 times"], outcome="success",
                    rationale="50 runs green", items=[READY], files=["tests/test_upload.py"])  # fmt: skip
    item_id = r.stored[0].id
    rec = bank.recall(FLAKY_TASK)
    bank.record(task=FLAKY_TASK, summary="still flaky", outcome="failure", recall_id=rec.recall_id)
    ui = make_ui(bank)
    page = ui.client.get(f"/items/{item_id}").text
    assert READY["content"] in page and "tests/test_upload.py" in page
    assert "looped the test 20 times" in page and "50 runs green" in page  # the source trajectory
    assert FLAKY_TASK in page and "outcome-failure" in page  # the recall, and the verdict that followed
    assert "No earlier wording" in page
    assert ui.client.get("/items/424242").status_code == 404


def test_edit_reembeds_and_the_next_recall_uses_it(bank: Bank):
    r = bank.record(task="Fix flaky upload test", summary="probe", outcome="success", items=[READY])
    item_id = r.stored[0].id
    ui = make_ui(bank)
    assert 'name="title" value="' + READY["title"] in ui.client.get(f"/items/{item_id}/edit").text
    new = {"title": "Poll the service's health endpoint before the test talks to it",
           "description": READY["description"],
           "content": "Replace fixed sleeps with a bounded poll of the health endpoint; fail with the last "
           "status after the timeout so a slow start is visible in the log.",
           "kind": "strategy", "updated_at": item_of(bank, item_id).updated_at}  # fmt: skip
    resp = ui.post(f"/items/{item_id}/edit", new)
    assert resp.status_code == 303 and resp.headers["location"] == f"/items/{item_id}?done=edited"
    page = ui.client.get(resp.headers["location"]).text
    assert (
        "Saved: the item is re-embedded" in page and "edited by a person" in page and READY["content"] in page
    )
    assert titles(bank, "poll the health endpoint before running the test")[0] == new["title"]
    stored = item_of(bank, item_id)
    secret = {
        **new,
        "content": new["content"] + " Use token ghp_" + "a" * 36,
        "updated_at": stored.updated_at,
    }
    refused = ui.post(f"/items/{item_id}/edit", secret)  # redacted, then refused by the gate
    assert (
        refused.status_code == 422 and "redacted secret" in refused.text and item_of(bank, item_id) == stored
    )
    assert (
        ui.post(f"/items/{item_id}/edit", {**new, "updated_at": stored.updated_at})
        .headers["location"]
        .endswith("done=unchanged")
    )


def test_an_edit_the_gate_or_a_concurrent_change_refuses_writes_nothing(bank: Bank):
    r = bank.record(task="Fix flaky upload test", summary="probe", outcome="success", items=[READY])
    item_id = r.stored[0].id
    ui = make_ui(bank)
    old = item_of(bank, item_id)
    bad = {"title": "Fix it", "description": "", "content": "see /home/alice/app/main.py", "kind": "strategy",
           "updated_at": old.updated_at}  # fmt: skip
    resp = ui.post(f"/items/{item_id}/edit", bad)
    assert resp.status_code == 422 and "description: is empty" in resp.text
    assert "/home/alice/app/main.py" in resp.text  # the form keeps what was typed
    assert item_of(bank, item_id) == old
    bank.record(
        task="Another flaky test", summary="probe", outcome="success", items=[READY]
    )  # merges: changes it
    changed = item_of(bank, item_id)
    assert changed.updated_at != old.updated_at
    stale = ui.post(f"/items/{item_id}/edit", {**READY, "title": "Probe readiness, do not sleep, in service tests",
                                               "kind": "strategy", "updated_at": old.updated_at})  # fmt: skip
    assert stale.status_code == 409 and "changed since you opened it" in stale.text
    assert item_of(bank, item_id) == changed
    assert ui.post(f"/items/{item_id}/edit", {**READY, "kind": "recipe", "updated_at": ""}).status_code == 422


def test_archive_restore_promote_and_forget(bank: Bank):
    r = bank.record(
        task="Fix flaky upload test", summary="probe", outcome="success", items=[READY], project="acme/shop"
    )
    item_id = r.stored[0].id
    ui = make_ui(bank)
    assert READY["title"] in titles(bank, FLAKY_TASK, "acme/shop")
    assert ui.post(f"/items/{item_id}/archive").headers["location"] == f"/items/{item_id}?done=archived"
    assert READY["title"] not in titles(bank, FLAKY_TASK, "acme/shop")
    assert "Restore" in ui.client.get(f"/items/{item_id}").text
    assert ui.post(f"/items/{item_id}/restore").status_code == 303
    assert READY["title"] in titles(bank, FLAKY_TASK, "acme/shop")
    assert ui.post(f"/items/{item_id}/restore").status_code == 409  # already active
    assert (
        ui.post(f"/items/{item_id}/promote").status_code == 303 and item_of(bank, item_id).scope == "global"
    )
    assert READY["title"] in titles(bank, FLAKY_TASK)  # team memory: recalled without naming the project
    confirm = ui.client.get(f"/items/{item_id}/forget").text
    assert "Forget item" in confirm and 'name="confirm" value="forget"' in confirm
    assert ui.post(f"/items/{item_id}/forget").status_code == 422 and bank.item_page(item_id) is not None
    assert (
        ui.post(f"/items/{item_id}/forget", {"confirm": "forget"}).headers["location"] == "/?done=forgotten"
    )
    assert bank.item_page(item_id) is None and READY["title"] not in titles(bank, FLAKY_TASK)
    assert ui.post(f"/items/{item_id}/archive").status_code == 404


def test_merge_two_items(bank: Bank):
    a = (
        bank.record(task="Fix flaky upload test", summary="probe", outcome="success", items=[READY])
        .stored[0]
        .id
    )
    b = (
        bank.record(task="Pagination duplicates", summary="cursor", outcome="failure", items=[CURSOR])
        .stored[0]
        .id
    )
    ui = make_ui(bank)
    assert READY["title"] in titles(bank, FLAKY_TASK)
    assert ui.post(f"/items/{a}/merge", {"into": str(a)}).status_code == 422
    assert ui.post(f"/items/{a}/merge", {"into": "nope"}).status_code == 422
    assert ui.post(f"/items/{a}/merge", {"into": "999999"}).status_code == 404
    resp = ui.post(f"/items/{a}/merge", {"into": f"#{b}"})
    assert resp.headers["location"] == f"/items/{b}?done=merged"
    kept = bank.item_page(b)
    assert kept.item.strength == 2 and kept.history[-1]["title"] == READY["title"]
    assert [m.id for m in kept.merged] == [a] and item_of(bank, a).status == "superseded"
    assert READY["title"] not in titles(bank, FLAKY_TASK)
    assert "Merged into" in ui.client.get(f"/items/{a}").text
    assert ui.post(f"/items/{a}/merge", {"into": str(b)}).status_code == 409  # no longer active


def test_review_inbox_approve_one_many_and_stale(bank: Bank):
    ids = [bank.record(task=f"task {n}", summary="s", outcome="success", items=[lesson]).stored[0].id
           for n, lesson in enumerate(LESSONS)]  # fmt: skip
    ui = make_ui(bank)
    inbox = ui.client.get("/inbox").text
    assert all(lesson["title"] in inbox for lesson in LESSONS) and "3 waiting" in inbox
    first = item_of(bank, ids[0])
    resp = ui.post(f"/items/{ids[0]}/approve", {"updated_at": first.updated_at, "back": "inbox"})
    assert resp.headers["location"] == "/inbox?done=approved"
    assert READY["title"] not in ui.client.get("/inbox").text
    pairs = [f"{i}@{item_of(bank, i).updated_at}" for i in ids[1:]]
    assert ui.post("/inbox/approve", {"item": pairs}).headers["location"] == "/inbox?done=approved"
    assert bank.review_counts()["inbox"] == 0 and "Nothing to review" in ui.client.get("/inbox").text
    bank.record(task="task again", summary="s", outcome="success", items=[CURSOR])  # a merge changes it
    assert bank.review_counts()["inbox"] == 1  # changed since reviewed: back in the inbox
    stale = ui.post("/inbox/approve", {"only": pairs[0]})
    assert stale.headers["location"] == "/inbox?done=stale" and bank.review_counts()["inbox"] == 1
    assert ui.post("/inbox/approve", {}).status_code == 422
    archive = ui.post(f"/items/{ids[1]}/archive", {"back": "inbox"})
    assert (
        archive.headers["location"] == "/inbox?done=archived" and item_of(bank, ids[1]).status == "archived"
    )


def test_required_review_holds_new_items_out_of_recall_until_approved(bank: Bank):
    bank.config = bank.config.replace(review="required")
    r = bank.record(task="Fix flaky upload test", summary="probe", outcome="success", items=[READY])
    assert "wait for a person's approval in `rb-mcp ui`" in r.next_step
    assert titles(bank, FLAKY_TASK) == []
    ui = make_ui(bank)
    inbox = ui.client.get("/inbox").text
    assert "badge held" in inbox and "RB_MCP_REVIEW=required" in inbox
    item = item_of(bank, r.stored[0].id)
    assert "Approve (let it into recall)" in ui.client.get(f"/items/{item.id}").text
    ui.post(f"/items/{item.id}/approve", {"updated_at": item.updated_at})
    assert titles(bank, FLAKY_TASK) == [READY["title"]]


def test_pending_judge_with_lessons_verdict_only_nothing_learned_and_dismiss(bank: Bank):
    t1 = bank.record(
        task="Pagination returns duplicate rows across pages", summary="secondary sort did not help"
    )
    t2 = bank.record(task="Upgrade the ORM and fix the failing migrations", summary="in progress")
    t3 = bank.record(task="Rename the settings module", summary="done")
    ui = make_ui(bank)
    listed = ui.client.get("/pending").text
    assert all(
        t in listed for t in ("Pagination returns duplicate", "Upgrade the ORM", "Rename the settings")
    )
    form = ui.client.get(f"/trajectories/{t1.trajectory_id}").text
    assert 'name="outcome" value="failure"' in form and "secondary sort did not help" in form
    lesson = {f"{k}_1": v for k, v in CURSOR.items()}
    bad = ui.post(f"/trajectories/{t1.trajectory_id}/judge", {"outcome": "failure", "title_1": "Fix it",
                                                             "content_1": "x"})  # fmt: skip
    assert bad.status_code == 422 and "title" in bad.text and 'value="Fix it"' in bad.text
    assert (
        bank.trajectory(t1.trajectory_id).outcome is None
    )  # a refused lesson writes nothing, not even the verdict
    assert ui.post(f"/trajectories/{t1.trajectory_id}/judge", lesson).status_code == 422  # needs a verdict
    done = ui.post(
        f"/trajectories/{t1.trajectory_id}/judge", {"outcome": "failure", "rationale": "dupes", **lesson}
    )
    assert done.headers["location"] == "/pending?done=judged"
    assert bank.trajectory(t1.trajectory_id).status == "distilled"
    assert titles(bank, "page two repeats rows from page one when ordering by date") == [CURSOR["title"]]
    verdict = ui.post(f"/trajectories/{t2.trajectory_id}/judge", {"outcome": "success", "rationale": "green"})
    assert verdict.headers["location"] == f"/trajectories/{t2.trajectory_id}?done=verdict"
    assert bank.trajectory(t2.trajectory_id).status == "pending_items"
    assert "Judged" in ui.client.get(f"/trajectories/{t2.trajectory_id}").text
    nothing = ui.post(f"/trajectories/{t2.trajectory_id}/judge", {"none_learned": "yes"})
    assert nothing.headers["location"] == "/pending?done=judged"
    assert bank.trajectory(t2.trajectory_id).status == "distilled"
    assert (
        ui.post(f"/trajectories/{t3.trajectory_id}/dismiss").headers["location"] == "/pending?done=dismissed"
    )
    assert (
        bank.trajectory(t3.trajectory_id).status == "distilled"
        and bank.trajectory(t3.trajectory_id).outcome is None
    )
    assert ui.post(f"/trajectories/{t3.trajectory_id}/dismiss").status_code == 409
    assert "Nothing waits" in ui.client.get("/pending").text
    assert ui.client.get("/trajectories/999999").status_code == 404


def test_effect_page_draws_svg_charts(bank: Bank):
    item, _ = seed(bank)
    rec = bank.recall("parser fails on an empty string")
    bank.record(
        task="Parser fails on empty string", summary="fixed", outcome="success", recall_id=rec.recall_id
    )
    bank.record(task="Parser fails on a long string", summary="gave up", outcome="failure")
    ui = make_ui(bank)
    page = ui.client.get("/effect").text
    assert page.count("<svg") == 3 - page.count('class="empty"') and "<svg" in page
    assert "100%" in page and "50%" in page and "+50.0 pts" in page  # memory 1 of 1, without 1 of 2
    assert "95% CI" in page and "randomized" in page and "observational" in page
    assert f'href="/items/{item}"' in page  # the item that helped, linked from its bar
