"""Access tokens (hashed, revocable) and the visibility rules, as plain functions on a tmp bank."""

from __future__ import annotations

import hashlib

import pytest
from conftest import good_item

from rb_mcp import auth, visibility
from rb_mcp.cli import main
from rb_mcp.errors import InputError, RbError
from rb_mcp.loop.items import set_scope
from rb_mcp.store import open_store
from rb_mcp.visibility import AccessError, Principal

ALICE = Principal("alice", None)
BOB = Principal("bob", frozenset({"acme/app"}))


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "bank.sqlite3")
    yield s
    s.close()


def test_only_a_hash_of_the_secret_is_stored(store):
    token_id, token = auth.create_token(
        store, "Alice", ["acme/app", "https://github.com/Acme/Shop.git"], "laptop"
    )
    assert token.startswith(f"rbm_{token_id}_") and len(token) > 40
    secret = token.split("_", 2)[2]
    row = store.one(
        "select secret_hash, identity, projects, name from access_tokens where id = ?", (token_id,)
    )
    assert row[0] == hashlib.sha256(secret.encode()).hexdigest() and secret not in repr(row)
    assert row[1] == "alice" and row[3] == "laptop"
    assert auth.list_tokens(store)[0].projects == ["acme/app", "github.com/acme/shop"]
    assert auth.create_token(store, "alice")[1] != token


def test_verify_revoke_and_last_used(store):
    token_id, token = auth.create_token(store, "bob", ["acme/app"])
    verifier = auth.Verifier(store)
    principal, info = verifier.verify(token)
    assert principal == Principal("bob", frozenset({"acme/app"}), token_id)
    assert auth.list_tokens(store)[0].last_used_at is not None
    assert verifier.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert verifier.verify(token.replace(f"rbm_{token_id}_", "rbm_999_")) is None
    assert verifier.verify("not-a-token") is None and verifier.verify("") is None
    assert auth.active_count(store) == 1
    assert auth.revoke_token(store, token_id) and auth.revoke_token(store, token_id)
    assert verifier.verify(token) is None and auth.active_count(store) == 0
    assert not auth.revoke_token(store, 4242)
    assert auth.list_tokens(store, include_revoked=False) == []


def test_bad_identities_and_scopes_are_refused(store):
    for identity in ("", "a b", "x" * 65, "../etc"):
        with pytest.raises(InputError):
            auth.create_token(store, identity)
    for scope in ("global", "user:bob", "Personal"):
        with pytest.raises(InputError):
            auth.create_token(store, "alice", [scope])
    assert auth.list_tokens(store) == []


def test_without_a_principal_nothing_changes():
    assert visibility.current() is None
    assert visibility.resolve("Acme/App", "dflt") == "acme/app" and visibility.resolve(None, "dflt") == "dflt"
    assert visibility.resolve("personal", None) == "personal"
    assert visibility.partitions("acme/app") == ["acme/app", "global"]
    assert visibility.sql_filter("scope") == ("1 = 1", [])
    visibility.check("user:bob")


def test_a_principal_sees_its_own_projects_and_the_team():
    with visibility.bound(BOB):
        assert visibility.resolve(None, "elsewhere") == "acme/app"
        assert visibility.resolve("personal", None) == "user:bob"
        assert visibility.resolve("global", None) == "global"
        with pytest.raises(AccessError, match="'/tmp'"):
            visibility.resolve("/tmp", None)  # a name on a shared server, never a lookup on its disk
        assert visibility.partitions("acme/app") == ["acme/app", "user:bob", "global"]
        assert visibility.partitions(None) == ["user:bob", "global"]
        with pytest.raises(AccessError, match="does not allow"):
            visibility.resolve("acme/shop", None)
        with pytest.raises(AccessError, match="personal memory"):
            visibility.resolve("user:alice", None)
        assert visibility.visible(["acme/app", None, "user:bob", "user:alice", "acme/shop"]) == [
            True, True, True, False, False,
        ]  # fmt: skip
    with visibility.bound(ALICE):
        assert visibility.resolve(None, "acme/shop") == "acme/shop"
        assert visibility.resolve("acme/shop", None) == "acme/shop"
        with pytest.raises(AccessError):
            visibility.check("user:bob")


def test_bank_calls_respect_the_principal(bank):
    with visibility.bound(ALICE):
        mine = bank.record(task="Parser crashes on empty input", summary="s", outcome="success",
                           items=[good_item(1)], project="personal")  # fmt: skip
        bank.record(task="Parser crashes on empty input", summary="s", outcome="success", items=[good_item(2)],
                    project="acme/app")  # fmt: skip
        pending = bank.record(task="Parser crashes on empty input", summary="s", project="personal")
        private_recall = bank.recall("parser fails on empty string", "personal", 5).recall_id
        bank.refine(
            task="Parser crash",
            attempt="tried the lexer",
            mode="sequential",
            group_id="g1",
            project="personal",
        )
        assert {h.scope for h in bank.recall("parser fails on empty string", "acme/app", 5).items} == {
            "user:alice", "acme/app",
        }  # fmt: skip
    with visibility.bound(BOB):
        hits = bank.recall("parser fails on empty string", None, 5).items
        assert [h.scope for h in hits] == ["acme/app"]
        # Someone else's ids are refused as unknown ones are, without saying whose they are.
        with pytest.raises(InputError, match=f"trajectory_id {pending.trajectory_id} is unknown here"):
            bank.record(trajectory_id=pending.trajectory_id, outcome="failure")
        with pytest.raises(InputError, match="recall_id is unknown here"):
            bank.record(task="t task", summary="s", recall_id=private_recall)
        with pytest.raises(AccessError):
            bank.refine(task="t", attempt="a", mode="sequential", group_id=None, project="user:alice")
        # Alice's refinement notes must not reach Bob's prompts through a shared group id: his "g1" is
        # another group.
        check = bank.refine(task="t", attempt="a", mode="sequential", group_id="g1")
        assert check.group_id == "g1" and check.iteration == 1 and "tried the lexer" not in check.prompt
    # An item promoted out of Alice's personal memory does not show Bob the task it came from.
    set_scope(bank.store, mine.stored[0].id, "global")
    with visibility.bound(BOB):
        hit = next(
            h
            for h in bank.recall("reproduce the failure before changing code", None, 5).items
            if h.id == mine.stored[0].id
        )
        assert hit.provenance.task is None and hit.provenance.trajectory_id == mine.trajectory_id
    set_scope(bank.store, mine.stored[0].id, "user:alice")
    # Over stdio (no principal) personal scopes are plain scopes: named, they are searched.
    assert mine.stored[0].id in {
        h.id for h in bank.recall("parser fails on empty string", "user:alice", 5).items
    }


def test_required_principal_fails_closed(monkeypatch):
    monkeypatch.setattr(visibility, "_required", True)
    with pytest.raises(RbError, match="no client identity"):
        visibility.current()
    with visibility.bound(BOB):
        assert visibility.current() is BOB


def test_token_cli(tmp_path, capsys):
    bank = str(tmp_path / "cli.sqlite3")
    assert main(["token", "create", "--bank", bank, "--identity", "alice", "--scope", "acme/app"]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("rbm_1_") and "only time" in out.err
    assert main(["token", "list", "--bank", bank]) == 0
    listed = capsys.readouterr().out
    assert "alice" in listed and "acme/app" in listed and "rbm_1_" not in listed
    assert main(["token", "revoke", "--bank", bank, "1"]) == 0
    assert main(["token", "list", "--bank", bank]) == 0
    assert "no access tokens" in capsys.readouterr().out
    assert main(["token", "revoke", "--bank", bank, "7"]) == 1
    assert "no access token(s) [7]" in capsys.readouterr().err


def test_a_sampling_job_acts_as_the_caller():
    from rb_mcp.server import sampling

    with visibility.bound(BOB):
        job = sampling.start(lambda _job: visibility.current(), modern=False, timeout=5)
    assert job.events.get(timeout=5).value is BOB
