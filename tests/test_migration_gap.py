"""The migration runner applies numbers as listed, so a gap is fine and a lower number added later
(another change's migration, merged after this one shipped) is applied to banks already past it."""

from __future__ import annotations

import pytest

from rb_mcp.store import migrations, open_store
from rb_mcp.store import pg_migrations as pgmigrations

BOTH_BACKENDS = True


def test_a_gap_and_a_late_lower_number(bank_target, backend, monkeypatch):
    module = pgmigrations if backend == "postgres" else migrations
    numbers = [n for n, _, _ in module.MIGRATIONS]
    assert numbers == sorted(numbers) and numbers[-1] == module.LATEST
    # The late migration: a number left free, else (every number taken) the one below the latest,
    # left out while the bank is made and merged afterwards.
    gap = next((n for n in range(1, numbers[-1]) if n not in numbers), None)
    real = None
    if gap is None and backend == "postgres":
        pytest.skip("every PostgreSQL number is taken and the test database comes migrated from a template")
    if gap is None:
        gap = numbers[-2]
        real = {n: fn for n, _, fn in module.MIGRATIONS}[gap]
        monkeypatch.setattr(module, "MIGRATIONS", [m for m in module.MIGRATIONS if m[0] != gap])
    store = open_store(bank_target)
    assert store.schema_version == numbers[-1]
    assert tuple(store.one("select count(anchors), count(stale_count) from items")) == (0, 0)
    store.close()
    ran: list[int] = []

    def late_fn(db):
        ran.append(gap)
        if real is not None:
            real(db)
        db.execute("create table late_table (x integer)")

    monkeypatch.setattr(module, "MIGRATIONS", sorted([*module.MIGRATIONS, (gap, "late", late_fn)]))
    store = open_store(bank_target)
    try:
        assert ran == [gap] and store.one("select count(*) from late_table")[0] == 0
        assert store.schema_version == numbers[-1]
    finally:
        store.close()


def test_a_sqlite_bank_from_before_anchors_is_upgraded(tmp_path, monkeypatch):
    bank_target = tmp_path / "old.sqlite3"
    monkeypatch.setattr(migrations, "MIGRATIONS", [m for m in migrations.MIGRATIONS if m[0] < 5])
    old = open_store(bank_target)
    assert old.schema_version == 4
    old.close()
    monkeypatch.undo()
    store = open_store(bank_target)
    try:
        assert store.schema_version == migrations.LATEST
        assert tuple(store.one("select count(anchors), count(stale_count) from items")) == (0, 0)
    finally:
        store.close()
