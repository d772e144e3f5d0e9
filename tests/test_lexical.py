"""Keyword search planning: every word on a small bank, the rare words on a large one, bounded work."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rb_mcp.clock import now
from rb_mcp.store import Store, lexical, open_store
from rb_mcp.store.fts import fts_query


def _fts_table(rows: list[str]) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("create virtual table t using fts5(body, tokenize = 'porter unicode61')")
    db.executemany("insert into t (rowid, body) values (?, ?)", enumerate(rows, start=1))
    return db


def _planner(db: sqlite3.Connection, counted: list[str] | None = None) -> lexical.Planner:
    def count(exprs: list[str], cap: int) -> list[int]:
        if counted is not None:
            counted.extend(exprs)
        sql = "select count(*) from (select rowid from t where t match ? limit ?)"
        return [db.execute(sql, (expr, cap)).fetchone()[0] for expr in exprs]

    def total() -> int:
        return db.execute("select coalesce(max(rowid), 0) from t").fetchone()[0]

    return lexical.Planner(count, total, rows=100)


def test_small_bank_searches_every_word():
    planner = _planner(_fts_table(["retry the flaky parser test"] * 50))
    text = "the parser retries forever on timeouts"
    assert planner.planned(text) == (fts_query(text), True)


def test_large_bank_keeps_the_rare_words_and_drops_the_common_ones():
    rows = ["parser timeout in the worker"] * 400 + ["cache eviction bug"] * 30 + ["sqlite lock"] * 5
    planner = _planner(_fts_table(rows))
    plan, ranked = planner.planned("Parser timeout when the sqlite cache is locked")
    assert ranked
    # sqlite (5 rows) + cache (30) + lock (5) fit in 100 rows; parser and timeout (400 each) do not.
    assert set(plan.split(" OR ")) == {'"sqlite"', '"cache"', '"locked"'}


def test_all_common_words_need_the_two_rarest_together():
    rows = ["alpha beta"] * 300 + ["alpha gamma"] * 200 + ["beta gamma delta"] * 150
    planner = _planner(_fts_table(rows))
    # ... and rank them newest first: BM25 would walk both words' postings to count them.
    assert planner.planned("alpha beta gamma delta") == ('"delta" AND "gamma"', False)


def test_counts_are_cached():
    counted: list[str] = []
    planner = _planner(_fts_table(["alpha beta"] * 300), counted)
    planner.plan("alpha beta")
    first = len(counted)
    planner.plan("beta alpha")
    assert first == 2 and len(counted) == first


def test_a_new_rare_word_is_searched_at_once():
    """Counts are cached, but not the absence of a word: the next item stored may bring it."""
    db = _fts_table(["parser timeout"] * 300)
    planner = _planner(db)
    assert planner.plan("parser deadlock") == '"parser"'
    db.execute("insert into t (rowid, body) values (1000, 'parser deadlock in the worker')")
    assert planner.plan("parser deadlock") == '"deadlock"'


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300))
def test_any_plan_is_valid_fts5(text):
    rows = [f"word{i % 7} common row {i}" for i in range(300)]
    db = _fts_table(rows)
    plan = _planner(db).plan(text)
    if plan:
        db.execute("select count(*) from t where t match ?", (plan,)).fetchone()


def _add_items(store: Store, texts: list[tuple[str, str]]) -> None:
    """Rows written straight to the store (no embedding): this test is about keyword search only."""
    with store.transaction() as db:
        for title, scope in texts:
            stamp = now()
            cur = db.execute(
                "insert into items (title, description, content, kind, scope, content_hash, created_at, "
                "updated_at) values (?, 'd', 'c', 'strategy', ?, ?, ?, ?)",
                (title, scope, title, stamp, stamp),
            )
            store.index_item(db, int(cur.lastrowid))


@pytest.mark.parametrize("scope", ["proj", "global"])
def test_keyword_search_on_a_large_bank_is_bounded_and_finds_the_rare_match(tmp_path, scope):
    store = open_store(tmp_path / "b.sqlite3")
    common = [(f"Retry the parser on timeout, case {i}", "proj") for i in range(2 * lexical.ROWS)]
    _add_items(store, common[: lexical.ROWS] + [("Parser deadlock in sqlite WAL checkpoint", scope)])
    _add_items(store, common[lexical.ROWS :])
    found = store.keyword("item_fts", "parser timeout with a WAL checkpoint deadlock", ["proj", "global"], 5)
    assert 0 < len(found) <= 5
    top = store.one("select title from items where id = ?", (found[0][0],))[0]
    assert top == "Parser deadlock in sqlite WAL checkpoint"
    other = store.keyword("item_fts", "parser timeout with a WAL checkpoint deadlock", ["elsewhere"], 5)
    assert other == []
    store.close()
