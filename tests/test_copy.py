"""`rb-mcp copy`: SQLite -> PostgreSQL -> SQLite gives the same bank back, row for row."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import good_item

from rb_mcp.config import Config
from rb_mcp.errors import InputError
from rb_mcp.loop.bank import Bank
from rb_mcp.loop.items import forget
from rb_mcp.loop.transfer import export_lines_of
from rb_mcp.store import open_store
from rb_mcp.store.copy import copy_bank


def _fill(bank: Bank) -> None:
    bank.record(task="Parser crashes on empty input", summary="s", outcome="success",
                        items=[good_item(1)], files=["src/parser.py"], project="acme/app")  # fmt: skip
    recall = bank.recall("Parser crashes on empty input", project="acme/app")
    bank.record(task="Cache never expires entries", summary="s", outcome="failure", recall_id=recall.recall_id,
                project="acme/app", items=[good_item(2, title="Check the cache expiry clock before blaming eviction",
                                    content="Compare the clock the cache reads with wall time, freeze it in a test, and "
                                    "only then look at the eviction policy; skewed clocks keep entries forever.")])  # fmt: skip
    bank.record(task="Login form rejects valid emails", steps=["read the regex"])  # pending
    bank.refine("Speed up the slow report", "tried caching", "parallel", group_id="g1", outcome="failure")
    # a fuller merge leaves history behind
    bank.record(task="Parser crashes again", summary="s", outcome="success",
                items=[good_item(1, content=good_item(1)["content"] + " Keep the reproduction as a regression test "
                                 "so the same crash cannot come back unnoticed in a later refactor of the parser.")],
                project="acme/app")  # fmt: skip
    spare = bank.record(task="Throwaway", summary="s", outcome="success",
                        items=[good_item(3, title="Pin the tool versions the build uses",
                                          content="Record the exact compiler and linter versions in the lock file and "
                                          "have the build refuse other versions, so a runner update cannot break it.")])  # fmt: skip
    forget(bank.store, spare.stored[0].id)  # the highest id is forgotten: it must stay unused
    with bank.store.transaction() as db:
        bank.store.set_meta(db, "consolidate:pair:1:2", "2026-01-01T00:00:00")


def _dump(store) -> tuple[list[str], list]:
    lines = list(export_lines_of(store))
    meta = sorted(tuple(r) for r in store.query("select key, value from meta"))
    return lines, meta


def test_round_trip_sqlite_postgres_sqlite_is_lossless(tmp_path, pg_url, embedder):
    with Bank(Config(bank=tmp_path / "a.sqlite3", preload=False), embedder=embedder) as bank:
        bank.default_project = None
        _fill(bank)
        before = _dump(bank.store)
        floor = bank.store.get_meta("item_id_floor")
    assert floor is not None and len(before[0]) > 10

    src = open_store(tmp_path / "a.sqlite3")
    pg = open_store(pg_url)
    copy_bank(src, pg)
    src.close()
    assert _dump(pg) == before
    assert pg.consistency_problems() == []
    # the copy built the HNSW indexes once at its end (bulk load)
    assert pg.one("select to_regclass('item_vec_hnsw'), to_regclass('task_vec_hnsw')") == (
        "item_vec_hnsw",
        "task_vec_hnsw",
    )
    back = open_store(tmp_path / "b.sqlite3")
    seen: list[int] = []
    copy_bank(pg, back, progress=seen.append)
    assert sum(seen) == sum(1 for line in before[0][1:])
    assert _dump(back) == before
    assert back.consistency_problems() == []
    back.close()

    # Both copies work as banks: recall finds the same items, new ids stay above the forgotten one.
    for target in (pg_url, tmp_path / "b.sqlite3"):
        store = pg if target == pg_url else None
        with Bank(Config(bank=target, preload=False), embedder=embedder, store=store) as bank:
            bank.default_project = None
            hits = bank.recall("Parser crashes on empty input", project="acme/app").items
            assert hits and hits[0].title.startswith("Reproduce the failure")
            new = bank.record(task="Another task", summary="s", outcome="success",
                              items=[good_item(4, title="Read the changelog before upgrading",
                                                content="Before bumping a dependency read its changelog for removed "
                                                "options and changed defaults, then run the slow tests once.")])  # fmt: skip
            assert new.stored[0].id > int(floor)


def test_copy_refuses_a_non_empty_destination(tmp_path, pg_url, embedder):
    for target in (tmp_path / "a.sqlite3", pg_url):
        with Bank(Config(bank=target, preload=False), embedder=embedder) as bank:
            bank.record(task="Parser crashes", summary="s", outcome="success", items=[good_item(1)])
    src, dst = open_store(tmp_path / "a.sqlite3"), open_store(pg_url)
    with pytest.raises(InputError, match="already holds memory"):
        copy_bank(src, dst)
    assert dst.one("select count(*) from items")[0] == 1
    src.close()
    dst.close()


def test_copy_command_both_ways_and_append(tmp_path, pg_url, embedder, isolated_env):
    with Bank(Config(bank=tmp_path / "a.sqlite3", preload=False), embedder=embedder) as bank:
        bank.record(task="Parser crashes", summary="s", outcome="success", items=[good_item(1)])

    def rb(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "rb_mcp", *args], capture_output=True, text=True,
                              env=isolated_env, timeout=120)  # fmt: skip

    out = rb("copy", str(tmp_path / "a.sqlite3"), pg_url)
    assert out.returncode == 0, out.stderr
    assert '"items": 1' in out.stdout
    again = rb("copy", str(tmp_path / "a.sqlite3"), pg_url)
    assert again.returncode == 1 and "already holds memory" in again.stderr
    appended = rb("copy", "--append", str(tmp_path / "a.sqlite3"), pg_url)
    assert appended.returncode == 0, appended.stderr
    back = rb("copy", pg_url, str(tmp_path / "b.sqlite3"))
    assert back.returncode == 0, back.stderr
    store = open_store(tmp_path / "b.sqlite3")
    # the appended twin was consolidated? no: import keeps rows as they are, with a new id
    assert store.one("select count(*) from items")[0] == 2
    assert store.consistency_problems() == []
    store.close()


def test_doctor_reports_the_postgres_backend(pg_url):
    from rb_mcp.admin import doctor

    checks, ok = doctor(Config(bank=pg_url, preload=False), load_model=False)
    found = {name: (status, detail) for name, status, detail in checks}
    assert ok, checks
    assert found["backend"][1].startswith("PostgreSQL 16") and "psycopg" in found["backend"][1]
    assert found["pgvector"][0] == "ok" and found["pgvector"][1][0].isdigit()
    assert found["consistency"] == ("ok", "rows and indexes agree")


def test_a_bad_url_is_a_clear_error_at_once():
    from rb_mcp.errors import StoreError

    with pytest.raises(StoreError, match="cannot connect to the PostgreSQL bank"):
        open_store("postgresql://nobody:secret@127.0.0.1:9/none?connect_timeout=2")
