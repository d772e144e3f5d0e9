"""The review loop as plain functions, on SQLite and PostgreSQL: required review holds new items out of
recall, approval lets them in, merges never rewrite reviewed wording then; the review state survives an
export and an upgrade; the review page's effect numbers are `rb_mcp.loop.effect.effect_stats`."""

from __future__ import annotations

import io

import pytest
from test_ui_pages import CURSOR, FLAKY_TASK, PIN, READY, titles

from rb_mcp.errors import BankError, GateError, InputError
from rb_mcp.loop.bank import Bank
from rb_mcp.loop.effect import effect_stats
from rb_mcp.loop.transfer import export_to, import_from
from rb_mcp.models import EffectReport
from rb_mcp.store import migrations, open_store
from rb_mcp.store import pg_migrations as pgmigrations

BOTH_BACKENDS = True


def required(bank: Bank) -> Bank:
    bank.config = bank.config.replace(review="required")
    return bank


def test_review_off_recalls_new_items_at_once_and_lists_them_as_unreviewed(bank: Bank):
    r = bank.record(task="Fix flaky upload test", summary="probe", outcome="success", items=[READY])
    assert "approval" not in r.next_step
    assert titles(bank, FLAKY_TASK) == [READY["title"]]
    inbox = bank.inbox()
    assert [(row.item.id, row.held, row.unreviewed) for row in inbox.items] == [(r.stored[0].id, False, True)]


def test_required_review_holds_until_approved_and_says_so(bank: Bank):
    required(bank)
    r = bank.record(task="Fix flaky upload test", summary="probe", outcome="success", items=[READY])
    assert r.next_step.startswith("Done: the memory is stored.") and "RB_MCP_REVIEW=required" in r.next_step
    item = bank.item_page(r.stored[0].id)
    assert item.held and item.reviewed_at is None
    assert titles(bank, FLAKY_TASK) == [] and bank.preview_recall(FLAKY_TASK).items == []
    assert bank.approve([(item.item.id, "an older version")]) == []  # approving what was not shown
    assert bank.approve([(item.item.id, item.item.updated_at)]) == [item.item.id]
    assert titles(bank, FLAKY_TASK) == [READY["title"]]
    assert bank.review_counts()["inbox"] == 0


def test_required_review_keeps_the_approved_wording_when_an_agent_merges(bank: Bank):
    required(bank)
    first = bank.record(task="Fix flaky upload test", summary="probe", outcome="success", items=[READY])
    item_id = first.stored[0].id
    page = bank.item_page(item_id)
    bank.approve([(item_id, page.item.updated_at)])
    fuller = {**READY, "content": READY["content"] + " Log each probe attempt with its latency, and fail with "
              "the last answer so that a slow start shows up in the CI log instead of as a timeout."}  # fmt: skip
    merged = bank.record(task="Another flaky test", summary="probe", outcome="success", items=[fuller])
    assert merged.stored[0].action == "merged" and "approval" not in merged.next_step
    after = bank.item_page(item_id)
    assert after.item.content == READY["content"] and after.item.strength == 2  # wording kept, strength grew
    assert (
        after.history[-1]["content"] == fuller["content"] and after.history[-1]["reason"] == "merged variant"
    )
    assert not after.held and titles(bank, FLAKY_TASK) == [READY["title"]]  # still recalled
    assert bank.review_counts()["inbox"] == 1  # but changed: back in the inbox


def test_off_lets_a_fuller_merge_rewrite(bank: Bank):
    first = bank.record(task="Fix flaky upload test", summary="probe", outcome="success", items=[READY])
    fuller = {**READY, "content": READY["content"] + " Log each probe attempt with its latency, and fail with "
              "the last answer so that a slow start shows up in the CI log instead of as a timeout."}  # fmt: skip
    bank.record(task="Another flaky test", summary="probe", outcome="success", items=[fuller])
    assert bank.item_page(first.stored[0].id).item.content == fuller["content"]


def test_edit_is_gated_redacted_and_kept_in_history(bank: Bank):
    item_id = bank.record(task="t", summary="s", outcome="success", items=[READY]).stored[0].id
    seen = bank.item_page(item_id).item.updated_at
    with pytest.raises(GateError, match="content"):
        bank.edit_item(item_id, READY["title"], READY["description"], "too short", "strategy", seen)
    with pytest.raises(InputError, match="title"):
        bank.edit_item(item_id, "x" * 500, READY["description"], READY["content"], "strategy", seen)
    assert (
        bank.edit_item(item_id, READY["title"], READY["description"], READY["content"], "strategy", seen)
        is False
    )
    assert bank.edit_item(item_id, CURSOR["title"], CURSOR["description"], CURSOR["content"], "pitfall", seen)
    page = bank.item_page(item_id)
    assert page.item.kind == "pitfall" and page.reviewed_at == page.item.updated_at and not page.held
    assert page.history[-1] == {**{k: READY[k] for k in ("title", "description", "content")},
                                "reason": "edited by a person", "changed_at": page.item.updated_at}  # fmt: skip
    assert titles(bank, "page two repeats rows from page one when ordering by date") == [CURSOR["title"]]
    assert titles(bank, FLAKY_TASK) == []  # the old wording is no longer found
    with pytest.raises(BankError, match="changed since you opened it"):
        bank.edit_item(item_id, PIN["title"], PIN["description"], PIN["content"], "strategy", seen)
    assert bank.store.consistency_problems() == []


def test_merge_restore_and_dismiss(bank: Bank):
    a = bank.record(task="t1", summary="s", outcome="success", items=[READY]).stored[0].id
    b = bank.record(task="t2", summary="s", outcome="success", items=[PIN]).stored[0].id
    bank.merge_items(a, b)
    assert bank.item_page(a).item.status == "superseded" and bank.item_page(b).item.strength == 2
    assert titles(bank, FLAKY_TASK) == [] and bank.store.consistency_problems() == []
    bank.restore_item(a)
    assert titles(bank, FLAKY_TASK) == [READY["title"]] and bank.item_page(a).item.superseded_by is None
    with pytest.raises(BankError, match="only archived or merged"):
        bank.restore_item(a)
    with pytest.raises(InputError, match="itself"):
        bank.merge_items(a, a)
    t = bank.record(task="Rename the settings module", summary="done")
    bank.dismiss(t.trajectory_id)
    assert bank.pending() == ([], 0) and bank.trajectory(t.trajectory_id).status == "distilled"
    with pytest.raises(BankError, match="not waiting"):
        bank.judge(t.trajectory_id, "success")
    assert bank.store.consistency_problems() == []


def test_review_state_survives_export_and_import(bank: Bank, embedder, tmp_path):
    required(bank)
    held = bank.record(task="t1", summary="s", outcome="success", items=[READY]).stored[0].id
    approved = bank.record(task="t2", summary="s", outcome="success", items=[PIN]).stored[0].id
    bank.approve([(approved, bank.item_page(approved).item.updated_at)])
    out = io.StringIO()
    export_to(bank, out)
    with Bank(bank.config.replace(bank=tmp_path / "copy.sqlite3"), embedder=embedder) as other:
        other.default_project = None
        import_from(other, out.getvalue().splitlines())
        assert other.item_page(held).held and other.item_page(held).reviewed_at is None
        copied = other.item_page(approved)
        assert not copied.held and copied.reviewed_at == bank.item_page(approved).reviewed_at
        assert titles(other, FLAKY_TASK) == []  # a held item stays out of recall in the copy


def test_an_export_from_before_review_state_imports_unreviewed(bank: Bank, embedder, tmp_path):
    bank.record(task="t1", summary="s", outcome="success", items=[READY])
    out = io.StringIO()
    export_to(bank, out)
    old = out.getvalue().replace(', "reviewed_at": null, "held": 0', "")
    assert '"held"' not in old and '"reviewed_at"' not in old
    with Bank(bank.config.replace(bank=tmp_path / "copy.sqlite3"), embedder=embedder) as other:
        other.default_project = None
        import_from(other, old.splitlines())
        assert [(row.held, row.unreviewed) for row in other.inbox().items] == [(False, True)]
        assert titles(other, FLAKY_TASK) == [READY["title"]]


def test_migration_numbers_may_leave_a_gap(tmp_path, monkeypatch):
    """Migration 6 (SQLite) and 5 (PostgreSQL) sit between others: the runner applies what is missing, in order."""
    assert [n for n, _, _ in migrations.MIGRATIONS] == sorted(n for n, _, _ in migrations.MIGRATIONS)
    assert migrations.LATEST == 8 and pgmigrations.LATEST == 7
    assert 6 in {n for n, _, _ in migrations.MIGRATIONS} and 5 in {n for n, _, _ in pgmigrations.MIGRATIONS}
    path = tmp_path / "old.sqlite3"
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:3])
    old = open_store(path)
    assert old.schema_version == 3
    old.close()
    monkeypatch.undo()
    new = open_store(path)
    try:
        assert new.schema_version == migrations.LATEST and new.inbox_count() == 0
        assert new.browse_item_ids() == ([], 0)
    finally:
        new.close()


# ---- the effect of memory ------------------------------------------------------------------------
def test_effect_stats_compare_tasks_with_and_without_memory(bank: Bank):
    empty = effect_stats(bank)
    assert isinstance(empty, EffectReport) and all(a.rate is None for a in empty.overall.arms)
    item_id = (
        bank.record(task="Fix flaky upload test", summary="probe", outcome="success", items=[READY])
        .stored[0]
        .id
    )
    for n, outcome in enumerate(("success", "success", "failure")):
        rec = bank.recall(FLAKY_TASK)
        assert rec.items
        bank.record(
            task=f"{FLAKY_TASK} ({n})", summary="s", outcome=outcome, recall_id=rec.recall_id, items=[]
        )
    nothing = bank.recall("Translate the landing page into Japanese")
    assert not nothing.items
    bank.record(
        task="Translate the landing page",
        summary="s",
        outcome="failure",
        recall_id=nothing.recall_id,
        items=[],
    )
    bank.record(task="Rename a module", summary="s", outcome="impossible", items=[])
    bank.record(task="Still running", summary="s")  # no verdict: not counted
    stats = bank.effect()  # the review page's numbers are rb_mcp.loop.effect's
    arms = {a.arm: a for a in stats.overall.arms}
    assert (arms["memory"].successes, arms["memory"].failures) == (2, 1)
    assert (arms["without"].successes, arms["without"].failures, arms["without"].impossible) == (1, 1, 1)
    assert arms["control"].trajectories == 0 and arms["control"].rate is None
    assert arms["memory"].rate == pytest.approx(2 / 3, abs=1e-4) and arms["without"].rate == 0.5
    diff = next(d for d in stats.overall.comparisons if (d.arm, d.versus) == ("memory", "without"))
    assert diff.difference == pytest.approx(1 / 6, abs=1e-3) and not diff.randomized
    assert [(i.id, i.helped, i.harmed) for i in stats.most_helped] == [(item_id, 2, 1)]
    assert [i.id for i in stats.most_harmed] == [item_id]


def test_stats_effect_on_the_command_line(isolated_env):
    import json
    import subprocess
    import sys

    def rb(*args):
        return subprocess.run([sys.executable, "-m", "rb_mcp", *args], env=isolated_env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip

    assert rb("record", "--task", "Parser crashes", "--summary", "s", "--outcome", "failure").returncode == 0
    out = rb("stats", "--effect", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    arms = {a["arm"]: a for a in data["overall"]["arms"]}
    assert arms["without"]["failures"] == 1 and arms["memory"]["trajectories"] == 0
    assert set(data) == set(EffectReport.model_fields)


def test_the_pending_count_is_the_queue(bank: Bank):
    bank.record(task="Pagination returns duplicate rows", summary="in progress")
    judged = bank.record(task="Upgrade the ORM", summary="done", outcome="success")
    bank.refine("Upgrade the ORM", "bumped the version; two migrations fail", "sequential", group_id="orm")
    bank.record(task="Export hangs", summary="a", outcome="failure", group_id="orm-par")
    assert judged.status == "needs_items"
    assert bank.review_counts()["pending"] == len(bank.store.pending_trajectories()) == 3


def test_an_edit_is_a_review_and_lets_a_held_item_into_recall(bank: Bank):
    required(bank)
    item_id = bank.record(task="t", summary="s", outcome="success", items=[READY]).stored[0].id
    assert titles(bank, FLAKY_TASK) == []
    seen = bank.item_page(item_id).item.updated_at
    assert bank.edit_item(item_id, READY["title"], READY["description"], READY["content"], "pitfall", seen)
    page = bank.item_page(item_id)
    assert not page.held and page.reviewed_at == page.item.updated_at
    assert titles(bank, FLAKY_TASK) == [READY["title"]] and bank.review_counts()["inbox"] == 0
