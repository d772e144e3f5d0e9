"""The bank file: migrations, indexes kept in step with rows, forgetting, degraded search, errors."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from conftest import good_item
from hypothesis import given, settings
from hypothesis import strategies as st

from rb_mcp.errors import SchemaError, StoreError
from rb_mcp.loop.bank import Bank
from rb_mcp.loop.items import forget
from rb_mcp.store import migrations, open_store
from rb_mcp.store.fts import fts_query, terms

BOTH_BACKENDS = True  # each test using the bank runs on SQLite and on PostgreSQL (conftest)


def test_fresh_bank_is_wal_with_schema(tmp_path):
    store = open_store(tmp_path / "b.sqlite3")
    assert store.one("pragma journal_mode")[0] == "wal"
    assert store.one("pragma foreign_keys")[0] == 1
    assert store.schema_version == migrations.LATEST
    names = {r[0] for r in store.query("select name from sqlite_master")}
    assert {"items", "trajectories", "recall_events", "item_fts", "task_fts", "_migrations"} <= names
    store.close()
    again = open_store(tmp_path / "b.sqlite3")  # reopening applies nothing twice
    assert again.one("select count(*) from _migrations")[0] == len(migrations.MIGRATIONS)
    again.close()


def test_bank_from_newer_schema_is_refused_untouched(tmp_path):
    path = tmp_path / "b.sqlite3"
    open_store(path).close()
    raw = sqlite3.connect(path)
    raw.execute("insert into _migrations values (999, 'future', 'x')")
    raw.commit()
    raw.close()
    before = path.read_bytes()
    with pytest.raises(SchemaError, match="newer than this rb-mcp"):
        open_store(path)
    assert path.read_bytes() == before


def test_garbage_file_is_a_clear_error(tmp_path):
    path = tmp_path / "b.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a readable rb-mcp database"):
        open_store(path)
    assert path.read_bytes() == b"this is not a database" * 100


def test_indexes_follow_rows_and_forget_removes_everything(bank: Bank):
    r = bank.record(
        task="Parser crashes on empty input", summary="s", outcome="success", items=[good_item(1)]
    )
    item_id = r.stored[0].id
    store = bank.store
    assert store.consistency_problems() == []
    assert store.one("select count(*) from item_vec where item_id = ?", (item_id,))[0] == 1
    assert store.one("select count(*) from item_fts where rowid = ?", (item_id,))[0] == 1
    assert forget(store, item_id)
    assert store.one("select count(*) from items")[0] == 0
    assert store.one("select count(*) from item_vec")[0] == 0
    assert store.one("select count(*) from item_fts")[0] == 0
    assert store.consistency_problems() == []
    assert not forget(store, item_id)
    assert bank.recall("Parser crashes on empty input").items == []


def test_forgotten_item_ids_are_never_reused(bank: Bank):
    """SQLite hands out max(id)+1, so forgetting the newest item used to give its id (with recall
    hits and credit pointing at it) to the next item stored."""
    first = bank.record(
        task="Parser crashes on empty input", summary="s", outcome="success", items=[good_item(1)]
    )
    old_id = first.stored[0].id
    recalled = bank.recall("Parser crashes on empty input")
    assert [i.id for i in recalled.items] == [old_id]
    assert forget(bank.store, old_id)
    second = bank.record(
        task="Cache never expires entries", summary="s", outcome="success",
        items=[good_item(2, title="Expire cache entries on write")],
    )  # fmt: skip
    new_id = second.stored[0].id
    assert second.stored[0].action == "added" and new_id > old_id
    assert bank.store.one("select count(*) from recall_hits where item_id = ?", (new_id,))[0] == 0
    bank.store.close()
    reopened = open_store(bank.store.path)  # the floor is in the file, not in the process
    assert reopened.one("select max(id) from items")[0] == new_id
    reopened.close()


def test_archive_hides_from_recall_but_keeps_row(bank: Bank):
    r = bank.record(
        task="Parser crashes on empty input", summary="s", outcome="success", items=[good_item(1)]
    )
    forget(bank.store, r.stored[0].id, hard=False)
    assert bank.store.one("select status from items")[0] == "archived"
    assert bank.recall("Parser crashes on empty input").items == []
    assert bank.store.consistency_problems() == []


def test_numpy_fallback_matches_vec0(bank: Bank):
    for n, task in enumerate(
        ["Parser crashes on empty input", "Cache never expires entries", "Login form rejects emails"]
    ):
        bank.record(
            task=task, summary="s", outcome="success", items=[good_item(n, title=f"{task} lesson title")]
        )
    q = bank.embed_one("cache entries are never evicted")
    fast = bank.store.knn("item_vec", q, ["global"], 3)
    slow = bank.store._knn_numpy("item_vec", q, ["global"], 3)
    assert [i for i, _ in fast] == [i for i, _ in slow]
    assert np.allclose([s for _, s in fast], [s for _, s in slow], atol=1e-4)


def test_model_switch_is_refused_without_reembed(bank: Bank):
    bank.ready_vectors()
    with pytest.raises(StoreError, match="reembed"):
        bank.store.ensure_vectors("some/other-model", 384)


def test_failed_transaction_leaves_nothing(bank: Bank):
    bank.ready_vectors()
    with pytest.raises(RuntimeError), bank.store.transaction() as db:
        db.execute(
            "insert into trajectories (task, status, created_at, updated_at) values ('t', 'signal', 'x', 'x')"
        )
        raise RuntimeError("boom")
    assert bank.store.one("select count(*) from trajectories")[0] == 0


def test_backup_is_a_readable_copy(bank: Bank, tmp_path):
    bank.record(task="Parser crashes on empty input", summary="s", outcome="success", items=[good_item(1)])
    target = tmp_path / "copy.sqlite3"
    bank.store.backup(target)
    copy = open_store(target)
    assert copy.one("select count(*) from items")[0] == 1 and copy.integrity() == "ok"
    copy.close()
    with pytest.raises(StoreError, match="exists"):
        bank.store.backup(target)


def test_terms_split_identifiers():
    assert {"validate", "ipv6", "url", "field"} <= set(terms("validate_ipv6 URLField"))
    assert "the" not in terms("the parser")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_fts_query_never_raises(text):
    db = sqlite3.connect(":memory:")
    db.execute("create virtual table f using fts5(a)")
    db.execute("insert into f values ('some text here')")
    query = fts_query(text)
    if query:
        db.execute("select rowid from f where f match ?", (query,)).fetchall()


@pytest.mark.parametrize(
    "hostile",
    ['"unbalanced', "a AND OR NOT", "col:value", "NEAR(a b, 3)", "x* ^y", "(((", "'; drop table items; --"],
)
def test_fts_hostile_queries_search_safely(bank: Bank, hostile):
    bank.record(task="Parser crashes on empty input", summary="s", outcome="success", items=[good_item(1)])
    bank.recall(hostile + " parser")  # must not raise
    assert bank.store.one("select count(*) from items")[0] == 1


def test_code_refs_from_paths_and_modules():
    from rb_mcp.store.fts import code_refs

    refs = code_refs(
        'File "/usr/lib/python3/site-packages/django/core/validators.py", in django.db.models.query.QuerySet'
    )
    assert "core validators py" in refs and "validators py" in refs
    assert "django db models query" in refs and "django db models" in refs


@pytest.mark.timeout(20)
def test_fts_query_on_a_huge_word_is_fast():
    assert fts_query("a" * 1_000_000).count('"') >= 2


def test_episode_found_through_a_named_file_below_the_floor(bank: Bank):
    # A past task that touched the file this task names comes back even when the two issue texts
    # are not similar enough for the cosine floor.
    past = bank.record(task="Refactor the admin changelist for speed", summary="s", outcome="success",
                       files=["django/contrib/admin/views/main.py"])  # fmt: skip
    hit = bank.recall("Crash in django/contrib/admin/views/main.py when list_filter has a callable", k=3)
    assert past.trajectory_id in [e.trajectory_id for e in hit.episodes]


def test_consistency_check_finds_a_missing_index_row(bank: Bank):
    r = bank.record(
        task="Parser crashes on empty input", summary="s", outcome="success", items=[good_item(1)]
    )
    item_id = r.stored[0].id
    with bank.store.transaction() as db:
        db.execute("delete from item_fts where rowid = ?", (item_id,))
    assert any(p.startswith("items without FTS row") for p in bank.store.consistency_problems())


def _lesson(bank: Bank, n: int, task: str, **item: str):
    """Record a successful task with one agent-written item (good_item n, with these fields)."""
    return bank.record(task=task, summary="s", outcome="success", items=[good_item(n, **item)])


def test_keyword_search_when_every_word_is_common(bank: Bank, monkeypatch):
    """Past the planner's row budget with only common words: rows holding the two rarest, newest first."""
    from rb_mcp.store import lexical

    topics = ["unicode filenames", "daylight saving", "gzip streams", "socket reuse", "locale sorting",
              "symlink loops", "float rounding", "cron syntax"]  # fmt: skip
    bank.config = bank.config.replace(dedupe_threshold=1.0)  # eight rows, not one merged
    for n, topic in enumerate(topics):
        _lesson(
            bank,
            n,
            f"Parser timeout in the worker with {topic}",
            title=f"Parser timeout in the worker: check {topic} first",
            description=f"A worker parser timing out on {topic} hides a different root cause.",
            content=f"Reproduce with {topic} alone, log the parser state at the timeout, then bisect.",
        )
    assert bank.store.one("select count(*) from items")[0] == len(topics)
    monkeypatch.setattr(lexical, "ROWS", 3)  # 8 rows per word is "common" now
    getattr(bank.store, "_planners", {}).clear()
    items = [i for i, _ in bank.store.keyword("item_fts", "parser timeout worker", ["global"], 5)]
    newest = [r[0] for r in bank.store.query("select id from items order by id desc limit 3")]
    if bank.store.dialect == "sqlite":
        assert bank.store.match_plan("item_fts", "parser timeout worker")[1] is False
        assert items == newest  # at most ROWS rows are looked at, newest first
        tasks, files = bank.store.task_keywords("parser timeout worker", ["global"], 5, set())
        assert len(tasks) == 3 and tasks == sorted(tasks, reverse=True) and files == []
    else:  # PostgreSQL leaves such a query to the vectors (see PgStore._keyword_plan)
        assert items == [] and bank.store.task_keywords("parser timeout worker", ["global"], 5, set()) == (
            [],
            [],
        )
    assert bank.recall("Parser timeout in the worker", k=3).items


class _HalfMiniLM:
    """A second "model" for switching to, built on the real one (no other model is reachable
    offline): its first 192 dimensions, renormalised. The test is about the switch, not the model."""

    name = "test/minilm-first-half"
    dim = 192

    def __init__(self, *_args: object) -> None:
        from rb_mcp.embed import FastEmbedder

        self._inner = FastEmbedder()

    def embed(self, texts: list[str]) -> np.ndarray:
        vecs = self._inner.embed(texts)[:, : self.dim]
        return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def test_reembed_switches_every_vector_to_the_new_model(bank: Bank, monkeypatch):
    from rb_mcp import admin

    bank.config = bank.config.replace(dedupe_threshold=1.0)  # three items, none merged
    for n, topic in enumerate(["unicode filenames", "daylight saving time", "gzip streams"]):
        _lesson(bank, n, f"Parser crashes on {topic}", title=f"Test the parser on {topic} first")
    items = bank.store.one("select count(*) from items where status = 'active'")[0]
    monkeypatch.setattr(admin, "FastEmbedder", _HalfMiniLM)
    counts = admin.reembed(bank, _HalfMiniLM.name)
    assert counts == {"items": bank.store.one("select count(*) from items")[0], "tasks": 3}
    assert bank.store.vector_model() == (_HalfMiniLM.name, 192)
    dims = {
        len(r[0]) // 4 for r in bank.store.query("select embedding from items where embedding is not null")
    }
    assert dims == {192}
    assert bank.store.consistency_problems() == []
    hits = bank.recall("the parser crashes on daylight saving time", k=3).items
    assert hits and "daylight saving" in hits[0].title
    assert bank.store.one("select count(*) from items where status = 'active'")[0] == items


def test_keyword_search_weighs_a_rare_word_above_a_common_one(bank: Bank):
    """BM25 on SQLite, ts_rank per word weighted by inverse document frequency on PostgreSQL."""
    bank.config = bank.config.replace(dedupe_threshold=1.0)
    common = ["unicode filenames", "daylight saving", "gzip streams", "socket reuse", "cron syntax"]
    for n, topic in enumerate(common):
        _lesson(
            bank,
            n,
            f"Parser parser bug with {topic}",
            title=f"Parser parser parser: {topic}",
            description=f"The parser and {topic}.",
        )
    rare = _lesson(
        bank,
        9,
        "Worker hangs",
        title="Deadlock in the worker pool",
        description="Two locks taken in two orders.",
    )
    found = [i for i, _ in bank.store.keyword("item_fts", "parser deadlock", ["global"], 6)]
    assert found[0] == rare.stored[0].id
