"""What only the PostgreSQL store has: the SQL translation, and HNSW search inside small scopes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rb_mcp.clock import now
from rb_mcp.errors import InputError, StoreError
from rb_mcp.store import open_store
from rb_mcp.store import pg_migrations as pgmigrations
from rb_mcp.store.pgsql import translate, ts_atoms
from rb_mcp.store.postgres import hnsw_build_mb


def test_translation_of_the_shared_sql():
    assert translate("select * from items where id = ? and title like '%?%'") == (
        "select * from items where id = %s and title like '%%?%%'",
        False,
    )
    sql, returning = translate("insert or ignore into item_sources (item_id, trajectory_id) values (?, ?)")
    assert sql.endswith("on conflict do nothing") and not returning
    sql, returning = translate("insert into items (title) values (?)")
    assert sql.endswith("returning id") and returning
    with pytest.raises(StoreError):
        translate("insert or replace into meta values (?, ?)")


def test_hnsw_build_memory_fits_the_graph_within_the_configured_bound(monkeypatch):
    monkeypatch.delenv("RB_MCP_PG_BUILD_MEMORY_MB", raising=False)
    small, million = hnsw_build_mb(1_000, 384), hnsw_build_mb(1_000_000, 384)
    assert small == 64  # never below the floor
    assert 2_300 < million <= 4_096  # 1M 384-d vectors: about 2.3 GB of graph, with room
    monkeypatch.setenv("RB_MCP_PG_BUILD_MEMORY_MB", "1024")
    assert hnsw_build_mb(1_000_000, 384) == 1024
    monkeypatch.setenv("RB_MCP_PG_BUILD_MEMORY_MB", "lots")
    with pytest.raises(InputError, match="RB_MCP_PG_BUILD_MEMORY_MB"):
        hnsw_build_mb(1_000_000, 384)


def test_ts_atoms_are_safe_lexemes_and_file_phrases():
    atoms = ts_atoms("Fix 'x' AND (y) | !z in django/core/validators.py")
    assert "validators <-> py" in atoms and len(atoms) > 1
    assert not set("".join(atoms)) & set("'()!&|:*")
    assert ts_atoms("the of and") == []


def test_small_scope_in_a_large_bank_is_searched_completely(pg_url):
    """pgvector filters scopes after the HNSW scan: a small scope must not come back short."""
    store = open_store(pg_url)
    rng = np.random.default_rng(3)
    store.ensure_vectors("test/model", 16)
    stamp = now()
    with store.transaction() as db:
        for n in range(600):
            vec = rng.normal(size=16).astype(np.float32)
            vec /= np.linalg.norm(vec)
            scope = "mine" if n % 200 == 0 else "others"
            item_id = db.execute(
                "insert into items (title, description, content, kind, scope, embedding, content_hash, files, "
                "tags, created_at, updated_at) values (?, ?, ?, 'note', ?, ?, ?, ?, ?, ?, ?)",
                (
                    f"t{n}",
                    "d",
                    "c",
                    scope,
                    vec.tobytes(),
                    f"h{n}",
                    json.dumps([]),
                    json.dumps([]),
                    stamp,
                    stamp,
                ),
            ).lastrowid
            store.index_item(db, item_id)
    mine = {r[0] for r in store.query("select id from items where scope = 'mine'")}
    query = rng.normal(size=16).astype(np.float32)
    found = store.knn("item_vec", query / np.linalg.norm(query), ["mine"], 10)
    assert {i for i, _ in found} == mine and len(mine) == 3
    sims = [s for _, s in found]
    assert sims == sorted(sims, reverse=True)
    store.close()


OPEN_AT_ONCE = """
import sys, time
from rb_mcp.store import open_store
while time.time() < float(sys.argv[2]):
    time.sleep(0.005)
store = open_store(sys.argv[1])
store.ensure_vectors("test/model", 16)
store.close()
"""


def test_fresh_database_opened_by_many_processes_at_once(pg_server):
    """Servers on several machines starting together on a new database: each migration and the
    vector tables are created once, and nobody fails."""
    import subprocess
    import sys
    import time

    import psycopg
    from conftest import with_database

    base = pg_server.rpartition("rb_template=")[0].rstrip("?&")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute("drop database if exists rb_fresh_open")
        conn.execute("create database rb_fresh_open")
    url = with_database(base, "rb_fresh_open")
    start_at = str(time.time() + 3.0)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AT_ONCE, url, start_at], stderr=subprocess.PIPE, text=True
        )
        for _ in range(5)
    ]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 5, errors
    store = open_store(url)
    assert store.one("select count(*) from _migrations")[0] == len(pgmigrations.MIGRATIONS)
    assert store.vector_model() == ("test/model", 16) and store.vec_tables_exist()
    store.close()
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute("drop database rb_fresh_open with (force)")


def test_text_with_nul_is_stored_on_postgres(pg_url, embedder):
    """SQLite stores NUL in text and PostgreSQL refuses it: an agent's stray NUL must not fail a write."""
    from rb_mcp.config import Config
    from rb_mcp.loop.bank import Bank

    with Bank(Config(bank=pg_url, preload=False), embedder=embedder) as bank:
        bank.default_project = None
        result = bank.record(task="Parser crashes on \x00 bytes", summary="s\x00")
        assert bank.trajectory(result.trajectory_id).task == "Parser crashes on \ufffd bytes"
