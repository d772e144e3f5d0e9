"""Export / import round-trips losslessly; bad files change nothing."""

from __future__ import annotations

import json

import pytest
from conftest import good_item

from rb_mcp.config import Config
from rb_mcp.errors import InputError
from rb_mcp.loop.bank import Bank
from rb_mcp.loop.transfer import export_lines, import_from

BOTH_BACKENDS = True  # each test using the bank runs on SQLite and on PostgreSQL (conftest)


def _fill(bank: Bank) -> None:
    recall = bank.recall("warm up")
    r = bank.record(task="Parser crashes on empty input", steps=["wrote repro"], outcome="success",
                    items=[good_item(1)], files=["src/parser.py"], recall_id=recall.recall_id, project="acme/app")  # fmt: skip
    bank.record(task="Cache never expires", summary="pending", project="acme/app")
    bank.refine(task="Cache never expires", attempt="added ttl", mode="sequential", group_id="g")
    bank.record(task="Parser crashes on empty input again", summary="s", outcome="success",
                items=[good_item(1, content=good_item(1)["content"] + " Keep the reproduction as a regression test.")],
                project="acme/app")  # fmt: skip
    assert r.status == "stored"


def test_round_trip_is_lossless(bank: Bank, embedder, tmp_path):
    _fill(bank)
    first = list(export_lines(bank))
    with Bank(Config(bank=tmp_path / "copy.sqlite3", preload=False), embedder=embedder) as copy:
        counts = import_from(copy, first)
        assert counts["items"] == 1 and counts["trajectories"] == 4 and counts["item_history"] == 1
        assert list(export_lines(copy)) == first
        assert copy.store.consistency_problems() == []
        assert copy.recall("parser crash on empty string", project="acme/app").items


def test_bad_files_change_nothing(bank: Bank):
    _fill(bank)
    lines = list(export_lines(bank))
    before = list(export_lines(bank))
    broken_ref = [
        *lines,
        json.dumps({"table": "item_sources", "row": {"item_id": 999, "trajectory_id": 1, "relation": "x"}}),
    ]
    bad_kind = [line.replace('"kind": "strategy"', '"kind": "wisdom"') for line in lines]
    for bad, message in [
        (["not json"], "not JSON"),
        (['{"format": "other"}'], "not an rb-mcp-export"),
        ([lines[0], "{oops"], "not JSON"),
        (broken_ref, "missing row"),
        (bad_kind, "kind"),
        ([], "empty"),
    ]:
        with pytest.raises(InputError, match=message):
            import_from(bank, bad)
    assert list(export_lines(bank)) == before


def test_import_redacts_secrets(bank: Bank, embedder, tmp_path):
    _fill(bank)
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    lines = [line.replace("wrote repro", f"wrote repro with {token}") for line in export_lines(bank)]
    with Bank(Config(bank=tmp_path / "copy.sqlite3", preload=False), embedder=embedder) as copy:
        import_from(copy, lines)
        dump = "\n".join(export_lines(copy))
    assert token not in dump


def test_import_keeps_secret_bearing_project_names_apart(bank: Bank, embedder, tmp_path):
    # An export written before names were redacted holds two projects that differ only in a token:
    # the import stores each as redacted text plus this bank's keyed digest, two scopes, no token.
    bank.record(task="Parser crashes on empty input", summary="s", outcome="success",
                items=[good_item(1)], project="acme/app")  # fmt: skip
    bank.record(task="Cache never expires after deploy", summary="s", outcome="success",
                items=[good_item(2, title="Bound every cache entry with a time to live",
                                 description="Entries without a TTL outlive the data they copy.",
                                 content="Give every cache write a TTL and invalidate on deploy, so a stale "
                                         "entry cannot outlive the schema or the data it was built from.")],
                project="acme/app")  # fmt: skip
    tokens = [
        "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
        "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2",
    ]
    lines, seen = [], 0
    for line in export_lines(bank):
        if '"acme/app"' in line and '"items"' in line[:20]:
            line = line.replace('"acme/app"', f'"acme/{tokens[seen % 2]}"')
            seen += 1
        lines.append(line)
    assert seen == 2
    with Bank(Config(bank=tmp_path / "copy.sqlite3", preload=False), embedder=embedder) as copy:
        import_from(copy, lines)
        scopes = [r[0] for r in copy.store.query("select scope from items order by id")]
        dump = "\n".join(export_lines(copy))
    assert len(set(scopes)) == 2, scopes
    assert all("[REDACTED" in s and "~" in s for s in scopes), scopes
    assert not any(t in dump for t in tokens)


def test_import_into_non_empty_bank_remaps_ids(bank: Bank, embedder, tmp_path):
    _fill(bank)
    lines = list(export_lines(bank))
    with Bank(Config(bank=tmp_path / "copy.sqlite3", preload=False), embedder=embedder) as copy:
        copy.record(task="Something else entirely", summary="s", outcome="success", items=[good_item(5, title="Unrelated lesson about queues and retries", content="Bound every retry loop with a deadline and jitter so a stuck dependency cannot pin the worker pool forever.")])  # fmt: skip
        import_from(copy, lines)
        assert copy.store.one("select count(*) from items")[0] == 2
        assert copy.store.consistency_problems() == []
        assert copy.store.one("pragma foreign_key_check") is None
