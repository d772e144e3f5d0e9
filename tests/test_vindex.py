"""The binary vector index: recall against exact search, partitions, and staying in step with the rows."""

from __future__ import annotations

import numpy as np
import pytest

from rb_mcp.clock import now
from rb_mcp.loop.items import forget, set_scope
from rb_mcp.store import Store, migrations, open_store, vindex

DIM = 384


def clustered(n: int, seed: int = 0, centers: int = 60) -> np.ndarray:
    """Unit vectors around a few centres, like embeddings of texts on a few topics."""
    base = np.random.default_rng(0).standard_normal((centers, DIM)).astype(np.float32)  # same topics for all
    rng = np.random.default_rng(seed)
    vecs = base[rng.integers(0, centers, n)] + 0.9 * rng.standard_normal((n, DIM)).astype(np.float32)
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def add_items(store: Store, vecs: np.ndarray, scopes: list[str]) -> list[int]:
    store.ensure_vectors("test-model", DIM)
    ids = []
    with store.transaction() as db:
        for n, (vec, scope) in enumerate(zip(vecs, scopes)):
            cur = db.execute(
                "insert into items (title, description, content, kind, scope, embedding, content_hash, "
                "created_at, updated_at) values (?, 'd', 'c', 'strategy', ?, ?, ?, ?, ?)",
                (f"item {n}", scope, vec.astype(np.float32).tobytes(), f"h{n}", now(), now()),
            )
            ids.append(int(cur.lastrowid))
            store.index_item(db, ids[-1])
    return ids


def add_tasks(store: Store, vecs: np.ndarray, projects: list[str | None]) -> list[int]:
    ids = []
    with store.transaction() as db:
        for n, (vec, project) in enumerate(zip(vecs, projects)):
            cur = db.execute(
                "insert into trajectories (task, project, status, task_embedding, created_at, updated_at) "
                "values (?, ?, 'pending_verdict', ?, ?, ?)",
                (f"task {n}", project, vec.astype(np.float32).tobytes(), now(), now()),
            )
            ids.append(int(cur.lastrowid))
            store.index_task(db, ids[-1])
    return ids


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "bank.sqlite3")
    yield s
    s.close()


def recall_at_10(store: Store, table: str, queries: np.ndarray, partitions: list[str]) -> float:
    found = 0
    for q in queries:
        exact = {i for i, _ in store._knn_numpy(table, q, partitions, 10)}
        fast = {i for i, _ in store.knn(table, q, partitions, 10)}
        found += len(exact & fast)
    return found / (10 * len(queries))


def test_fast_path_finds_what_exact_search_finds(store):
    vecs = clustered(4000)
    add_items(store, vecs, ["global"] * len(vecs))
    queries = clustered(40, seed=1)
    assert recall_at_10(store, "item_vec", queries, ["global"]) >= 0.95
    # the similarities it reports are the exact cosines
    q = queries[0]
    for item_id, sim in store.knn("item_vec", q, ["global"], 5):
        assert sim == pytest.approx(float(vecs[item_id - 1] @ q), abs=1e-5)


def test_two_thread_scan_gives_the_same_answer(store, monkeypatch):
    add_items(store, clustered(3000), ["global"] * 3000)
    q = clustered(1, seed=2)[0]
    single = store.knn("item_vec", q, ["global"], 20)
    monkeypatch.setattr(vindex, "PARALLEL_ROWS", 1)
    monkeypatch.setattr(vindex, "CHUNK", 256)
    assert store.knn("item_vec", q, ["global"], 20) == single


def test_small_searches_are_exact(store):
    vecs = clustered(150)
    add_items(store, vecs, ["global"] * 150)
    for q in clustered(5, seed=3):
        fast = store.knn("item_vec", q, ["global"], 10)
        exact = store._knn_numpy("item_vec", q, ["global"], 10)
        assert [i for i, _ in fast] == [i for i, _ in exact]
        assert np.allclose([s for _, s in fast], [s for _, s in exact], atol=1e-6)


def test_search_stays_inside_the_partitions(store):
    vecs = clustered(3000)
    scopes = ["proj-a", "proj-b", "global"] * 1000
    ids = add_items(store, vecs, scopes)
    scope_of = dict(zip(ids, scopes))
    queries = clustered(20, seed=4)
    for q in queries:
        hits = store.knn("item_vec", q, ["proj-a", "global"], 50)
        assert hits and {scope_of[i] for i, _ in hits} <= {"proj-a", "global"}
        assert {scope_of[i] for i, _ in store.knn("item_vec", q, ["proj-b"], 50)} == {"proj-b"}
    assert recall_at_10(store, "item_vec", queries, ["proj-a", "global"]) >= 0.95
    assert store.knn("item_vec", queries[0], ["nowhere"], 5) == []


def test_task_vectors_are_partitioned_by_project(store):
    store.ensure_vectors("test-model", DIM)
    vecs = clustered(600)
    projects = [None, "proj-a"] * 300
    ids = add_tasks(store, vecs, projects)
    project_of = dict(zip(ids, projects))
    hits = store.knn("task_vec", vecs[1], ["proj-a"], 10)
    assert hits[0][0] == ids[1] and {project_of[i] for i, _ in hits} == {"proj-a"}
    assert {project_of[i] for i, _ in store.knn("task_vec", vecs[0], ["global"], 10)} == {None}


def test_deletes_archives_and_moves_keep_every_index_consistent(store):
    vecs = clustered(2500)
    ids = add_items(store, vecs, ["global", "proj-a"] * 1250)
    q = vecs[0]
    assert store.knn("item_vec", q, ["global"], 1)[0][0] == ids[0]
    assert forget(store, ids[0])  # hard delete
    assert forget(store, ids[2], hard=False)  # archive
    assert set_scope(store, ids[4], "proj-b")
    hits = {i for i, _ in store.knn("item_vec", q, ["global"], 200)}
    assert not hits & {ids[0], ids[2], ids[4]}
    assert store.knn("item_vec", vecs[4], ["proj-b"], 1)[0][0] == ids[4]
    assert store.consistency_problems() == []
    assert store.one("select count(*) from item_vec")[0] == 2500 - 2


def test_a_rolled_back_write_never_reaches_the_index(store):
    vecs = clustered(300)
    add_items(store, vecs[:200], ["global"] * 200)
    store.knn("item_vec", vecs[0], ["global"], 1)  # load the index
    with pytest.raises(RuntimeError), store.transaction() as db:
        db.execute(
            "insert into items (id, title, description, content, kind, scope, embedding, content_hash, created_at, "
            "updated_at) values (9999, 't', 'd', 'c', 'strategy', 'global', ?, 'x', 'n', 'n')",
            (vecs[250].tobytes(),),
        )
        store.index_item(db, 9999)
        # searched inside the transaction (as the dedupe step does): must not pick up uncommitted rows
        store.knn("item_vec", vecs[250], ["global"], 1)
        raise RuntimeError("boom")
    assert 9999 not in {i for i, _ in store.knn("item_vec", vecs[250], ["global"], 10)}
    assert store.consistency_problems() == []


def test_writes_of_another_connection_show_up_at_the_next_search(tmp_path):
    path = tmp_path / "bank.sqlite3"
    reader, writer = open_store(path), open_store(path)
    try:
        vecs = clustered(400)
        ids = add_items(writer, vecs[:300], ["global"] * 300)
        assert reader.knn("item_vec", vecs[5], ["global"], 1)[0][0] == ids[5]
        new = add_items(writer, vecs[300:], ["global"] * 100)
        assert reader.knn("item_vec", vecs[350], ["global"], 1)[0][0] == new[50]
        forget(writer, new[50])
        assert new[50] not in {i for i, _ in reader.knn("item_vec", vecs[350], ["global"], 20)}
        assert reader.vector_index().problems() == []
    finally:
        reader.close()
        writer.close()


def test_snapshot_loads_and_replays_later_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(vindex, "SNAPSHOT_MIN_ROWS", 100)
    monkeypatch.setattr(vindex, "SNAPSHOT_CHUNK", 64)
    path = tmp_path / "bank.sqlite3"
    vecs = clustered(700)
    first = open_store(path)
    ids = add_items(first, vecs[:500], ["global", "proj-a"] * 250)
    first.knn("item_vec", vecs[0], ["global"], 1)  # loads from rows, then writes the snapshot
    assert first.one("select count(*) from vec_snapshot where tbl = 'item'")[0] > 1
    ids += add_items(first, vecs[500:], ["global", "proj-a"] * 100)
    forget(first, ids[10])
    first.close()
    second = open_store(path)
    try:
        second.warm_vectors()
        assert second.vector_index().loaded_from["item_vec"] == "snapshot"
        assert second.knn("item_vec", vecs[600], ["global"], 1)[0][0] == ids[600]
        assert ids[10] not in {i for i, _ in second.knn("item_vec", vecs[10], ["global", "proj-a"], 20)}
        assert second.consistency_problems() == []
    finally:
        second.close()


def test_a_reader_left_behind_by_pruning_reloads(tmp_path, monkeypatch):
    monkeypatch.setattr(vindex, "PRUNE_EVERY", 8)
    monkeypatch.setattr(vindex, "LOG_KEEP", 16)
    monkeypatch.setattr(vindex, "REPLAY_MAX", 10)
    path = tmp_path / "bank.sqlite3"
    reader, writer = open_store(path), open_store(path)
    try:
        vecs = clustered(300)
        add_items(writer, vecs[:100], ["global"] * 100)
        reader.knn("item_vec", vecs[0], ["global"], 1)
        ids = add_items(writer, vecs[100:], ["global"] * 200)
        assert writer.one("select count(*) from vec_changes")[0] < 40
        assert reader.knn("item_vec", vecs[250], ["global"], 1)[0][0] == ids[150]
        assert reader.consistency_problems() == []
    finally:
        reader.close()
        writer.close()


def test_dropping_vectors_empties_the_index(store):
    vecs = clustered(300)
    add_items(store, vecs, ["global"] * 300)
    assert store.knn("item_vec", vecs[0], ["global"], 1)
    with store.transaction() as db:
        store.drop_vectors(db)
    assert store.knn("item_vec", vecs[0], ["global"], 1) == []


def test_an_in_memory_bank_searches_exactly():
    store = open_store(":memory:")
    try:
        vecs = clustered(50)
        ids = add_items(store, vecs, ["global"] * 50)
        assert store.vector_index() is None
        assert store.knn("item_vec", vecs[7], ["global"], 1)[0][0] == ids[7]
    finally:
        store.close()


def test_migration_2_indexes_a_bank_made_before_it(tmp_path, monkeypatch):
    path = tmp_path / "bank.sqlite3"
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
    monkeypatch.setattr(migrations, "LATEST", 1)
    old = open_store(path)
    vecs = clustered(30)
    with old.transaction() as db:
        for n, vec in enumerate(vecs):
            db.execute(
                "insert into items (title, description, content, kind, scope, embedding, content_hash, created_at, "
                "updated_at) values (?, 'd', 'c', 'strategy', 'global', ?, ?, 'n', 'n')",
                (f"item {n}", vec.tobytes(), f"h{n}"),
            )
            db.execute("insert into item_fts (rowid, title) values (?, ?)", (n + 1, f"item {n}"))
        if old.has_vec:  # the float vec0 table of schema 1 is replaced
            db.execute(
                "create virtual table item_vec using vec0(item_id integer primary key, scope text partition key, "
                "embedding float[384] distance_metric=cosine)"
            )
    old.close()
    monkeypatch.undo()
    new = open_store(path)
    try:
        assert new.schema_version == migrations.LATEST
        assert new.one("select count(*) from item_vec")[0] == 30
        assert new.knn("item_vec", vecs[3], ["global"], 1)[0][0] == 4
        assert new.consistency_problems() == []
    finally:
        new.close()
