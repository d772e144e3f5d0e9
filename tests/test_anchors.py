"""Anchors: an item keeps the files and symbols it names, and recall checks them in the working tree.

End to end in real temporary git repositories, on both backends: an item naming a function holds
while the function is there, is `verified: false` (naming it) and ranked below a verified item once
it is renamed, stays false when the file is deleted, and is `null` from a directory of another
repository. Then the CLI shows the same fields, and the extraction on free-form text never keeps
a path outside the tree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rb_mcp.errors import InputError
from rb_mcp.loop import anchors
from rb_mcp.loop.anchors import Tree
from rb_mcp.loop.bank import Bank

BOTH_BACKENDS = True

SNIFF = '''"""Dialect sniffing."""


def parse_dialect(sample):
    """Guess the delimiter of a CSV sample."""
    if not sample:
        raise DialectError("empty sample")
    return max(",;\\t|", key=sample.count)


class DialectError(ValueError):
    pass
'''
ROWS = """def load_rows(path, dialect):
    with open(path, newline="") as fh:
        return [line.rstrip("\\n").split(dialect) for line in fh]
"""
SNIFF_ITEM = {
    "title": "Guard the CSV dialect sniffer against empty samples",
    "description": "Sniffing the delimiter of an empty CSV sample raises instead of returning a default.",
    "content": "Before calling `parse_dialect` in csvkit/sniff.py, check that the sample holds at least one "
    "line; catch DialectError and fall back to a comma so empty uploads import as empty tables.",
}
ROWS_ITEM = {
    "title": "Open CSV files with newline disabled before splitting rows",
    "description": "Reading CSV rows with universal newlines breaks quoted fields that span lines.",
    "content": "In csvkit/rows.py, `load_rows` must open the file with newline='' so the CSV dialect sees "
    "embedded line breaks; test it with a quoted field containing a newline.",
}
QUERY = "CSV import crashes when the dialect sniffer gets an empty sample"


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"})  # fmt: skip


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "csvkit-clone"
    (root / "csvkit").mkdir(parents=True)
    (root / "csvkit" / "sniff.py").write_text(SNIFF)
    (root / "csvkit" / "rows.py").write_text(ROWS)
    git(root, "init", "-q")
    git(root, "remote", "add", "origin", "git@github.com:acme/csvkit.git")
    git(root, "add", ".")
    git(root, "commit", "-qm", "init")
    return root


def touch_later(path: Path) -> None:
    """Make sure an edit is seen even on file systems with coarse mtimes."""
    later = time.time() + 2
    os.utime(path, (later, later))


def in_repo(bank: Bank, repo: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The bank as a server started in `repo` sees it: cwd and default project."""
    monkeypatch.chdir(repo)
    bank._local_tree = False
    bank.default_project = Tree.at(repo).key
    return bank.default_project


def by_title(result) -> dict[str, object]:
    return {hit.title: hit for hit in result.items}


def test_anchors_are_checked_at_recall(bank: Bank, repo: Path, monkeypatch, config, embedder, tmp_path):
    project = in_repo(bank, repo, monkeypatch)
    assert project == "github.com/acme/csvkit"
    sniff = bank.record(task="Empty CSV upload crashes the importer", summary="guarded the sniffer",
                        outcome="success", items=[SNIFF_ITEM], files=[str(repo / "csvkit" / "sniff.py")])  # fmt: skip
    rows = bank.record(task="Quoted newlines split CSV rows", summary="opened with newline=''",
                       outcome="success", items=[ROWS_ITEM], files=["csvkit/rows.py"])  # fmt: skip
    sniff_id, rows_id = sniff.stored[0].id, rows.stored[0].id
    stored = bank.item(sniff_id)
    assert stored["anchors"]["repo"] == project and stored["anchors"]["named"] == ["csvkit/sniff.py"]
    assert {"parse_dialect", "DialectError"} <= set(stored["anchors"]["symbols"])
    assert len(stored["anchors"]["commit"]) == 40
    # The absolute path the agent passed is stored relative to the repository, everywhere.
    assert str(repo) not in json.dumps(stored) and stored["files"] == ["csvkit/sniff.py"]

    first = bank.recall(QUERY, k=2)
    assert [h.id for h in first.items] == [sniff_id, rows_id]
    assert all(h.verified is True and h.stale_reason is None for h in first.items)
    assert f"[#{sniff_id}]" in first.guidance and "still there" in first.guidance

    # Renaming the function breaks the item's anchor: false, naming it, ranked below the verified one.
    sniff_py = repo / "csvkit" / "sniff.py"
    sniff_py.write_text(SNIFF.replace("parse_dialect", "sniff_delimiter"))
    touch_later(sniff_py)
    renamed = bank.recall(QUERY, k=2)
    assert [h.id for h in renamed.items] == [rows_id, sniff_id]
    hit = by_title(renamed)[SNIFF_ITEM["title"]]
    assert (
        hit.verified is False and hit.stale_reason == "`parse_dialect` no longer appears in csvkit/sniff.py"
    )
    assert (
        "Possibly outdated" in renamed.guidance and "possibly outdated: `parse_dialect`" in renamed.guidance
    )
    assert by_title(renamed)[ROWS_ITEM["title"]].verified is True

    # Deleting the file: still false, now saying the file is gone.
    sniff_py.unlink()
    gone = by_title(bank.recall(QUERY, k=2))[SNIFF_ITEM["title"]]
    assert gone.verified is False and "csvkit/sniff.py is gone" in gone.stale_reason

    # From a directory that is not this repository: nothing to check against.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with Bank(config, embedder=embedder) as other:
        far = other.recall(QUERY, project=project, k=2)
        assert {h.id for h in far.items} == {sniff_id, rows_id}
        assert all(h.verified is None and h.stale_reason is None for h in far.items)
        # ... unless the caller names the tree it works in (what a hook passes as its cwd).
        near = other.recall(QUERY, project=project, k=2, root=repo)
        assert by_title(near)[SNIFF_ITEM["title"]].verified is False


def test_broken_anchors_over_several_recalls_archive_the_item(bank: Bank, repo: Path, monkeypatch):
    in_repo(bank, repo, monkeypatch)
    item_id = bank.record(task="Empty CSV upload crashes the importer", summary="s", outcome="success",
                          items=[SNIFF_ITEM], files=["csvkit/sniff.py"]).stored[0].id  # fmt: skip
    (repo / "csvkit" / "sniff.py").unlink()
    for n in range(1, 4):
        hits = bank.recall(QUERY).items
        assert [h.id for h in hits] == [item_id] and hits[0].verified is False
        assert bank.item(item_id)["stale_count"] == n
    # Archived, with the reason in its history: it is listed, no longer recalled, and restorable.
    detail = bank.item(item_id)
    assert detail["status"] == "archived"
    assert "anchors stayed broken in 3 recalls" in detail["history"][-1]["reason"]
    assert "csvkit/sniff.py is gone" in detail["history"][-1]["reason"]
    assert bank.recall(QUERY).items == []
    assert [i.id for i in bank.items(status="archived")] == [item_id]
    assert bank.restore([item_id]) == []
    assert bank.item(item_id)["status"] == "active" and bank.item(item_id)["stale_count"] == 0
    assert [h.id for h in bank.recall(QUERY).items] == [item_id]


def test_anchors_that_hold_again_clear_the_count(bank: Bank, repo: Path, monkeypatch):
    in_repo(bank, repo, monkeypatch)
    item_id = bank.record(task="Empty CSV upload crashes the importer", summary="s", outcome="success",
                          items=[SNIFF_ITEM], files=["csvkit/sniff.py"]).stored[0].id  # fmt: skip
    sniff_py = repo / "csvkit" / "sniff.py"
    sniff_py.write_text(SNIFF.replace("parse_dialect", "guess"))
    touch_later(sniff_py)
    bank.recall(QUERY)
    bank.recall(QUERY)
    assert bank.item(item_id)["stale_count"] == 2
    sniff_py.write_text(SNIFF)
    os.utime(sniff_py, (time.time() + 4, time.time() + 4))
    assert bank.recall(QUERY).items[0].verified is True
    assert bank.item(item_id)["stale_count"] == 0 and bank.item(item_id)["status"] == "active"


def test_a_global_item_is_checked_only_in_its_own_repository(bank: Bank, repo: Path, monkeypatch, tmp_path):
    in_repo(bank, repo, monkeypatch)
    item_id = bank.record(task="Empty CSV upload crashes the importer", summary="s", outcome="success",
                          items=[SNIFF_ITEM], files=["csvkit/sniff.py"], project="global").stored[0].id  # fmt: skip
    assert bank.item(item_id)["anchors"] is None  # a global trajectory is not this repository's work
    bank.record(task="Empty CSV upload crashes the importer", summary="s", outcome="success",
                items=[ROWS_ITEM], files=["csvkit/rows.py"])  # fmt: skip
    rows_id = bank.items()[0].id
    assert bank.move(rows_id, "global")
    other = tmp_path / "other-repo"
    other.mkdir()
    git(other, "init", "-q")
    hits = by_title(
        bank.recall(QUERY, k=3, root=other)
    )  # another repository: the item cannot be judged there
    assert hits[ROWS_ITEM["title"]].verified is None
    assert by_title(bank.recall(QUERY, k=3))[ROWS_ITEM["title"]].verified is True


def test_cli_recall_json_shows_verified(isolated_env, repo: Path):
    items = repo.parent / "items.json"
    items.write_text(json.dumps([SNIFF_ITEM]))

    def rb(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "rb_mcp", *args], env=isolated_env, cwd=repo,
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    out = rb("record", "--task", "Empty CSV upload crashes", "--summary", "s", "--outcome", "success",
             "--items", str(items), "--file", "csvkit/sniff.py")  # fmt: skip
    assert out.returncode == 0, out.stderr
    hit = json.loads(rb("recall", QUERY, "--json").stdout)["items"][0]
    assert hit["verified"] is True and hit["stale_reason"] is None
    (repo / "csvkit" / "sniff.py").unlink()
    hit = json.loads(rb("recall", QUERY, "--json").stdout)["items"][0]
    assert hit["verified"] is False and "csvkit/sniff.py is gone" in hit["stale_reason"]
    text = rb("recall", QUERY).stdout
    assert "possibly outdated: csvkit/sniff.py is gone" in text


# ---- extraction and checking, without a bank ------------------------------------------------------
def test_what_an_item_names(repo: Path):
    tree = Tree.at(repo / "csvkit")
    assert tree.root == repo.resolve() and tree.key == "github.com/acme/csvkit"
    found = anchors.anchors_for(
        tree,
        ["Call csvkit.sniff.parse_dialect() before load_rows(); see `DialectError` and docs.python.org",
         "Paths: /etc/passwd, ../outside.py, csvkit/missing.py"],
        ["csvkit/rows.py", str(repo / "csvkit" / "sniff.py"), "/etc/hosts", "../../x.py"],
    )  # fmt: skip
    assert found.named == ["csvkit/sniff.py"] and found.files == ["csvkit/rows.py"]
    assert found.symbols == {"parse_dialect": ["csvkit/sniff.py"], "load_rows": ["csvkit/rows.py"],
                             "DialectError": ["csvkit/sniff.py"]}  # fmt: skip
    assert anchors.check(tree, found) == (True, None)
    assert anchors.anchors_for(tree, ["nothing concrete here at all"], []) is None
    assert anchors.anchors_for(None, ["`parse_dialect`"], ["csvkit/sniff.py"]) is None


def test_a_touched_file_alone_breaks_the_item_only_when_all_are_gone(repo: Path):
    tree = Tree.at(repo)
    found = anchors.anchors_for(
        tree, ["Keep the CSV reader and writer in step."], ["csvkit/rows.py", "csvkit/sniff.py"]
    )
    assert found.files == ["csvkit/rows.py", "csvkit/sniff.py"] and not found.named and not found.symbols
    (repo / "csvkit" / "rows.py").unlink()
    assert anchors.check(tree, found) == (True, None)
    (repo / "csvkit" / "sniff.py").unlink()
    verified, reason = anchors.check(tree, found)
    assert verified is False and reason.startswith("no file its task touched exists any more")


def test_stored_paths_cannot_leave_the_tree(repo: Path):
    tree = Tree.at(repo)
    hostile = anchors.Anchors(
        repo=tree.key, named=["../../etc/passwd", "/etc/passwd"], symbols={"root": ["../x"]}
    )
    verified, reason = anchors.check(tree, hostile)
    assert verified is False and "../../etc/passwd is gone" in reason
    assert tree.file("../x") is None and tree.file("/etc/passwd") is None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=400), files=st.lists(st.text(max_size=60), max_size=6))
def test_extraction_never_keeps_a_path_outside_the_tree(repo: Path, text: str, files: list[str]):
    tree = Tree.at(repo)
    found = anchors.anchors_for(tree, [text], files)
    if found is None:
        return
    for rel in [*found.files, *found.named, *(f for fs in found.symbols.values() for f in fs)]:
        assert not rel.startswith("/") and ".." not in rel.split("/")
        assert (repo / rel).resolve().is_relative_to(repo.resolve())
    assert anchors.check(tree, found)[0] is True


def test_checks_are_cheap(repo: Path):
    tree = Tree.at(repo)
    found = anchors.anchors_for(tree, [SNIFF_ITEM["content"], ROWS_ITEM["content"]], ["csvkit/rows.py"])
    anchors.check(tree, found)
    start = time.perf_counter()
    for _ in range(200):
        anchors.check(tree, found)
    per_check_ms = (time.perf_counter() - start) / 200 * 1000
    assert per_check_ms < 1.0, per_check_ms  # a recall checks a handful of items


def test_head_commit_follows_branches_and_worktrees(repo: Path, tmp_path: Path):
    from rb_mcp.project import head_commit

    want = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert head_commit(repo) == want
    git(repo, "pack-refs", "--all")
    assert head_commit(repo) == want
    work = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", str(work))
    assert head_commit(work) == want and Tree.at(work).root == work.resolve()
    assert head_commit(tmp_path) is None


def test_anchors_travel_with_export_and_import(bank: Bank, repo: Path, monkeypatch, embedder, tmp_path):
    from rb_mcp.config import Config
    from rb_mcp.loop.transfer import export_lines, import_from

    in_repo(bank, repo, monkeypatch)
    item_id = bank.record(task="Empty CSV upload crashes the importer", summary="s", outcome="success",
                          items=[SNIFF_ITEM], files=["csvkit/sniff.py"]).stored[0].id  # fmt: skip
    lines = list(export_lines(bank))
    with Bank(
        Config(bank=tmp_path / "copy.sqlite3", project=None, preload=False), embedder=embedder
    ) as other:
        import_from(other, lines)
        assert other.item(item_id)["anchors"] == bank.item(item_id)["anchors"]
    forged = []
    for line in lines:
        obj = json.loads(line)
        if obj.get("table") == "items":
            obj["row"]["anchors"] = json.dumps(
                dict(json.loads(obj["row"]["anchors"]), named="csvkit/sniff.py")
            )
        forged.append(json.dumps(obj))
    forged_bank = Bank(
        Config(bank=tmp_path / "forged.sqlite3", project=None, preload=False), embedder=embedder
    )
    with forged_bank as bad, pytest.raises(InputError, match="anchors is not an anchors object"):
        import_from(bad, forged)
