"""The bank and the model start loading right after the MCP handshake, in both protocol eras."""

from __future__ import annotations

import threading
import time

import anyio
import pytest
from mcp import Client

from rb_mcp.config import Config
from rb_mcp.errors import RbError
from rb_mcp.server.app import build_server
from rb_mcp.server.calls import OPEN_FALLBACK


@pytest.mark.parametrize("mode", ["legacy", "auto"])  # initialize + initialized; server/discover
def test_the_bank_opens_once_the_first_request_after_the_handshake_is_answered(tmp_path, mode):
    opening = threading.Event()

    def factory(config: Config):
        opening.set()
        raise RbError("no bank in this test")

    app = build_server(Config(bank=tmp_path / "bank.sqlite3", preload=False), bank_factory=factory)

    async def session() -> float:
        async with Client(app, mode=mode) as client:
            assert not opening.is_set()  # the handshake itself opens nothing
            await client.list_tools()
            started = time.perf_counter()
            assert await anyio.to_thread.run_sync(opening.wait, OPEN_FALLBACK / 2)
            return time.perf_counter() - started

    assert anyio.run(session) < OPEN_FALLBACK / 2  # not the fallback timer
