"""The loop as plain functions: record (judge and distill round trips), recall, consolidation, credit, refine."""

from __future__ import annotations

import pytest
from conftest import good_item

from rb_mcp.errors import InputError
from rb_mcp.loop.bank import Bank

BOTH_BACKENDS = True  # each test using the bank runs on SQLite and on PostgreSQL (conftest)

FLAKY = "Fix flaky test that times out when the mock S3 server starts slowly in CI"
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
    "kind": "pitfall",
}


def test_one_call_record_then_recall(bank: Bank):
    r = bank.record(
        task=FLAKY, steps=["looped the test", "added readiness probe"], outcome="success", items=[READY]
    )
    assert r.status == "stored" and r.stored[0].action == "added"
    hit = bank.recall("Integration test hangs randomly until the database container is ready", k=3)
    assert hit.items and hit.items[0].title == READY["title"]
    assert hit.items[0].kind == "strategy"
    assert hit.items[0].provenance.trajectory_id == r.trajectory_id
    assert "Strategies that worked before" in hit.guidance
    assert f'recall_id="{hit.recall_id}"' in hit.guidance


def test_pending_judge_and_distill_round_trip(bank: Bank):
    r = bank.record(
        task="Pagination returns duplicate rows across pages", summary="secondary sort did not help"
    )
    assert (
        r.status == "needs_verdict" and "record_trajectory" in r.prompt and str(r.trajectory_id) in r.prompt
    )
    r2 = bank.record(trajectory_id=r.trajectory_id, outcome="failure", rationale="duplicates remain")
    assert r2.status == "needs_items" and "FAILED" in r2.prompt
    r3 = bank.record(trajectory_id=r.trajectory_id, items=[CURSOR])
    assert r3.status == "stored" and len(r3.stored) == 1
    assert bank.trajectory(r.trajectory_id).status == "distilled"
    hit = bank.recall("page two repeats rows from page one when ordering by date", kinds=["pitfall"])
    assert [h.title for h in hit.items] == [CURSOR["title"]]


def test_pending_trajectory_is_recalled_as_episode(bank: Bank):
    r = bank.record(
        task="Upgrade the ORM and fix the failing migrations", summary="in progress", files=["db/migrate.py"]
    )
    hit = bank.recall("Migrations fail after upgrading the ORM")
    assert [e.trajectory_id for e in hit.episodes] == [r.trajectory_id]
    assert hit.episodes[0].files == ["db/migrate.py"] and "Related past tasks" in hit.guidance


def test_items_need_outcome_and_limit(bank: Bank):
    with pytest.raises(InputError, match="verdict"):
        bank.record(task="t task", summary="s", items=[READY])
    with pytest.raises(InputError, match="at most 3"):
        bank.record(task="t task", summary="s", outcome="success", items=[good_item(i) for i in range(4)])
    with pytest.raises(InputError, match="steps .* or a summary"):
        bank.record(task="t task")
    with pytest.raises(InputError, match="trajectory_id 999 is unknown"):
        bank.record(trajectory_id=999, outcome="success")


def test_gate_rejection_keeps_trajectory_pending(bank: Bank):
    r = bank.record(task=FLAKY, summary="done", outcome="success")
    bad = dict(
        READY, content="Edit /home/alice/work/shop/tests/test_upload.py line 347 and commit 3f9a2b7c1d0e."
    )
    with pytest.raises(InputError, match="no item was stored"):
        bank.record(trajectory_id=r.trajectory_id, items=[bad])
    assert bank.trajectory(r.trajectory_id).status == "pending_items"
    ok = bank.record(trajectory_id=r.trajectory_id, items=[READY, bad])
    assert len(ok.stored) == 1 and len(ok.rejected) == 1 and ok.rejected[0].index == 1


def test_empty_items_closes_trajectory(bank: Bank):
    r = bank.record(task=FLAKY, summary="trivial", outcome="success", items=[])
    assert r.status == "stored" and r.stored == []
    assert bank.trajectory(r.trajectory_id).status == "distilled"


def test_near_duplicate_strengthens_instead_of_twin(bank: Bank):
    first = bank.record(task=FLAKY, summary="s", outcome="success", items=[READY]).stored[0]
    paraphrase = dict(
        READY,
        content="Loop the flaky test to reproduce it, correlate the failures with the service start-up, and "
        "replace fixed sleeps with a readiness probe on a health endpoint or port, with a bounded timeout and a "
        "clear error message when the service never comes up.",
    )
    second = bank.record(task=FLAKY + " again", summary="s", outcome="success", items=[paraphrase]).stored[0]
    assert second.action == "merged" and second.id == first.id
    row = bank.store.one("select strength, content from items where id = ?", (first.id,))
    assert row[0] == 2 and row[1] == paraphrase["content"]  # the fuller text wins
    history = bank.store.query("select content, reason from item_history where item_id = ?", (first.id,))
    assert history == [(READY["content"], "replaced by a fuller merge")]
    assert bank.store.one("select count(*) from items")[0] == 1
    assert bank.store.one("select count(*) from item_sources where item_id = ?", (first.id,))[0] == 2


def test_distinct_lessons_are_not_merged(bank: Bank):
    bank.record(task=FLAKY, summary="s", outcome="success", items=[READY])
    r = bank.record(task="Pagination duplicates", summary="s", outcome="failure", items=[CURSOR])
    assert r.stored[0].action == "added"


def test_credit_from_verdicts_changes_counts_and_rank(bank: Bank):
    bank.record(task=FLAKY, summary="s", outcome="success", items=[READY])
    recall = bank.recall("Test times out waiting for a mock service")
    item_id = recall.items[0].id
    r = bank.record(task="Test times out waiting for a mock service", summary="probe fixed it", outcome="success",
                    recall_id=recall.recall_id)  # fmt: skip
    assert item_id in r.credited
    again = bank.record(trajectory_id=r.trajectory_id, items=[])
    assert again.credited == []  # credit is given once per recall
    row = bank.store.one("select helped, harmed, recall_count from items where id = ?", (item_id,))
    assert row == (1, 0, 1)
    recall2 = bank.recall("Test times out waiting for a mock service")
    bank.record(task="x task", summary="s", outcome="failure", recall_id=recall2.recall_id)
    assert bank.store.one("select helped, harmed from items where id = ?", (item_id,)) == (1, 1)


def test_unknown_recall_id_is_an_input_error(bank: Bank):
    with pytest.raises(InputError, match="recall_id is unknown"):
        bank.record(task="t task", summary="s", recall_id="42")


def test_copied_recalled_text_is_rejected(bank: Bank):
    bank.record(task=FLAKY, summary="s", outcome="success", items=[READY])
    recall = bank.recall(FLAKY)
    r = bank.record(task=FLAKY, summary="s", outcome="success", recall_id=recall.recall_id)
    with pytest.raises(InputError, match="recalled"):
        bank.record(trajectory_id=r.trajectory_id, items=[dict(READY, title="Same lesson again please")])


def test_secrets_are_redacted_everywhere(bank: Bank):
    key = "AKIA" + "IOSFODNN7EXAMPLE"
    r = bank.record(
        task=f"Deploy with AWS_ACCESS_KEY_ID={key}",
        steps=[{"action": f"export AWS_ACCESS_KEY_ID={key}", "observation": "ok"}],
        summary=f"used {key}",
        outcome="success",
    )
    dump = "\n".join(str(row) for row in bank.store.query("select task, steps, summary from trajectories"))
    assert key not in dump and "REDACTED" in dump
    assert r.status == "needs_items"


def test_project_scoping_and_promotion(bank: Bank):
    from rb_mcp.loop.items import set_scope

    r = bank.record(task=FLAKY, summary="s", outcome="success", items=[READY], project="github.com/acme/shop")
    assert bank.recall(FLAKY, project="github.com/acme/shop").items
    assert not bank.recall(FLAKY, project="github.com/other/thing").items
    assert not bank.recall(FLAKY).items  # no project: global only
    set_scope(bank.store, r.stored[0].id, "global")
    assert bank.recall(FLAKY, project="github.com/other/thing").items


def test_project_items_come_before_global(bank: Bank):
    bank.record(task=FLAKY, summary="s", outcome="success", items=[READY])  # global
    local = dict(
        READY,
        title="Probe the emulator's port before the suite starts",
        content=READY["content"] + " Use the emulator's own status command.",
    )
    bank.record(task=FLAKY, summary="s", outcome="success", items=[local], project="acme/shop")
    hits = bank.recall(FLAKY, project="acme/shop", k=5).items
    assert hits[0].scope == "acme/shop"


def test_token_budget_bounds_guidance(bank: Bank):
    long = dict(READY, content=READY["content"] + " " + "Keep the probe bounded and log each retry. " * 60)
    bank.record(task=FLAKY, summary="s", outcome="success", items=[long])
    bank.record(task="Pagination", summary="s", outcome="failure", items=[CURSOR])
    bank.config = bank.config.__class__(**{**bank.config.__dict__, "token_budget": 150})
    r = bank.recall(FLAKY + " pagination cursor", k=5)
    assert len(r.guidance) < 150 * 4 + 400 and r.truncated


def test_similarity_floor(bank: Bank):
    bank.record(task=FLAKY, summary="s", outcome="success", items=[READY])
    assert bank.recall("bake a chocolate cake with fresh strawberries").items == []


def test_refine_sequential_keeps_notes_as_signals(bank: Bank):
    bank.record(task="Pagination", summary="s", outcome="failure", items=[CURSOR])
    r1 = bank.refine(
        task="Fix duplicate rows in paginated API", attempt="added ORDER BY created_at", mode="sequential"
    )
    assert r1.status == "check" and r1.iteration == 1 and CURSOR["title"] in r1.prompt
    r2 = bank.refine(task="Fix duplicate rows in paginated API", attempt="now ordering by (created_at, id)",
                     mode="sequential", group_id=r1.group_id)  # fmt: skip
    assert r2.iteration == 2 and "added ORDER BY created_at" in r2.prompt
    final = bank.record(task="Fix duplicate rows in paginated API", summary="cursor fixed", outcome="success",
                        group_id=r1.group_id)  # fmt: skip
    assert "INTERMEDIATE NOTES" in final.prompt and "ordering by (created_at, id)" in final.prompt


def test_refine_parallel_contrast(bank: Bank):
    task = "Integration test hangs randomly on CI"
    r = bank.refine(task=task, attempt="raised timeouts", mode="parallel", group_id="g1", outcome="failure")
    assert r.status == "needs_verdicts"
    r = bank.refine(task=task, attempt="waited for the worker readiness signal", mode="parallel", group_id="g1",
                    outcome="success")  # fmt: skip
    assert r.status == "contrast" and "-> SUCCESS" in r.prompt and "-> FAILURE" in r.prompt
    with pytest.raises(InputError, match="at most 5"):
        bank.refine(
            task=task, attempt="", mode="parallel", group_id="g1", items=[good_item(i) for i in range(6)]
        )
    r = bank.refine(task=task, attempt="", mode="parallel", group_id="g1", items=[READY])
    assert r.status == "stored"
    sources = bank.store.query("select trajectory_id from item_sources where item_id = ?", (r.stored[0].id,))
    assert len(sources) == 2


def test_parallel_needs_group(bank: Bank):
    with pytest.raises(InputError, match="group_id"):
        bank.refine(task="t task", attempt="a", mode="parallel")
