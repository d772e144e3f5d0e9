"""Nothing secret stored, nobody else's memory touched: the attack classes of the ids a caller sends.

- Secrets in identifier fields (`project`, `group_id`) are never stored, yet the id keeps working.
- Ids are capabilities: a `trajectory_id`, `recall_id` or `group_id` of another identity or another
  project acts on nothing, and foreign ids are refused with the very message unknown ones get.
- A refused call writes nothing.
- Strict input at the MCP edge: text is text, unknown arguments are named, prompts and resources
  refuse clearly.

Every test runs on SQLite and on PostgreSQL (conftest's `bank` and `config` fixtures).
"""

from __future__ import annotations

import json
import re
import sqlite3
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import pytest
from conftest import good_item
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from test_hostile import leaks, secrets_corpus

from rb_mcp import admin, ids, visibility
from rb_mcp.clock import now
from rb_mcp.errors import InputError
from rb_mcp.loop.bank import Bank
from rb_mcp.loop.transfer import export_lines
from rb_mcp.project import key_of
from rb_mcp.redact import find_secrets, redact
from rb_mcp.server.app import build_server
from rb_mcp.store import open_store
from rb_mcp.store.migrations import MIGRATIONS
from rb_mcp.visibility import Principal

BOTH_BACKENDS = True

ALICE = Principal("alice", None)
BOB = Principal("bob", frozenset({"acme/app"}))
TASK = "Parser crashes on empty input"
MARK = "the alice-only refinement marker"
FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip


def id_columns(bank: Bank) -> list[str]:
    """Every stored project, scope and group id."""
    store = bank.store
    found: list[str] = []
    for sql in (
        "select project from trajectories", "select group_id from trajectories", "select scope from items",
        "select project from recall_events", "select group_id from groups", "select project from groups",
    ):  # fmt: skip
        found += [r[0] for r in store.query(sql) if r[0] is not None]
    return found


def state(bank: Bank) -> tuple[dict[str, int], list[str]]:
    return bank.store.row_counts(), list(export_lines(bank))


# ---- 1. secrets in identifier fields ------------------------------------------------------------
def test_secrets_in_project_and_group_id_are_never_stored_yet_keep_working(bank: Bank, tmp_path: Path):
    corpus = secrets_corpus(seed=12)
    for n, (kind, (secret_text, _)) in enumerate(corpus.items()):
        project, group = f"acme/{kind} {secret_text}", f"attempts {secret_text}"
        stored = bank.record(task=f"{TASK} ({kind})", summary="s", outcome="success", project=project,
                             items=[good_item(n)])  # fmt: skip
        assert stored.stored, stored
        first = bank.refine(
            task=TASK, attempt="tried the lexer", mode="sequential", group_id=group, project=project
        )
        again = bank.refine(
            task=TASK, attempt="tried the parser", mode="sequential", group_id=group, project=project
        )
        assert (first.group_id, first.iteration, again.iteration) == (group, 1, 2)  # the same group
        assert "tried the lexer" in again.prompt
        hit = bank.recall(f"{TASK} ({kind})", project=project, k=5)
        assert stored.stored[0].id in [i.id for i in hit.items]  # the same project
        assert leaks(json.dumps(hit.model_dump(mode="json")).encode(), corpus) == []
        bank.refine(
            task=TASK, attempt="one try", mode="parallel", group_id=group, project=project, outcome="failure"
        )
    stats = admin.stats(bank).model_dump_json()
    assert leaks(stats.encode(), corpus) == []
    assert leaks("\n".join(export_lines(bank)).encode(), corpus) == []
    stored_ids = id_columns(bank)
    assert leaks("\n".join(stored_ids).encode(), corpus) == []
    assert all(redact(v) == v for v in stored_ids)
    if isinstance(bank.store.path, Path):  # every byte of the SQLite file: FTS rows, index partitions
        blob = b"".join(p.read_bytes() for p in bank.store.path.parent.glob(bank.store.path.name + "*"))
        assert leaks(blob, corpus) == []


def test_names_that_differ_only_in_their_secret_stay_apart(bank: Bank):
    a, b = "AKIA" + "Q" * 16, "AKIA" + "R" * 16
    one = bank.record(task=TASK, summary="s", outcome="success", items=[good_item(1)], project=f"acme/{a}")
    two = bank.record(task=TASK, summary="s", outcome="success", items=[good_item(1)], project=f"acme/{b}")
    scope_one, scope_two = (bank.trajectory(r.trajectory_id).project for r in (one, two))
    assert scope_one != scope_two and "[REDACTED:" in scope_one
    assert bank.scope_of(f"ACME/{a}") == bank.scope_of(f"acme/{a}") == scope_one != bank.scope_of("acme/x")
    assert bank.recall(TASK, project=f"acme/{b}").items[0].id == two.stored[0].id


@FUZZ
@given(
    prefix=st.text(max_size=30), suffix=st.text(max_size=30), secret=st.sampled_from(sorted(secrets_corpus()))
)
def test_stored_names_pass_redact_are_stable_and_bounded(prefix: str, suffix: str, secret: str):
    key = "k" * 64
    text = secrets_corpus()[secret][0]
    for raw in (f"{prefix} {text} {suffix}", prefix + suffix or "x"):
        name = ids.stored_name(raw, key, key_of, 300)
        assert redact(name) == name and len(name) <= 300
        assert ids.stored_name(raw, key, key_of, 300) == name
        group = ids.group_key(key, "alice", "acme/app", raw, 200)
        assert redact(group) == group and len(group) <= 200
        for _, start, end in find_secrets(raw):  # whatever the redactor finds never reaches a stored id
            assert raw[start:end].lower() not in name.lower() and raw[start:end].lower() not in group.lower()
        assert (
            group
            != ids.group_key(key, "bob", "acme/app", raw, 200)
            != ids.group_key(key, "alice", "b", raw, 200)
        )


# ---- 2. attempt groups belong to (identity, project) --------------------------------------------
def test_a_group_id_reused_in_another_project_is_another_group(bank: Bank):
    bank.refine(task=TASK, attempt=MARK, mode="sequential", group_id="g", project="acme/a")
    other = bank.refine(
        task=TASK, attempt="my own attempt", mode="sequential", group_id="g", project="acme/b"
    )
    assert other.iteration == 1 and MARK not in other.prompt
    for outcome in ("success", "failure"):
        bank.refine(task=TASK, attempt=f"{MARK} {outcome}", mode="parallel", group_id="p", project="acme/a",
                    outcome=outcome)  # fmt: skip
    lone = bank.refine(task=TASK, attempt="b's attempt", mode="parallel", group_id="p", project="acme/b",
                       outcome="failure")  # fmt: skip
    assert lone.status == "needs_verdicts" and [a.excerpt for a in lone.attempts] == [
        "1. action: b's attempt"
    ]
    pending = bank.record(task=TASK, summary="final attempt", group_id="g", project="acme/b")
    assert MARK not in pending.prompt
    assert len({g for g in id_columns(bank) if g.startswith("g~") or g.startswith("p~")}) == 4


def test_another_identity_never_sees_my_refinement_notes(bank: Bank):
    with visibility.bound(ALICE):
        bank.refine(task=TASK, attempt=MARK, mode="sequential", group_id="shared", project="acme/app")
        bank.refine(
            task=TASK, attempt=MARK, mode="parallel", group_id="shared", project="acme/app", outcome="success"
        )
    with visibility.bound(BOB):
        mine = bank.refine(
            task=TASK, attempt="bob's try", mode="sequential", group_id="shared", project="acme/app"
        )
        assert mine.iteration == 1 and MARK not in mine.prompt
        pending = bank.record(task=TASK, summary="bob's final", group_id="shared", project="acme/app")
        assert MARK not in pending.prompt
        contrast = bank.refine(task=TASK, attempt="bob's parallel try", mode="parallel", group_id="shared",
                               project="acme/app", outcome="failure")  # fmt: skip
        assert MARK not in json.dumps(contrast.model_dump(mode="json"))
        assert bank.store.ready_groups() == []


# ---- 2. recall ids ------------------------------------------------------------------------------
def _refusal(fn: Any) -> str:
    with pytest.raises(InputError) as caught:
        fn()
    return str(caught.value)


def test_a_replayed_recall_id_credits_nothing_and_says_no_more_than_an_unknown_one(bank: Bank):
    with visibility.bound(ALICE):
        mine = bank.record(
            task=TASK, summary="s", outcome="success", items=[good_item(1)], project="personal"
        )
        recall = bank.recall("the parser fails on an empty string", project="global")  # her team-scope recall
        assert [i.id for i in recall.items] == [mine.stored[0].id]
    number = int(recall.recall_id.split("-")[0])
    forged = [f"{number}-{'a' * 16}", str(number), f"{number + 1}-{recall.recall_id.split('-')[1]}",
              "99999-abcdefghijklmnop", f" {number}", "1" * 30]  # fmt: skip
    with visibility.bound(BOB):
        replay = _refusal(lambda: bank.record(task="t task", summary="s", outcome="failure", project="global",
                                              recall_id=recall.recall_id))  # fmt: skip
        assert "alice" not in replay and "personal" not in replay
        for other in forged:
            assert _refusal(lambda o=other: bank.record(task="t task", summary="s", recall_id=o)) == replay
    item = bank.store.items_by_id([mine.stored[0].id])[mine.stored[0].id]
    assert (item.helped, item.harmed) == (0, 0)
    with visibility.bound(ALICE):  # her credit is still hers to give
        done = bank.record(
            task=TASK, summary="s", outcome="success", project="global", recall_id=recall.recall_id
        )
    assert done.credited == [mine.stored[0].id]


def test_a_recall_of_one_project_does_not_credit_another(bank: Bank):
    a = bank.record(task=TASK, summary="s", outcome="success", items=[good_item(1)], project="acme/a")
    recall = bank.recall("the parser fails on an empty string", project="acme/a")
    assert [i.id for i in recall.items] == [a.stored[0].id]
    before = state(bank)
    refused = _refusal(lambda: bank.record(task="t task", summary="s", outcome="failure", project="acme/b",
                                           recall_id=recall.recall_id))  # fmt: skip
    assert refused == _refusal(
        lambda: bank.record(task="t task", summary="s", recall_id="1-aaaaaaaaaaaaaaaa")
    )
    assert state(bank) == before
    assert bank.record(
        task="t", summary="s", outcome="success", project="acme/a", recall_id=recall.recall_id
    ).credited


def test_recall_ids_cannot_be_walked(bank: Bank):
    handles = [bank.recall(f"task number {n}").recall_id for n in range(3)]
    assert all(re.fullmatch(r"[1-9][0-9]*-[a-z2-7]{16}", h) for h in handles)
    tails = {h.split("-")[1] for h in handles}
    assert len(tails) == 3
    n = int(handles[-1].split("-")[0])
    for tail in tails:
        with pytest.raises(InputError, match="recall_id is unknown"):
            bank.record(task="t task", summary="s", recall_id=f"{n + 1}-{tail}")


# ---- 2. trajectory ids --------------------------------------------------------------------------
def test_someone_elses_trajectory_id_is_refused_as_an_unknown_one(bank: Bank):
    with visibility.bound(ALICE):
        hers = bank.record(task=TASK, summary="s", project="acme/app")
    top = max(r[0] for r in bank.store.query("select id from trajectories"))
    with visibility.bound(BOB):  # bob may see acme/app, but the trajectory is alice's
        before = state(bank)
        foreign = _refusal(lambda: bank.record(trajectory_id=hers.trajectory_id, outcome="failure"))
        unknown = _refusal(lambda: bank.record(trajectory_id=top + 7, outcome="failure"))
        assert foreign.replace(str(hers.trajectory_id), "N") == unknown.replace(str(top + 7), "N")
        assert hers.trajectory_id not in bank.store.pending_trajectories()
        assert state(bank) == before
    other = bank.record(task=TASK, summary="s", project="acme/a")
    wrong = _refusal(
        lambda: bank.record(trajectory_id=other.trajectory_id, outcome="failure", project="acme/b")
    )
    assert "is unknown here" in wrong
    assert (
        bank.record(trajectory_id=other.trajectory_id, outcome="failure", project="acme/a").outcome
        == "failure"
    )


# ---- 3. a refused call writes nothing -----------------------------------------------------------
BAD = good_item(3, title="x", content="y")  # fails the quality gate
REFUSED: dict[str, dict[str, Any]] = {
    "items without an outcome": dict(task=TASK, summary="s", items=[good_item(1)]),
    "items that all fail the gate": dict(task=TASK, summary="s", outcome="success", items=[BAD]),
    "a blank step": dict(task=TASK, steps=["ran the tests", " \u200b\x00 "]),
    "a blank task": dict(task="\u200b \ufeff\x00", summary="s"),
    "a blank summary only": dict(task=TASK, summary="\u2060\u200d"),
    "a blank group": dict(task=TASK, summary="s", group_id=" \u200b"),
    "a forged recall id": dict(task=TASK, summary="s", recall_id="1-aaaaaaaaaaaaaaaa"),
}
REFUSED_REFINES: dict[str, dict[str, Any]] = {
    "contrast items without two judged attempts": dict(attempt="a", items=[good_item(4)]),
    "too many contrast items": dict(attempt="a", outcome="failure", items=[good_item(i) for i in range(6)]),
    "contrast items that all fail the gate": dict(attempt="a", outcome="failure", items=[BAD]),
    "an outcome without an attempt": dict(attempt=" ", outcome="success"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_refused_record_writes_nothing(bank: Bank, case: str):
    bank.record(task=TASK, summary="s", outcome="success", items=[good_item(1)])
    before = state(bank)
    with pytest.raises(InputError):
        bank.record(**REFUSED[case])
    assert state(bank) == before


@pytest.mark.parametrize("case", sorted(REFUSED_REFINES))
def test_a_refused_parallel_refine_writes_nothing(bank: Bank, case: str):
    bank.refine(task=TASK, attempt="first try", mode="parallel", group_id="g", outcome="success")
    before = state(bank)
    with pytest.raises(InputError):
        bank.refine(task=TASK, mode="parallel", group_id="g", **REFUSED_REFINES[case])
    assert state(bank) == before


def test_a_refused_answer_writes_nothing(bank: Bank):
    pending = bank.record(task=TASK, summary="s")
    before = state(bank)
    for args in (dict(items=[good_item(1)]), dict(outcome="success", items=[BAD]),
                 dict(outcome="success", group_id="other"), dict(outcome="success", recall_id="2-aaaaaaaaaaaaaaaa")):  # fmt: skip
        with pytest.raises(InputError):
            bank.record(trajectory_id=pending.trajectory_id, **args)
    with pytest.raises(InputError, match="sequential mode"):
        bank.refine(task=TASK, attempt="a", mode="sequential", outcome="success")
    assert state(bank) == before


# ---- the schema migration -----------------------------------------------------------------------
def test_migration_splits_old_groups_by_project_and_gives_rows_their_owner(tmp_path: Path, backend: str):
    if backend != "sqlite":
        pytest.skip(
            "the migration's statements are shared; the PostgreSQL template bank starts at the latest"
        )
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.execute(
        "create table _migrations (id integer primary key, name text not null, applied_at text not null)"
    )
    for number, name, apply in MIGRATIONS[:3]:
        apply(db)
        db.execute("insert into _migrations values (?, ?, ?)", (number, name, now()))
    stamp = now()
    for project, task in (("acme/a", "task of a"), ("acme/b", "task of b"), ("user:alice", "alice's task")):
        db.execute("insert into trajectories (task, project, status, role, group_id, iteration, created_at, updated_at) "
                   "values (?, ?, 'signal', 'refine', 'g', 1, ?, ?)", (task, project, stamp, stamp))  # fmt: skip
    db.execute("insert into groups values ('g', 'task of a', 'acme/a', ?, null)", (stamp,))
    db.commit()
    db.close()
    store = open_store(path)
    try:
        rows = store.query("select project, group_id, owner from trajectories order by id")
        assert len({g for _, g, _ in rows}) == 3 and [o for *_, o in rows] == ["", "", "alice"]
        groups = dict((r[0], (r[1], r[2])) for r in store.query("select group_id, task, project from groups"))
        assert {v for v in groups.values()} == {("task of a", "acme/a"), ("task of b", "acme/b"),
                                                 ("alice's task", "user:alice")}  # fmt: skip
        assert store.get_meta(ids.KEY_META)
    finally:
        store.close()


# ---- 3. strict input at the MCP edge ------------------------------------------------------------
@pytest.fixture
def mcp(config, embedder) -> Iterator[Any]:
    app = build_server(config, bank_factory=lambda c: Bank(c, embedder=embedder))
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(Client(app)) as client,
    ):
        yield portal, client, config


def call(mcp: Any, name: str, args: dict[str, Any]) -> Any:
    portal, client, _ = mcp
    return portal.call(client.call_tool, name, args)


def text_of(result: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


JSON_TEXT = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(string.ascii_letters, max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(string.ascii_letters, max_size=5), inner, max_size=3)
    ),  # fmt: skip
    max_leaves=8,
).map(json.dumps)


def test_text_fields_take_json_looking_text_as_text(mcp):
    store = open_store(mcp[2].bank)
    try:

        @FUZZ
        @given(text=JSON_TEXT)
        def fuzz(text: str) -> None:
            result = call(mcp, "record_trajectory", {"task": f"task {text}", "summary": text, "rationale": text,
                                                     "project": text, "group_id": text})  # fmt: skip
            assert not result.is_error, text_of(result)
            row = store.get_trajectory(result.structured_content["trajectory_id"])
            assert (row["summary"], row["task"]) == (text, f"task {text}")
            assert row["project"] not in (None, "global") or text.lower() == '"global"'

        fuzz()
    finally:
        store.close()
    nulls = call(
        mcp, "record_trajectory", {"task": "t", "summary": "null", "project": "null", "outcome": "null"}
    )
    assert nulls.is_error and "outcome" in text_of(nulls)  # "null" is not a verdict, and not a missing one


@pytest.mark.parametrize(
    ("tool", "args", "wrong", "right"),
    [
        ("record_trajectory", {"task": "t", "summary": "s", "outcomes": "success"}, "outcomes", "outcome"),
        ("record_trajectory", {"task": "t", "summary": "s", "item": []}, "item", "items"),
        ("recall_strategies", {"task": "t", "kind": ["pitfall"]}, "kind", "kinds"),
        (
            "refine_attempt",
            {"task": "t", "attempt": "a", "mode": "sequential", "group": "g"},
            "group",
            "group_id",
        ),
        (
            "record_trajectory",
            {"task": "t", "outcome": "success", "items": [dict(good_item(1), titel="x")], "summary": "s"},
            "titel",
            "title",
        ),  # fmt: skip
        ("record_trajectory", {"task": "t", "steps": [{"actoin": "ran it"}]}, "actoin", "action"),
    ],
)
def test_unknown_arguments_are_refused_naming_the_closest(mcp, tool, args, wrong, right):
    before = open_store(mcp[2].bank)
    try:
        counts = before.row_counts()
        result = call(mcp, tool, args)
        assert (
            result.is_error
            and f"'{wrong}'" in text_of(result)
            and f"did you mean '{right}'" in text_of(result)
        )
        assert before.row_counts() == counts
    finally:
        before.close()


def test_prompts_and_resources_refuse_clearly(mcp):
    portal, client, _ = mcp
    for args, expect in (({}, "needs the argument"), ({"tsk": "x"}, "did you mean 'task'")):
        with pytest.raises(Exception, match=expect):
            portal.call(client.get_prompt, "use-memory", args)
    with pytest.raises(Exception, match="unknown prompt"):
        portal.call(client.get_prompt, "no-such-prompt", {})
    for uri in ("rb://items/²", "rb://items/١٢", "rb://items/99999999999999999999999", "rb://items/-1"):
        with pytest.raises(Exception, match="not an item number") as caught:
            portal.call(client.read_resource, uri)
        assert "Error creating resource" not in str(caught.value)
