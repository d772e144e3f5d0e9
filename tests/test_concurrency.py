"""Many clients on one bank: server processes, CLI commands, threads and async calls at once.

Nothing written and acknowledged may be lost or doubled, "database is locked" must never reach a
caller, and the vec0 and FTS5 indexes must agree with the rows afterwards. The multi-process run is
the workload of benchmarks/stress.py, kept small enough for CI.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client

from rb_mcp.clock import now
from rb_mcp.config import Config
from rb_mcp.errors import StoreError
from rb_mcp.loop.bank import Bank
from rb_mcp.server.app import build_server
from rb_mcp.store import Store, migrations, open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import stress  # noqa: E402


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_servers_and_cli_writers_share_one_bank(tmp_path, isolated_env):
    """3 stdio servers (2 concurrent calls each) and 2 CLI loops (record, recall, forget, backup,
    export) start together on a fresh bank and write for 15 s or more; then every write is counted."""
    params = stress.Params(servers=3, cli=2, seconds=15, kills=0, inflight=2, seed=7, min_cli_ops=4)
    report = stress.run_workload(tmp_path / "bank.sqlite3", params, env=isolated_env)

    assert report.locked_errors == 0
    assert report.server_processes == 3, "a server died or failed to start"
    assert report.operations["cli record"] >= 3 and report.cli_processes >= 8
    _assert_nothing_lost(report)


def _assert_nothing_lost(report: stress.Report) -> None:
    """What every shared-bank workload must show, on either backend."""
    assert report.unexpected_errors == []
    assert report.acknowledged >= 20 and report.acknowledged_items >= 8
    assert report.forgotten >= 1
    assert (report.lost, report.duplicates, report.forgotten_left) == (0, 0, 0)
    assert report.integrity == "ok" and report.consistency == []
    # online copies taken while the servers were writing are complete and consistent
    assert report.backups_checked >= 1 and report.backups_bad == []
    assert report.exports_checked >= 1 and report.exports_bad == []
    assert report.ok


@pytest.mark.timeout(120)
def test_concurrent_tool_calls_inside_one_server(tmp_path, embedder):
    """60 tool calls in flight at once in one server: one connection, serialised by the store lock."""
    config = Config(bank=tmp_path / "bank.sqlite3", preload=False, dedupe_threshold=1.0, project="acme/app")
    app = build_server(config, bank_factory=lambda c: Bank(c, embedder=embedder))
    results: dict[int, dict] = {}
    errors: list[str] = []

    async def call(client: Client, i: int) -> None:
        if i % 4 == 0:
            r = await client.call_tool("recall_strategies", {"task": f"flaky scheduler test number {i}"})
        elif i % 4 == 1:
            r = await client.call_tool("refine_attempt", {"task": f"concurrency task {i}", "attempt": "retry with "
                                                          "a lock", "mode": "sequential"})  # fmt: skip
        else:
            r = await client.call_tool("record_trajectory", {
                "task": f"concurrency task {i}", "steps": ["reproduced", "fixed"], "outcome": "success",
                "items": [stress.lesson(random.Random(i), f"call {i}")],
            })  # fmt: skip
        if r.is_error:
            errors.append(r.content[0].text)
        else:
            results[i] = r.structured_content

    async def go() -> None:
        async with Client(app) as client, anyio.create_task_group() as tg:
            for i in range(60):
                tg.start_soon(call, client, i)

    anyio.run(go)
    assert errors == []
    with Bank(config, embedder=embedder) as bank:
        store = bank.store
        written = {i: r["trajectory_id"] for i, r in results.items() if i % 4 != 0}
        tasks = dict(store.query("select id, task from trajectories"))
        assert {tasks[t] for t in written.values()} == {f"concurrency task {i}" for i in written}
        assert len(tasks) == len(written)
        item_ids = [r["stored"][0]["id"] for i, r in results.items() if i % 4 in (2, 3)]
        assert len(set(item_ids)) == len(item_ids) == store.one("select count(*) from items")[0] == 30
        assert store.consistency_problems() == [] and store.integrity() == "ok"


def _insert_task(store: Store, label: str) -> int:
    with store.transaction() as db:
        cur = db.execute(
            "insert into trajectories (task, status, created_at, updated_at) values (?, 'pending_verdict', ?, ?)",
            (label, now(), now()),
        )
        store.index_task(db, int(cur.lastrowid))
        return int(cur.lastrowid)


@pytest.mark.timeout(120)
def test_threads_on_two_connections_never_see_locked(tmp_path):
    """Two connections (as two processes have) with four threads each, all writing at once."""
    path = tmp_path / "bank.sqlite3"
    stores = [open_store(path), open_store(path)]
    failures: list[BaseException] = []

    def writer(store: Store, name: str) -> None:
        try:
            for n in range(40):
                _insert_task(store, f"{name} write {n}")
                store.query("select count(*) from task_fts where task_fts match 'write'")
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(stores[i % 2], f"t{i}")) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    labels = [r[0] for r in stores[0].query("select task from trajectories")]
    assert len(labels) == len(set(labels)) == 320
    assert stores[1].consistency_problems() == []
    for store in stores:
        store.close()


@pytest.mark.timeout(60)
def test_writer_waits_for_a_held_lock_then_gives_a_clear_error(tmp_path, monkeypatch):
    path = tmp_path / "bank.sqlite3"
    holder, waiter = open_store(path), open_store(path)
    holder.db.execute("begin immediate")
    threading.Timer(1.0, lambda: holder.db.execute("commit")).start()
    started = time.monotonic()
    _insert_task(waiter, "waited for the lock")  # busy_timeout waits; no error reaches the caller
    assert time.monotonic() - started >= 0.9

    # A lock held for longer than the whole retry budget: a StoreError with advice, bounded in time.
    monkeypatch.setattr("rb_mcp.store.sqlite.BUSY_TIMEOUT_MS", 300)
    waiter.db.execute("pragma busy_timeout = 100")
    holder.db.execute("begin immediate")
    started = time.monotonic()
    with pytest.raises(StoreError, match="locked by another process; retry in a moment"):
        _insert_task(waiter, "never written")
    assert time.monotonic() - started < 5
    holder.db.execute("rollback")
    assert waiter.one("select count(*) from trajectories where task = 'never written'")[0] == 0
    holder.close()
    waiter.close()


OPEN_AT_ONCE = """
import sys, time
from rb_mcp.store import Store, open_store
while time.time() < float(sys.argv[2]):
    time.sleep(0.005)
open_store(sys.argv[1]).close()
"""


@pytest.mark.timeout(120)
def test_fresh_bank_opened_by_many_processes_at_once(tmp_path):
    """IDE windows starting together on a new bank: exactly one applies each migration.

    Before the fix every process but one could fail with 'table meta already exists'."""
    for trial in range(2):
        path = tmp_path / f"bank{trial}.sqlite3"
        start_at = str(time.time() + 2.0)  # all processes are imported and waiting by then
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", OPEN_AT_ONCE, str(path), start_at], stderr=subprocess.PIPE, text=True
            )
            for _ in range(6)
        ]
        errors = [p.communicate(timeout=60)[1] for p in procs]
        assert [p.returncode for p in procs] == [0] * 6, errors
        store = open_store(path)
        assert store.one("select count(*) from _migrations")[0] == len(migrations.MIGRATIONS)
        store.close()


# ---- a PostgreSQL team bank: many processes, each with its own connection pool ----------------
@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_servers_and_cli_writers_share_one_postgres_bank(pg_url, isolated_env):
    """The same workload on one PostgreSQL bank: 3 servers (one killed mid-run) and 2 CLI loops;
    every acknowledged write is found once, forgotten items are gone, the indexes agree."""
    params = stress.Params(servers=3, cli=2, seconds=15, kills=1, inflight=2, seed=11, min_cli_ops=4)
    report = stress.run_workload(pg_url, params, env=isolated_env)
    _assert_nothing_lost(report)


@pytest.mark.timeout(180)
def test_concurrent_consolidation_and_credit_on_postgres(pg_url, embedder):
    """Writers that each hold their own pool (as separate machines would) store the same lesson
    and credit the same recall at once: one item, every merge counted, credit given once."""
    from conftest import good_item

    writers, rounds = 6, 3
    with Bank(Config(bank=pg_url, preload=False), embedder=embedder) as first:
        first.default_project = None
        first.record(
            task="Parser crashes on empty input", summary="s", outcome="success", items=[good_item(1)]
        )
        recall = first.recall("Parser crashes on empty input")
        assert recall.items
    errors: list[str] = []
    start = threading.Barrier(writers)

    def writer(n: int) -> None:
        try:
            with Bank(Config(bank=pg_url, preload=False), embedder=embedder) as bank:
                bank.default_project = None
                start.wait()
                for r in range(rounds):
                    item = (
                        good_item(1)
                        if r % 2 == 0
                        else good_item(1, title=f"Reproduce the failure first ({n})")
                    )
                    bank.record(task=f"Parser crash {n}.{r}", summary="s", outcome="success", items=[item])
                bank.record(task=f"verdict {n}", summary="s", outcome="success", recall_id=recall.recall_id)
        except Exception as exc:  # collected: an assertion in a thread would be lost
            errors.append(f"writer {n}: {exc!r}")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    store = open_store(pg_url)
    try:
        active = store.query("select id, strength, helped from items where status = 'active'")
        assert len(active) == 1, active  # every copy consolidated into the first item
        assert active[0][1] == 1 + writers * rounds
        assert active[0][2] == 1  # the recall was credited once, by one of the six verdicts
        assert store.consistency_problems() == []
    finally:
        store.close()
