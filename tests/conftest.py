"""Shared fixtures: a real embedding model (loaded once per session) and throwaway banks.

A module that sets `BOTH_BACKENDS = True` runs each test that uses the `bank` (or `config`,
`bank_target`) fixture twice: on a SQLite file and on a fresh PostgreSQL database. The
PostgreSQL server is started once per session from the `pgserver` package (PostgreSQL 16 with
pgvector, no network); set RB_MCP_TEST_PG_URL to use a server of your own instead.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from hypothesis import settings

from rb_mcp.config import Config
from rb_mcp.embed import FastEmbedder
from rb_mcp.loop.bank import Bank

# The same examples on every run, so CI's verdict does not depend on the draw; run with
# `--hypothesis-profile=explore` to search afresh (run it after changing rb_mcp.redact).
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("ci")

# Tests must never touch the user's real bank or cache.
os.environ.setdefault("RB_MCP_LOG_LEVEL", "WARNING")


@pytest.fixture(scope="session")
def embedder() -> FastEmbedder:
    model = FastEmbedder()
    model.load()
    return model


BACKENDS = ("sqlite", "postgres")
_databases = itertools.count(1)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames and getattr(metafunc.module, "BOTH_BACKENDS", False):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "sqlite")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """URL of a PostgreSQL server with pgvector, and of a template database holding a fresh bank."""
    import psycopg

    from rb_mcp.store.postgres import PgStore

    url = os.environ.get("RB_MCP_TEST_PG_URL")
    server, pgdata = None, None
    if not url:
        if not os.environ.get("XDG_RUNTIME_DIR"):
            # pgserver asks platformdirs for a runtime dir when imported; without XDG_RUNTIME_DIR that
            # warns (RuntimeDirWarning) and falls back to a shared /tmp/runtime-<uid>. A private one
            # (mkdtemp makes it 0700, as the XDG spec wants) keeps the run quiet and to itself.
            os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="rb-mcp-run-")
        import pgserver  # the `test` extra installs it

        # Not under pytest's tmp dirs: another pytest session of the same user prunes old ones,
        # and PostgreSQL shuts down when its data directory disappears.
        pgdata = Path(tempfile.mkdtemp(prefix="rb-mcp-pg-"))
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        url = server.get_uri()
        with psycopg.connect(url, autocommit=True) as conn:
            # A throwaway server: durability only costs time here.
            conn.execute("alter system set fsync = off")
            conn.execute("alter system set synchronous_commit = off")
            conn.execute("alter system set full_page_writes = off")
            conn.execute("select pg_reload_conf()")
    template = f"rb_template_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"drop database if exists {template}")
        conn.execute(f"create database {template}")
    PgStore.open(with_database(url, template)).close()
    yield url + ("&" if "?" in url else "?") + f"rb_template={template}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"drop database if exists {template} with (force)")
    if server is not None:
        server.cleanup()
        shutil.rmtree(pgdata, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL bank for one test, dropped afterwards."""
    import psycopg

    base, _, template = pg_server.rpartition("rb_template=")
    base = base.rstrip("?&")
    name = f"rb_test_{os.getpid()}_{next(_databases)}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"create database {name} template {template}")
    yield with_database(base, name)
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"drop database if exists {name} with (force)")


@pytest.fixture
def bank_target(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Path | str:
    if backend == "postgres":
        return request.getfixturevalue("pg_url")
    return tmp_path / "bank.sqlite3"


@pytest.fixture
def config(bank_target: Path | str) -> Config:
    return Config(bank=bank_target, project=None, preload=False)


@pytest.fixture
def bank(config: Config, embedder: FastEmbedder):
    with Bank(config, embedder=embedder) as b:
        b.default_project = None
        yield b


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for subprocesses: bank, data and cache dirs under tmp_path."""
    monkeypatch.setenv("RB_MCP_BANK", str(tmp_path / "bank.sqlite3"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    env = dict(os.environ)
    env["RB_MCP_BANK"] = str(tmp_path / "bank.sqlite3")
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    env.pop("RB_MCP_PROJECT", None)
    return env


def good_item(n: int = 0, **over) -> dict:
    base = {
        "title": f"Reproduce the failure before changing code (variant {n})",
        "description": "A failing reproduction pins the bug down and proves the fix works.",
        "content": (
            "Write the smallest script or test that shows the wrong behaviour, run it to see it fail, "
            "then change the code and run it again to see it pass before widening the test run."
        ),
    }
    base.update(over)
    return base
