"""The loop with a server-side model, as plain functions: the bank talks to a real HTTP chat completions
server (tests/test_llm_stub.py) through `HttpLLM`. Judge, extract, repair, contrast with best-of-k,
sequential review, recall hygiene, model consolidation, the queue, and the bank staying consistent."""

from __future__ import annotations

import json

import pytest
from test_llm_stub import CONTRAST_ITEMS, GOOD_ITEMS, KEY, MODEL, ScriptedLLM, fenced

from rb_mcp.llm import HttpLLM
from rb_mcp.loop.bank import Bank
from rb_mcp.loop.distill import strip_recalled

TASK = "Fix the importer that drops rows with a trailing comma"


@pytest.fixture
def stub():
    with ScriptedLLM() as server:
        yield server


@pytest.fixture
def llm(stub: ScriptedLLM) -> HttpLLM:
    return HttpLLM(base_url=stub.url, model=MODEL, api_key=KEY, timeout=5, retries=1)


def pending(bank: Bank) -> list[tuple[int, str]]:
    return bank.store.query("select id, status from trajectories where status like 'pending%' order by id")


def test_judge_and_distill_in_one_call(bank: Bank, stub: ScriptedLLM, llm: HttpLLM):
    seen: list[tuple[float, float, str]] = []
    r = bank.record(task=TASK, steps=["wrote a failing test", "fixed the split", "suite green"], llm=llm,
                    progress=lambda d, t, m: seen.append((d, t, m)))  # fmt: skip
    assert r.status == "stored" and r.outcome == "success" and llm.name in r.next_step
    assert [s.title for s in r.stored] == [GOOD_ITEMS["success"]["title"]]
    traj = bank.trajectory(r.trajectory_id)
    assert traj.status == "distilled" and traj.rationale == "The record shows the success plainly."
    assert [d for d, _, _ in seen] == [1, 2, 3] and all(t == 3 for _, t, _ in seen)
    kinds = stub.prompts()
    assert "You are judging" in kinds[0] and "This trajectory SUCCEEDED" in kinds[1] and len(kinds) == 2


def test_agent_verdict_and_items_always_win(bank: Bank, stub: ScriptedLLM, llm: HttpLLM):
    r = bank.record(task=TASK, summary="s", outcome="failure", items=[GOOD_ITEMS["failure"]], llm=llm)
    assert r.status == "stored" and stub.chats() == []
    r = bank.record(task=TASK + " again", summary="tests pass", outcome="failure", llm=llm)
    assert r.status == "stored" and r.outcome == "failure"
    assert len(stub.chats()) == 1 and "This trajectory FAILED" in stub.prompts()[0]  # extraction only


def test_malformed_answer_gets_one_repair(bank: Bank, stub: ScriptedLLM, llm: HttpLLM):
    stub.push({"content": "Looks like a success to me."})  # judge: no JSON -> repair turn
    r = bank.record(task=TASK, summary="fixed and verified", llm=llm)
    assert r.status == "stored" and r.outcome == "success"
    assert (
        len(stub.chats()) == 3 and "could not be used" in stub.chats()[1]["body"]["messages"][-1]["content"]
    )


def test_malformed_twice_leaves_the_trajectory_pending_never_half_stored(bank: Bank, stub: ScriptedLLM, llm):
    bad_item = dict(
        GOOD_ITEMS["success"],
        content="Edit /home/alice/work/shop/importer.py line 347 then commit 3f9a2b7c1d0e.",
    )
    stub.push({}, {"content": "garbage"}, {"content": fenced({"items": [bad_item]})})
    r = bank.record(task=TASK, summary="fixed and verified", llm=llm)
    assert r.status == "needs_items" and r.outcome == "success" and "could not distill" in r.next_step
    assert "record_trajectory(trajectory_id=" in r.next_step and "SUCCEEDED" in r.prompt
    assert bank.store.one("select count(*) from items")[0] == 0
    assert pending(bank) == [(r.trajectory_id, "pending_items")]
    repair = stub.chats()[-1]["body"]["messages"][-1]["content"]
    assert "absolute path" in repair or "path" in repair  # the gate's problem is named in the repair turn
    # the queue is drained later, e.g. once the endpoint behaves
    report = bank.distill_pending(llm)
    assert report.distilled == 1 and report.stored == 1 and report.remaining == 0 and pending(bank) == []


def test_endpoint_down_falls_back_to_the_agent_round_trip(bank: Bank, stub: ScriptedLLM, llm: HttpLLM):
    stub.push(*[{"status": 500}] * 2)
    r = bank.record(task=TASK, summary="s", llm=llm)
    assert (
        r.status == "needs_verdict"
        and "failed after 2 attempt" in r.next_step
        and "You are judging" in r.prompt
    )
    assert KEY not in r.next_step
    assert pending(bank) == [(r.trajectory_id, "pending_verdict")]
    done = bank.record(trajectory_id=r.trajectory_id, outcome="failure", items=[GOOD_ITEMS["failure"]])
    assert done.status == "stored"


def test_recalled_memory_is_stripped_before_distilling(bank: Bank, stub: ScriptedLLM, llm: HttpLLM):
    lesson = GOOD_ITEMS["failure"]
    bank.record(task="Fix a test that passed without running", summary="s", outcome="failure", items=[lesson])
    recall = bank.recall("The test passed without running; was it selected at all?")
    assert recall.items
    stub.requests.clear()
    steps = [
        f"read memory: {recall.guidance}",
        "ran the single test by id: it had been deselected",
        "fixed the marker",
    ]
    bank.record(task="Make the skipped regression test run", steps=steps, recall_id=recall.recall_id, llm=llm)
    sent = "\n".join(stub.prompts())
    assert (
        lesson["content"] not in sent and lesson["title"] not in sent and "Memory from past tasks" not in sent
    )
    assert "[recalled memory]" in sent and "it had been deselected" in sent


def test_strip_recalled_is_whitespace_and_case_insensitive():
    item = (
        "Check the test ran",
        "Selection flags can skip it.",
        "Look for the test id in the output. Run it alone.",
    )
    text = "I read: look for the test   id\nin the output. Then I fixed the bug."
    assert strip_recalled(text, [item]) == "I read: [recalled memory] Then I fixed the bug."


def test_parallel_judge_contrast_and_best_of_k(bank: Bank, stub: ScriptedLLM, llm: HttpLLM):
    task = "Export job hangs randomly on CI"
    r = bank.refine(task=task, attempt="raised the timeout to 120s", mode="parallel", group_id="g", llm=llm)
    assert r.status == "needs_verdicts" and r.attempts[0].outcome == "success"  # judged by the model
    r = bank.refine(task=task, attempt="waited for the worker readiness signal", mode="parallel", group_id="g",
                    llm=llm)  # fmt: skip
    assert r.status == "stored" and len(r.stored) == 2
    assert "Best of 2: attempt 2" in r.next_step and "readiness" in r.next_step
    kinds = [p.split("\n")[0] for p in stub.prompts()]
    assert sum("You are judging" in k for k in kinds) == 2
    contrast = next(p for p in stub.prompts() if "Several attempts" in p)
    assert "-> SUCCESS" in contrast
    for s in r.stored:
        assert len(bank.store.query("select trajectory_id from item_sources where item_id = ?", (s.id,))) == 2
    again = bank.refine(task=task, attempt="", mode="parallel", group_id="g", llm=llm)
    assert again.status == "stored" and "Nothing new" in again.next_step


def test_parallel_contrast_tells_the_model_which_failed(bank: Bank, stub: ScriptedLLM, llm: HttpLLM):
    task = "Export job hangs randomly on CI"
    bank.refine(
        task=task, attempt="raised timeouts", mode="parallel", group_id="h", outcome="failure", llm=llm
    )
    r = bank.refine(
        task=task, attempt="readiness probe", mode="parallel", group_id="h", outcome="success", llm=llm
    )
    assert r.status == "stored" and "the only successful attempt" in r.next_step
    (contrast,) = stub.prompts()
    assert "-> FAILURE" in contrast and "-> SUCCESS" in contrast and "At most 5 items" in contrast


def test_sequential_review_notes_become_signals(bank: Bank, stub: ScriptedLLM, llm: HttpLLM):
    task = "Fix duplicate rows in paginated API"
    r = bank.refine(task=task, attempt="added ORDER BY created_at", mode="sequential", llm=llm)
    assert r.status == "check" and "REVIEW 2" in r.prompt and "REVIEW 1" not in r.prompt
    chat = stub.chats()[-1]["body"]["messages"]
    assert [m["role"] for m in chat] == ["system", "user", "assistant", "user"] and chat[-1][
        "content"
    ].startswith("Check again")
    steps = json.loads(bank.store.one("select steps from trajectories where id = ?", (r.trajectory_id,))[0])
    assert "REVIEW 1" in steps[1]["observation"] and "REVIEW 2" in steps[2]["observation"]
    final = bank.record(task=task, summary="cursor now has a tiebreaker; verified", outcome="success",
                        group_id=r.group_id, llm=llm)  # fmt: skip
    assert final.status == "stored"
    extraction = stub.prompts()[-1]
    assert "INTERMEDIATE NOTES" in extraction and "check 2 by the server's model: REVIEW 2" in extraction


def test_sequential_review_off_and_failing(bank: Bank, stub: ScriptedLLM, llm: HttpLLM):
    stub.push({"status": 500}, {"status": 500})
    r = bank.refine(task="Fix duplicate rows", attempt="added ORDER BY", mode="sequential", llm=llm)
    assert (
        r.status == "check"
        and "Re-examine your current attempt" in r.prompt
        and "could not review" in r.next_step
    )
    bank.config = bank.config.__class__(**{**bank.config.__dict__, "llm_check_turns": 0})
    before = len(stub.chats())
    bank.refine(task="Fix duplicate rows", attempt="again", mode="sequential", group_id=r.group_id, llm=llm)
    assert len(stub.chats()) == before


NEAR = {  # cosine ~0.80 to GOOD_ITEMS["failure"]: below the dedupe threshold, above the model's merge floor
    "title": "Confirm the reproducing test was executed",
    "description": "Markers can skip the one test that matters and leave the run green.",
    "content": "After a fix, confirm the reproducing test was collected: look for its id in the report, then run it "
    "alone once before calling the task done.",
}


def _gray_pair(bank: Bank) -> tuple[int, float]:
    # This pair sits at ~0.80: widen the gray zone around it (the defaults put it above the threshold).
    bank.config = bank.config.replace(dedupe_threshold=0.88, llm_merge_floor=0.75)
    first = bank.record(
        task="task one", summary="s", outcome="failure", items=[GOOD_ITEMS["failure"]]
    ).stored[0]
    vecs = bank.embedder.embed([f"{NEAR['title']}\n{NEAR['description']}\n{NEAR['content']}",
                                "\n".join(GOOD_ITEMS["failure"][k] for k in ("title", "description", "content"))])  # fmt: skip
    return first.id, float(vecs[0] @ vecs[1])


def test_model_merges_a_gray_zone_pair(bank: Bank, stub: ScriptedLLM, llm: HttpLLM):
    old, similarity = _gray_pair(bank)
    assert 0.75 <= similarity < bank.config.dedupe_threshold, similarity  # the pair sits in the gray zone
    merged = dict(
        NEAR, title="Prove the reproducing test actually ran", content=NEAR["content"] + " Markers hide it."
    )
    stub.push(
        {},
        {"content": fenced({"items": [NEAR]})},
        {"content": fenced({"decision": "merge", "merged": merged})},
    )
    r = bank.record(task="another task", summary="green but the test was skipped [fail]", llm=llm)
    assert r.status == "stored" and r.stored[0].action == "merged" and r.stored[0].id == old
    active = bank.store.query("select id, title, strength from items where status = 'active'")
    assert active == [(old, merged["title"], 2)]
    assert bank.store.one("select superseded_by from items where status = 'superseded'")[0] == old
    reasons = [h[0] for h in bank.store.query("select reason from item_history where item_id = ?", (old,))]
    assert any("merged with item" in x for x in reasons)
    assert bank.store.consistency_problems() == []
    assert bank.recall("the regression test was skipped by a marker").items[0].title == merged["title"]


def test_keep_both_is_remembered_and_replace_supersedes(bank: Bank, stub: ScriptedLLM, llm: HttpLLM):
    old, _ = _gray_pair(bank)
    stub.push({}, {"content": fenced({"items": [NEAR]})})  # then the default model says keep_both
    r = bank.record(task="another task", summary="green but skipped [fail]", llm=llm)
    assert r.stored[0].action == "added"
    new = r.stored[0].id
    assert bank.store.get_meta(f"llm_keep_both:{min(old, new)}:{max(old, new)}") is not None
    asked = len(stub.chats())
    report = bank.distill_pending(llm, sweep=True)
    assert report.settled == 0 and len(stub.chats()) == asked  # the decided pair is not asked again
    bank.store.db.execute("delete from meta where key like 'llm_keep_both:%'")
    stub.push({"content": fenced({"decision": "replace", "merged": None})})
    report = bank.distill_pending(llm, sweep=True)
    assert report.settled == 1
    statuses = dict(bank.store.query("select id, status from items"))
    assert sorted(statuses.values()) == ["active", "superseded"]
    assert bank.store.consistency_problems() == []


def test_drain_stops_when_the_endpoint_is_down(bank: Bank, stub: ScriptedLLM, llm: HttpLLM):
    ids = [bank.record(task=f"{TASK} {n}", summary="s").trajectory_id for n in range(3)]
    stub.push(*[{"status": 503}] * 2)
    report = bank.distill_pending(llm)
    assert report.stopped and report.failed == 1 and report.remaining == 3 and report.remaining_ids == ids
    assert len(stub.chats()) == 2  # one trajectory's retries, not three
    report = bank.distill_pending(llm, limit=2)
    assert report.distilled == 2 and report.remaining == 1


def test_drain_judges_parallel_attempts_then_contrasts_their_group(
    bank: Bank, stub: ScriptedLLM, llm: HttpLLM
):
    task = "Export job hangs randomly on CI"
    bank.refine(task=task, attempt="raised timeouts", mode="parallel", group_id="q")
    bank.refine(task=task, attempt="readiness probe", mode="parallel", group_id="q")
    lone = bank.refine(
        task="Another flaky job", attempt="one try", mode="parallel", group_id="lone", outcome="failure"
    )
    report = bank.distill_pending(llm)
    assert report.judged == 2 and report.contrasted == 1 and report.stored == len(CONTRAST_ITEMS)
    assert (
        report.waiting == 1
        and report.remaining == 1
        and lone.attempts[0].trajectory_id in report.remaining_ids
    )
    assert not any("SUCCEEDED" in p for p in stub.prompts())  # attempts are not distilled one by one


def test_api_key_never_reaches_the_bank(bank: Bank, stub: ScriptedLLM, llm: HttpLLM):
    bank.record(task=TASK, summary="s", llm=llm)
    bank.close()
    assert KEY.encode() not in bank.config.bank.read_bytes()
