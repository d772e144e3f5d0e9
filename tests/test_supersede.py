"""Supersede: a new item names the recalled items it found wrong; they leave recall and point to it.

Through the tool over stdio (the SDK client against `rb-mcp serve`), on both backends, and in
process for what a caller may not supersede: an unknown id, or an item in a scope the caller
cannot see. A refused call writes nothing.
"""

from __future__ import annotations

import anyio
import pytest
from conftest import good_item
from mcp import Client
from test_e2e_stdio import call, params

from rb_mcp import ids, prompts, visibility
from rb_mcp.errors import InputError
from rb_mcp.loop.bank import Bank
from rb_mcp.store import open_store

BOTH_BACKENDS = True

TASK = "CSV export writes dates in the server's local timezone"
WRONG = {
    "title": "Format export dates with the server's locale settings",
    "description": "Exported dates follow the locale the export worker runs with.",
    "content": "Set the export worker's locale and timezone environment variables so the CSV export formats "
    "dates the way the customer expects; the export code itself needs no change.",
}
RIGHT = {
    "title": "Write export timestamps in UTC with an explicit offset",
    "description": "Exports must not depend on the timezone of the machine that runs them.",
    "content": "Convert timestamps to aware UTC datetimes before formatting the CSV export and write the offset "
    "explicitly; changing the worker's timezone only moved the bug to the next machine.",
}


@pytest.mark.e2e
def test_supersede_through_the_tool(isolated_env, bank_target):
    async def go():
        async with Client(params(isolated_env, "--bank", str(bank_target))) as client:
            first = await call(client, "record_trajectory", {"task": TASK, "summary": "set TZ on the worker",
                                                              "outcome": "success", "items": [WRONG]})  # fmt: skip
            wrong_id = first["stored"][0]["id"]
            recall = await call(client, "recall_strategies", {"task": TASK})
            assert [i["id"] for i in recall["items"]] == [wrong_id] and f"[#{wrong_id}]" in recall["guidance"]
            # A foreign or unknown id is a tool error, and the refused call writes nothing.
            bad = await client.call_tool("record_trajectory", {
                "task": TASK, "summary": "s", "outcome": "failure", "recall_id": recall["recall_id"],
                "items": [dict(RIGHT, supersedes=[wrong_id + 1000])],
            })  # fmt: skip
            assert bad.is_error and f"#{wrong_id + 1000}" in bad.content[0].text
            fixed = await call(client, "record_trajectory", {
                "task": TASK, "summary": "the worker's TZ was not the cause", "outcome": "failure",
                "recall_id": recall["recall_id"], "items": [dict(RIGHT, supersedes=[wrong_id])],
            })  # fmt: skip
            right_id = fixed["stored"][0]["id"]
            assert fixed["stored"][0]["superseded"] == [wrong_id] and right_id != wrong_id
            again = await call(client, "recall_strategies", {"task": TASK})
            assert [i["id"] for i in again["items"]] == [right_id]
            return wrong_id, right_id, recall["recall_id"]

    wrong_id, right_id, recall_id = anyio.run(go)
    store = open_store(bank_target)
    try:
        old = store.items_by_id([wrong_id])[wrong_id]
        assert old.status == "superseded" and old.superseded_by == right_id
        reason = store.item_history(wrong_id)[-1]["reason"]
        assert reason.startswith(f"superseded by #{right_id}") and "found it wrong" in reason
        assert store.row_counts()["trajectories"] == 2  # the refused call left no trajectory
        assert store.recall_event(ids.recall_number(store.get_meta(ids.KEY_META), recall_id)) is not None
    finally:
        store.close()


def test_supersede_only_what_the_caller_can_see(bank: Bank):
    mine = (
        bank.record(task=TASK, summary="s", outcome="success", items=[WRONG], project="acme/app").stored[0].id
    )
    theirs = bank.record(task=TASK, summary="s", outcome="success", items=[good_item(2)],
                         project="user:alice").stored[0].id  # fmt: skip
    before = bank.store.row_counts()
    bob = visibility.Principal(identity="bob", projects=frozenset({"acme/app"}))
    with visibility.bound(bob):
        with pytest.raises(InputError, match=f"#{theirs}, which is no memory item you can see"):
            bank.record(task=TASK, summary="s", outcome="failure", project="acme/app",
                        items=[dict(RIGHT, supersedes=[theirs])])  # fmt: skip
        with pytest.raises(InputError, match="no memory item you can see"):
            bank.refine(task=TASK, attempt="", mode="parallel", group_id="g", project="acme/app",
                        items=[dict(RIGHT, supersedes=[theirs])])  # fmt: skip
        assert bank.store.row_counts() == before
        done = bank.record(task=TASK, summary="s", outcome="failure", project="acme/app",
                           items=[dict(RIGHT, supersedes=[mine])])  # fmt: skip
    assert done.stored[0].superseded == [mine]
    assert bank.store.items_by_id([theirs])[theirs].status == "active"


def test_a_correction_never_merges_into_the_lesson_it_replaces(bank: Bank):
    wrong_id = bank.record(task=TASK, summary="s", outcome="success", items=[WRONG]).stored[0].id
    reworded = dict(WRONG, title="Format export dates with the locale of the server", supersedes=[wrong_id])
    stored = bank.record(task=TASK, summary="s", outcome="failure", items=[reworded]).stored[0]
    assert stored.action == "added" and stored.id != wrong_id and stored.superseded == [wrong_id]


def test_restore_brings_back_a_superseded_item(bank: Bank):
    wrong_id = bank.record(task=TASK, summary="s", outcome="success", items=[WRONG]).stored[0].id
    bank.record(task=TASK, summary="s", outcome="failure", items=[dict(RIGHT, supersedes=[wrong_id])])
    assert [i.id for i in bank.items(status="superseded")] == [wrong_id]
    assert bank.restore([wrong_id]) == []
    item = bank.store.items_by_id([wrong_id])[wrong_id]
    assert item.status == "active" and item.superseded_by is None
    assert wrong_id in {h.id for h in bank.recall(TASK, k=3).items}


def test_extraction_prompts_ask_for_supersede():
    asked = prompts.extract("failure", TASK, "steps", [], 7, [(12, WRONG["title"])])
    assert "[#12] " + WRONG["title"] in asked and '"supersedes": [its id]' in asked
    assert "supersedes" in prompts.ITEM_FORMAT and "MEMORY RECALLED" not in prompts.extract(
        "failure", TASK, "s", [], 7
    )
