"""Project names stored in clear by an rb-mcp that did not redact names yet (SQLite migration 8,
PostgreSQL 7): the secret leaves every table, and the project keeps working under its new name."""

from __future__ import annotations

from pathlib import Path

import pytest

from rb_mcp.config import Config
from rb_mcp.loop.bank import Bank
from rb_mcp.store import migrations
from rb_mcp.store.migrations import redact_scope_names
from tests.conftest import good_item

TOKEN = "xoxb-" + "2468013579-1357924680123-" + "qwertyuiopasdfghjklzxcvb"
SECRET_PROJECT = f"acme/{TOKEN}"
CLEAR = SECRET_PROJECT.lower()  # what an rb-mcp that did not redact names stored for it
TABLES = ("trajectories", "items", "recall_events", "groups")


def _fill(bank: Bank) -> None:
    recall = bank.recall("Parser crashes on empty input", "acme/app")
    bank.record(task="Parser crashes on empty input", summary="s", outcome="success", items=[good_item(1)],
                project="acme/app", recall_id=recall.recall_id)  # fmt: skip
    bank.refine(task="Parser crashes on empty input", attempt="guarded", mode="sequential", group_id="g",
                project="acme/app")  # fmt: skip


def _as_before(db, vectors: bool) -> None:
    """Store the project's name in clear, as rb-mcp did before it redacted names."""
    stored = db.execute("select scope from items").fetchone()[0]
    for table, column in (("trajectories", "project"), ("items", "scope"), ("recall_events", "project"),
                          ("groups", "project")) + ((("item_vec", "scope"), ("task_vec", "project")) if vectors else ()):  # fmt: skip
        db.execute(f"update {table} set {column} = ? where {column} = ?", (CLEAR, stored))
    db.execute("update access_tokens set projects = ?", (f'["{CLEAR}"]',))


def _leaks(store) -> list[str]:
    found = []
    for table in TABLES + ("access_tokens",):
        for row in store.query(f"select * from {table}"):
            if any(TOKEN.lower() in str(v).lower() for v in row):
                found.append(table)
    return found


def test_upgrade_redacts_names_stored_in_clear(tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "old.sqlite3"
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:7])
    with Bank(Config(bank=path, project=None, preload=False), embedder=embedder) as old:
        _fill(old)
        old.recall("warm the vector index", "acme/app")
        with old.store.transaction() as db:
            db.execute(
                "insert into access_tokens (identity, secret_hash, created_at) values ('bob', 'h', 'now')"
            )
            _as_before(db, vectors=True)
        assert old.store.schema_version == 7 and "items" in _leaks(old.store)
    monkeypatch.undo()
    with Bank(Config(bank=path, project=None, preload=False), embedder=embedder) as new:
        assert new.store.schema_version == migrations.LATEST
        assert _leaks(new.store) == []
        assert {r[0] for r in new.store.query("select scope from item_vec")} == {new.name_of(SECRET_PROJECT)}
        # The caller still names the project as before and finds its memory, by vector and keyword.
        hits = new.recall("Parser crashes on empty input", SECRET_PROJECT).items
        assert [h.title for h in hits] == [good_item(1)["title"]]


def test_the_same_step_on_postgres(pg_url: str, embedder):
    with Bank(Config(bank=pg_url, project=None, preload=False), embedder=embedder) as bank:
        _fill(bank)
        with bank.store.transaction() as db:
            db.execute(
                "insert into access_tokens (identity, secret_hash, created_at) values ('bob', 'h', 'now')"
            )
            _as_before(db, vectors=False)
        assert "items" in _leaks(bank.store)
        with bank.store.transaction() as db:
            redact_scope_names(db, vector_partitions=False)
        assert _leaks(bank.store) == []
        assert [h.title for h in bank.recall("Parser crashes on empty input", SECRET_PROJECT).items] == [
            good_item(1)["title"]
        ]
