"""Forgetting that is never loss: expiry, items that harm, the daily maintenance, restore.

Time moves through the injectable clock (`rb_mcp.clock.use`) in process, and through `faketime`
for the CLI end to end. Both backends.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from conftest import good_item

from rb_mcp import cli, clock
from rb_mcp.loop import upkeep
from rb_mcp.loop.bank import Bank

BOTH_BACKENDS = True

TASK = "Parser crashes on an empty input file"
LESSON = good_item(1)
OTHER = {
    "title": "Pin the container base image by digest in production",
    "description": "A moving tag changed the libc version under a running service.",
    "content": "Reference the production base image by digest in the Dockerfile and let the dependency bot "
    "propose digest bumps; a tag can change its libc between two builds.",
}


@pytest.fixture
def later() -> clock.Shifted:
    shifted = clock.Shifted()
    with clock.use(shifted):
        yield shifted


def store(bank: Bank, item: dict, task: str = TASK) -> int:
    return bank.record(task=task, summary="s", outcome="success", items=[item]).stored[0].id


def test_the_clock_can_be_injected():
    fixed = datetime(2030, 5, 17, 8, 30, tzinfo=timezone.utc)
    with clock.use(fixed):
        assert clock.now() == "2030-05-17T08:30:00.000+00:00" and clock.current() == fixed
    assert clock.current().year < 2030
    shifted = clock.Shifted(timedelta(days=2))
    with clock.use(shifted):
        shifted.advance(days=1)
        assert clock.current() - datetime.now(timezone.utc) > timedelta(days=2, hours=23)
    assert clock.parse(clock.stamp(fixed)) == fixed


def test_unused_items_expire_and_come_back(bank: Bank, later: clock.Shifted):
    item_id = store(bank, LESSON)
    later.advance(days=89)
    assert bank.maintain().archived == []
    later.advance(days=2)
    dry = bank.maintain(dry_run=True)
    assert [r.id for r in dry.archived] == [item_id] and dry.dry_run
    assert "not recalled for 90 days (never recalled" in dry.archived[0].reason
    assert bank.item(item_id)["status"] == "active"  # a dry run changes nothing
    done = bank.maintain()
    assert [r.id for r in done.archived] == [item_id]
    detail = bank.item(item_id)
    assert detail["status"] == "archived" and "expired" in detail["history"][-1]["reason"]
    assert bank.recall(TASK).items == []
    assert [i.id for i in bank.items(status="archived")] == [item_id]
    # Nothing is lost: restored, it is recalled again and the next pass leaves it alone.
    assert bank.restore([item_id]) == []
    assert [h.id for h in bank.recall(TASK).items] == [item_id]
    assert bank.maintain().archived == []
    assert bank.restore([item_id]) == [item_id]  # an active item is not restorable
    assert bank.restore([987654]) == [987654]


def test_a_recalled_item_stays(bank: Bank, later: clock.Shifted):
    item_id = store(bank, LESSON)
    later.advance(days=60)
    assert [h.id for h in bank.recall(TASK).items] == [item_id]
    later.advance(days=31)
    assert bank.maintain().archived == []
    later.advance(days=60)
    reasons = [r.reason for r in bank.maintain().archived]
    assert len(reasons) == 1 and "last recalled" in reasons[0]


def test_an_item_that_never_helped_expires(bank: Bank, later: clock.Shifted):
    item_id = store(bank, LESSON)
    kept = store(bank, OTHER, task="Production container broke after a base image update")
    later.advance(days=60)
    recall = bank.recall(TASK, k=1)
    assert [h.id for h in recall.items] == [item_id]
    bank.record(
        task=TASK + " again", summary="it did not help", outcome="failure", recall_id=recall.recall_id
    )
    assert [h.id for h in bank.recall("base image digest changed libc", k=1).items] == [kept]
    later.advance(days=31)
    archived = bank.maintain().archived
    assert [r.id for r in archived] == [item_id] and "never helped in 90 days (harmed 1" in archived[0].reason


def test_expiry_off(bank: Bank, later: clock.Shifted):
    bank.config = bank.config.replace(expire_days=0)
    store(bank, LESSON)
    later.advance(days=1000)
    report = bank.maintain()
    assert report.archived == [] and report.expire_days == 0


def test_an_item_that_harms_more_than_it_helps_is_archived(bank: Bank):
    item_id = store(bank, LESSON)
    for n, outcome in enumerate(["success", "failure", "failure", "failure"]):
        recall = bank.recall(TASK)
        assert [h.id for h in recall.items] == [item_id], n
        bank.record(task=f"{TASK} ({n})", summary="s", outcome=outcome, recall_id=recall.recall_id)
        assert bank.item(item_id)["status"] == ("archived" if n == 3 else "active"), n
    reason = bank.item(item_id)["history"][-1]["reason"]
    assert reason == "archived: it harmed more often than it helped (harmed 3, helped 1 over 4 verdicts)"
    assert bank.recall(TASK).items == []


def test_maintenance_also_sweeps_harmful_items(bank: Bank):
    item_id = store(bank, LESSON)
    bank.config = bank.config.replace(expire_days=0)
    for n in range(4):  # credited directly, as an import or an older rb-mcp would have left it
        with bank.store.transaction() as tx:
            bank.store.credit_items(tx, [item_id], helped=n == 0)
    assert [r.id for r in bank.maintain(dry_run=True).archived] == [item_id]


def test_the_server_maintains_at_most_once_a_day(bank: Bank, later: clock.Shifted):
    item_id = store(bank, LESSON)
    later.advance(days=91)
    first = bank.maintain_soon()
    first.join()
    ran = bank.store.get_meta(upkeep.LAST_RUN)
    assert ran is not None and bank.item(item_id)["status"] == "archived"
    assert bank.maintain_soon() is None  # it looks at the bank at most once an hour
    bank.restore([item_id])
    later.advance(hours=2)
    bank.maintain_soon().join()  # looked, but a day has not passed: nothing ran
    assert bank.store.get_meta(upkeep.LAST_RUN) == ran and bank.item(item_id)["status"] == "active"
    later.advance(days=91)
    bank.maintain_soon().join()
    assert bank.store.get_meta(upkeep.LAST_RUN) > ran and bank.item(item_id)["status"] == "archived"


def test_cli_maintain_dry_run_lists_what_it_would_archive(bank: Bank, bank_target, later, capsys):
    item_id = store(bank, LESSON)
    later.advance(days=120)
    assert cli.main(["maintain", "--dry-run", "--json", "--bank", str(bank_target)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] and [r["id"] for r in report["archived"]] == [item_id]
    assert bank.item(item_id)["status"] == "active"
    assert cli.main(["maintain", "--bank", str(bank_target)]) == 0
    assert f"#{item_id}" in capsys.readouterr().out and bank.item(item_id)["status"] == "archived"
    assert cli.main(["list", "--status", "archived", "--bank", str(bank_target)]) == 0
    assert "[archived]" in capsys.readouterr().out
    assert cli.main(["restore", str(item_id), "--bank", str(bank_target)]) == 0
    assert bank.item(item_id)["status"] == "active"
    assert cli.main(["restore", str(item_id), "--bank", str(bank_target)]) == 1
    assert "no archived or superseded memory item(s)" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("faketime") is None, reason="needs faketime (apt-get install faketime)")
def test_maintain_end_to_end_with_faketime(isolated_env, tmp_path):
    items = tmp_path / "items.json"
    items.write_text(json.dumps([LESSON]))

    def rb(*args: str, shift: str | None = None) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "rb_mcp", *args]
        if shift:
            command = ["faketime", "-f", shift, *command]
        return subprocess.run(command, env=isolated_env, capture_output=True, text=True, timeout=120)

    stored = rb("record", "--task", TASK, "--summary", "s", "--outcome", "success", "--items", str(items))
    assert stored.returncode == 0, stored.stderr
    item_id = json.loads(stored.stdout)["stored"][0]["id"]
    assert json.loads(rb("maintain", "--dry-run", "--json", shift="+30d").stdout)["archived"] == []
    dry = json.loads(rb("maintain", "--dry-run", "--json", shift="+100d").stdout)
    assert [r["id"] for r in dry["archived"]] == [item_id] and dry["ran_at"] > clock.now()
    assert json.loads(rb("list", "--json").stdout)[0]["status"] == "active"
    assert rb("maintain", shift="+100d").stdout.startswith("archived 1 item(s)")
    assert json.loads(rb("list", "--status", "archived", "--json").stdout)[0]["id"] == item_id
    assert rb("restore", str(item_id)).returncode == 0
    assert json.loads(rb("list", "--json").stdout)[0]["id"] == item_id


def test_a_scheduled_maintenance_waits_its_delay_and_a_closing_bank_cancels_it(config, embedder, later):
    # The server schedules it 30 s after a call, so it never competes with the call itself.
    with Bank(config, embedder=embedder) as first:
        item_id = store(first, LESSON)
        later.advance(days=91)
        timer = first.maintain_soon(delay=3600)
        assert timer.is_alive() and first.item(item_id)["status"] == "active"
    assert timer.finished.is_set() and not timer.is_alive()  # closing cancelled it, without waiting
    with Bank(config, embedder=embedder) as again:
        assert again.item(item_id)["status"] == "active" and again.store.get_meta(upkeep.LAST_RUN) is None
