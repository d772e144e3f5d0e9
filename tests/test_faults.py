"""Crashes and faults: kill -9 mid-write, a full disk, a read-only, damaged or newer bank, no
sqlite-vec, a model file that fails its checksum, failed backups.

Each gives a clear error or a documented degraded mode; none damages the file or kills the server.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import good_item
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from rb_mcp import cli
from rb_mcp.admin import doctor
from rb_mcp.config import Config
from rb_mcp.embed import onnx_path
from rb_mcp.errors import StoreError
from rb_mcp.loop.bank import Bank
from rb_mcp.loop.items import forget
from rb_mcp.loop.transfer import check_lines, export_lines
from rb_mcp.server.app import build_server
from rb_mcp.store import Store, open_store
from rb_mcp.store.sqlite import _driver

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import stress  # noqa: E402

LESSON = good_item(1)
TASK = "Parser crashes on empty input"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_bank(path: Path, embedder: Any) -> Config:
    """A closed bank holding one memory item (the canary every fault must leave in place)."""
    config = Config(bank=path, preload=False, project="acme/app")
    with Bank(config, embedder=embedder) as bank:
        bank.record(task=TASK, steps=["wrote a repro"], outcome="success", items=[LESSON])
    return config


def call_tools(config: Config, factory: Callable[[Config], Bank], calls: list[tuple[str, dict]]) -> list[Any]:
    """Drive the real MCP server in-process (lifespan included) and return every call's result."""
    app = build_server(config, bank_factory=factory)

    async def go() -> list[Any]:
        async with Client(app) as client:
            return [await client.call_tool(name, args) for name, args in calls]

    return anyio.run(go)


def text(result: Any) -> str:
    return result.content[0].text if result.content else ""


def counts(path: Path) -> tuple[int, int]:
    store = open_store(path)
    try:
        return store.one("select count(*) from trajectories")[0], store.one("select count(*) from items")[0]
    finally:
        store.close()


def assert_healthy(path: Path) -> None:
    store = open_store(path)
    try:
        assert store.integrity() == "ok"
        assert store.consistency_problems() == []
        assert store.one("select count(*) from items where title = ?", (LESSON["title"],))[0] == 1
    finally:
        store.close()


# ---- kill -9 -------------------------------------------------------------------------------
@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_kill_9_mid_write_loses_no_acknowledged_write(tmp_path, isolated_env):
    """Two servers with three calls in flight each; kill -9 one of them mid-write, three times. After
    each kill the bank opens and passes integrity_check and the consistency check; at the end every
    acknowledged write is there exactly once."""
    params = stress.Params(servers=2, cli=0, seconds=12, kills=3, inflight=3, seed=11)
    report = stress.run_workload(tmp_path / "bank.sqlite3", params, env=isolated_env)

    assert report.kills == 3 and report.server_processes == 2 + 3  # each killed server came back and wrote
    assert report.checks_after_kills == 3 and report.bad_after_kills == []
    assert report.unexpected_errors == []
    assert report.acknowledged >= 10
    assert (report.lost, report.duplicates) == (0, 0)
    assert report.integrity == "ok" and report.consistency == []


# ---- full disk -----------------------------------------------------------------------------
def fill_disk(store: Store) -> None:
    """SQLITE_FULL on demand: cap the file at its size, then use up the free space left in it."""
    pages = store.one("pragma page_count")[0]
    store.db.execute(f"pragma max_page_count = {pages}")
    # Each table keeps free room in its own pages: fill the ones a recall writes to. (The writes
    # the tests expect to fail are larger than any room left in the trajectories' pages.)
    fillers = [
        "insert into meta values ('filler ' || ?, ?)",
        "insert into recall_events (query, k, created_at) values (?, 0, ?)",
    ]
    for sql in fillers:
        for n, size in enumerate((4000, 1000, 200, 20)):
            with contextlib.suppress(Exception):
                for i in range(100_000):
                    store.db.execute(sql, (f"filler {n} {i}", "x" * size))


def test_full_disk_is_a_clear_error_and_changes_nothing(tmp_path, embedder):
    config = make_bank(tmp_path / "bank.sqlite3", embedder)
    before = counts(config.bank)

    def full_bank(c: Config) -> Bank:
        bank = Bank(c, embedder=embedder)
        fill_disk(bank.store)
        return bank

    record = {"task": "Cache never expires entries", "summary": "added a ttl " * 2000, "outcome": "success",
              "items": [good_item(2, title="Give every cache entry a time to live")]}  # fmt: skip
    results = call_tools(config, full_bank, [
        ("record_trajectory", record),
        ("refine_attempt", {"task": "Cache never expires", "attempt": "tried a ttl " * 500, "mode": "sequential"}),
        ("record_trajectory", {"trajectory_id": 1}),  # a read-only call: the server still answers
    ])  # fmt: skip
    for result in results[:2]:
        assert result.is_error and "is full; free space, nothing was written" in text(result)
    assert not results[2].is_error and results[2].structured_content["status"] == "stored"
    assert counts(config.bank) == before
    assert_healthy(config.bank)


# ---- read-only bank ------------------------------------------------------------------------
@contextlib.contextmanager
def read_only(*paths: Path) -> Iterator[None]:
    """Make files and folders unwritable: chmod for a user, `chattr +i` for root (chmod binds no root)."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in paths}
        for p in paths:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p in reversed(paths):
                p.chmod(modes[p])
        return
    chattr = shutil.which("chattr")
    if not chattr or subprocess.run([chattr, "+i", *map(str, paths)], capture_output=True).returncode != 0:
        pytest.skip("running as root without a working `chattr +i`: cannot make the bank read-only")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", *map(str, paths)], check=True)


def test_read_only_bank_opens_read_only_and_refuses_writes_clearly(tmp_path, embedder, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    config = make_bank(folder / "bank.sqlite3", embedder)
    digest = sha(config.bank)
    with read_only(config.bank, folder):
        store = open_store(config.bank)
        assert store.read_only and store.one("select count(*) from items")[0] == 1
        store.backup(tmp_path / "copy.sqlite3")  # reading works: so do backups and exports
        store.close()
        with Bank(config, embedder=embedder) as bank:
            assert check_lines(export_lines(bank))["items"] == 1
            with pytest.raises(StoreError, match="is read-only; fix its permissions"):
                bank.record(task="Cache never expires entries", summary="added a ttl", outcome="failure")
        checks, ok = doctor(config, load_model=False)
        assert ok and ("warn" in {s for name, s, _ in checks if name == "bank"})
        assert cli.main(["stats", "--bank", str(config.bank)]) == 0
        assert cli.main(["record", "--bank", str(config.bank), "--task", "some task", "--summary", "s"]) == 1
        assert "read-only" in capsys.readouterr().err
    assert sha(config.bank) == digest
    assert_healthy(tmp_path / "copy.sqlite3")


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_recall_answers_when_the_bank_cannot_be_written(tmp_path, embedder, fault):
    config = make_bank(tmp_path / "bank.sqlite3", embedder)

    def broken(c: Config) -> Bank:
        bank = Bank(c, embedder=embedder)
        if fault == "full":
            fill_disk(bank.store)
        else:
            bank.store.db.execute("pragma query_only = 1")  # what a read-only file does to writes
        return bank

    [result] = call_tools(
        config, broken, [("recall_strategies", {"task": "parser fails on an empty string"})]
    )
    assert not result.is_error, text(result)
    assert [i["title"] for i in result.structured_content["items"]] == [LESSON["title"]]


# ---- damaged, foreign or newer bank --------------------------------------------------------
def damage_items_table(path: Path) -> None:
    store = open_store(path)
    root = store.one("select rootpage from sqlite_master where name = 'items'")[0]
    page = store.one("pragma page_size")[0]
    store.close()
    with path.open("r+b") as fh:
        fh.seek((root - 1) * page)
        fh.write(b"\xff" * 16)  # a b-tree page header nothing can parse


def test_damaged_bank_is_reported_and_not_written_further(tmp_path, embedder):
    config = make_bank(tmp_path / "bank.sqlite3", embedder)
    damage_items_table(config.bank)
    digest = sha(config.bank)

    results = call_tools(config, lambda c: Bank(c, embedder=embedder), [
        ("recall_strategies", {"task": "parser fails on an empty string"}),
        ("record_trajectory", {"task": "Cache never expires entries", "summary": "s"}),
        ("record_trajectory", {"task": "Cache never expires entries", "summary": "s", "outcome": "success",
                               "items": [good_item(3, title="Give every cache entry a time to live")]}),
    ])  # fmt: skip
    for result in results:
        assert result.is_error and "is damaged" in text(result) and "rb-mcp backup" in text(result)
    assert sha(config.bank) == digest  # once damage is seen, nothing more is written into the file
    checks, ok = doctor(config, load_model=False)
    failing = {name: detail for name, status, detail in checks if status == "fail"}
    assert not ok and "integrity" in failing and "rb-mcp backup" in failing["integrity"]


def test_damaged_vector_is_a_clear_error(tmp_path, embedder):
    config = make_bank(tmp_path / "bank.sqlite3", embedder)
    raw = sqlite3.connect(config.bank)
    raw.execute("update items set embedding = x'0102030405'")  # 5 bytes: no float32 vector
    raw.commit()
    raw.close()
    [result] = call_tools(config, lambda c: Bank(c, embedder=embedder),
                          [("recall_strategies", {"task": "parser fails on an empty string"})])  # fmt: skip
    assert not result.is_error or "damaged" in text(result), text(result)


def make_unusable(path: Path, kind: str, embedder: Any) -> None:
    if kind == "garbage":
        path.write_bytes(b"this is not a database, it is a text file " * 200)
        return
    make_bank(path, embedder)
    raw = sqlite3.connect(path)
    raw.execute("insert into _migrations values (999, 'from the future', 'x')")
    raw.commit()
    raw.close()


ADVICE = {"garbage": "not a readable rb-mcp database", "newer": "newer than this rb-mcp understands"}


@pytest.mark.parametrize("kind", ["garbage", "newer"])
def test_unusable_bank_is_refused_untouched_with_advice(tmp_path, embedder, capsys, kind):
    path = tmp_path / "bank.sqlite3"
    make_unusable(path, kind, embedder)
    digest = sha(path)
    with pytest.raises(StoreError, match=ADVICE[kind]):
        open_store(path)
    assert cli.main(["recall", "--bank", str(path), "anything at all"]) == 1
    assert ADVICE[kind] in capsys.readouterr().err
    checks, ok = doctor(Config(bank=path), load_model=False)
    assert not ok and any(name == "bank" and ADVICE[kind] in detail for name, _, detail in checks)
    assert any(name == "sqlite-vec" for name, _, _ in checks)  # the rest is still diagnosed
    assert sha(path) == digest


@pytest.mark.parametrize("kind", ["garbage", "newer"])
def test_server_answers_with_the_reason_when_the_bank_cannot_be_opened(tmp_path, embedder, kind):
    path = tmp_path / "bank.sqlite3"
    make_unusable(path, kind, embedder)
    [result] = call_tools(Config(bank=path, preload=False), lambda c: Bank(c, embedder=embedder),
                          [("recall_strategies", {"task": "anything at all"})])  # fmt: skip
    assert result.is_error and ADVICE[kind] in text(result)


# ---- no sqlite-vec -------------------------------------------------------------------------
def test_without_sqlite_vec_vector_search_still_works_and_doctor_says_so(tmp_path, embedder, monkeypatch):
    monkeypatch.setitem(sys.modules, "sqlite_vec", None)  # `import sqlite_vec` now fails
    config = make_bank(tmp_path / "bank.sqlite3", embedder)
    store = open_store(config.bank)
    assert not store.has_vec and "sqlite_vec" in (store.vec_error or "")
    store.close()
    [recalled] = call_tools(config, lambda c: Bank(c, embedder=embedder),
                            [("recall_strategies", {"task": "parser fails on an empty string"})])  # fmt: skip
    hit = recalled.structured_content["items"][0]
    assert hit["title"] == LESSON["title"] and "vector" in hit["matched_by"]
    checks, ok = doctor(config, load_model=False)
    vec = next(c for c in checks if c[0] == "sqlite-vec")
    assert ok and vec[1] == "ok" and "not needed" in vec[2]
    assert_healthy(config.bank)


NO_VEC_SERVER = (
    "import sys; sys.modules['sqlite_vec'] = None; from rb_mcp.cli import main; sys.exit(main(['serve']))"
)


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_server_process_without_sqlite_vec_starts_and_works(isolated_env):
    async def go() -> None:
        params = StdioServerParameters(command=sys.executable, args=["-c", NO_VEC_SERVER], env=isolated_env)
        async with Client(params) as client:
            stored = await client.call_tool("record_trajectory", {"task": TASK, "summary": "wrote a repro",
                                                                   "outcome": "success", "items": [LESSON]})  # fmt: skip
            assert not stored.is_error, text(stored)
            found = await client.call_tool("recall_strategies", {"task": "parser fails on an empty string"})
            assert [i["title"] for i in found.structured_content["items"]] == [LESSON["title"]]

    anyio.run(go)
    assert_healthy(Path(isolated_env["RB_MCP_BANK"]))


def test_bank_written_without_sqlite_vec_is_consistent_once_it_is_back(tmp_path, embedder, monkeypatch):
    config = make_bank(tmp_path / "bank.sqlite3", embedder)
    with monkeypatch.context() as patched:
        patched.setitem(sys.modules, "sqlite_vec", None)
        with Bank(config, embedder=embedder) as bank:
            bank.record(task="Cache never expires entries", summary="s", outcome="success",
                        items=[good_item(2, title="Give every cache entry a time to live")])  # fmt: skip
            forget(bank.store, bank.store.one("select id from items where title = ?", (LESSON["title"],))[0])
    with Bank(config, embedder=embedder) as bank:
        bank.ready_vectors()
        assert bank.store.consistency_problems() == []


# ---- model file that fails its checksum ----------------------------------------------------
@pytest.fixture
def broken_model(tmp_path, monkeypatch) -> Path:
    bad = tmp_path / "model.onnx"
    shutil.copyfile(onnx_path(), bad)
    with bad.open("r+b") as fh:
        fh.seek(bad.stat().st_size // 2)
        fh.write(b"\x00" * 64)
    monkeypatch.setattr("rb_mcp.embed.onnx_path", lambda: bad)
    return bad


def test_model_failing_its_checksum_is_diagnosed_and_writes_fail_clearly(tmp_path, embedder, broken_model):
    config = make_bank(tmp_path / "bank.sqlite3", embedder)
    before = counts(config.bank)
    checks, ok = doctor(config, load_model=True)
    status = {name: (s, detail) for name, s, detail in checks}
    assert not ok
    assert (
        status["model file"][0] == "fail" and "fails its sha256 check (reinstall" in status["model file"][1]
    )
    assert status["embedding"][0] == "fail"
    assert status["bank"][0] == "ok"

    server_config = Config(bank=config.bank, preload=True, project="acme/app")  # preload fails in background
    [result, again] = call_tools(server_config, Bank, [
        ("record_trajectory", {"task": "Cache never expires entries", "summary": "added a ttl", "outcome": "success"}),
        ("record_trajectory", {"trajectory_id": 1}),
    ])  # fmt: skip
    assert result.is_error and "sha256" in text(result) and "reinstall" in text(result)
    assert not again.is_error  # the server is alive and still serves what needs no model
    assert counts(config.bank) == before


def test_recall_falls_back_to_keywords_when_the_model_cannot_load(tmp_path, embedder, broken_model):
    config = make_bank(tmp_path / "bank.sqlite3", embedder)
    [result] = call_tools(Config(bank=config.bank, preload=False, project="acme/app"), Bank,
                          [("recall_strategies", {"task": "parser crashes on empty input"})])  # fmt: skip
    assert not result.is_error, text(result)
    assert [i["title"] for i in result.structured_content["items"]] == [LESSON["title"]]


# ---- safe copies ---------------------------------------------------------------------------
class _FailingBackup:
    """A connection whose backup dies half way (an I/O error on the target, say)."""

    def __init__(self, db: Any):
        self._db = db

    def backup(self, target: Any, **_: Any) -> None:
        target.execute("create table half_written (x)")
        raise _driver()[0].OperationalError("disk I/O error")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def test_backup_errors_are_clear_and_leave_no_partial_file(tmp_path, embedder):
    config = make_bank(tmp_path / "bank.sqlite3", embedder)
    out = tmp_path / "backups"
    out.mkdir()
    store = open_store(config.bank)
    with pytest.raises(StoreError, match="does not exist; create it"):
        store.backup(tmp_path / "missing" / "b.sqlite3")
    store.backup(out / "good.sqlite3")
    with pytest.raises(StoreError, match="exists; choose a new file name"):
        store.backup(out / "good.sqlite3")
    real = store.db
    store.db = _FailingBackup(real)
    with pytest.raises(StoreError, match="cannot write the backup .* disk I/O error"):
        store.backup(out / "bad.sqlite3")
    store.db = real
    store.close()
    assert sorted(p.name for p in out.iterdir()) == ["good.sqlite3"]
    assert_healthy(out / "good.sqlite3")


def test_export_is_one_snapshot_while_the_bank_changes(tmp_path, embedder):
    """Before the fix each table was read at a different moment: a task and its item written during
    an export left item_sources pointing at a trajectory the export did not hold."""
    config = make_bank(tmp_path / "bank.sqlite3", embedder)
    with Bank(config, embedder=embedder) as bank:
        lines = export_lines(bank)
        head = [next(lines), next(lines)]  # header and the first trajectory: the export is under way
        bank.record(task="Cache never expires entries", summary="s", outcome="success",
                    items=[good_item(2, title="Give every cache entry a time to live")])  # fmt: skip
        exported = head + list(lines)
    assert check_lines(exported) == {"recall_events": 0, "trajectories": 1, "groups": 0, "items": 1,
                                     "item_sources": 1, "item_history": 0, "recall_hits": 0}  # fmt: skip
