"""`rb-mcp ui`: start the review page on loopback, print its address (with this launch's token) as
the first line on stdout, open the browser, serve until Ctrl-C."""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import webbrowser
from typing import TextIO

import uvicorn

from rb_mcp.config import Config
from rb_mcp.loop.bank import Bank
from rb_mcp.ui.app import build_app
from rb_mcp.ui.security import Launch, loopback

log = logging.getLogger(__name__)


def _bind(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(64)
    except OSError as exc:
        sock.close()
        raise OSError(
            f"cannot listen on {address}:{port} ({exc.strerror or exc}); choose another --port"
        ) from exc
    sock.set_inheritable(True)
    return sock


def _has_display() -> bool:
    """Whether a graphical browser can open here: without one, `webbrowser` falls back to a text
    browser that would take over this terminal."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _warm(bank: Bank) -> None:
    try:
        bank.embedder.load()
    except Exception as exc:  # the first search or edit reports it, with advice
        log.warning("embedding model preload failed: %s", exc)


def run(
    config: Config,
    host: str = "127.0.0.1",
    port: int = 0,
    open_browser: bool = True,
    out: TextIO | None = None,
) -> int:
    """Serve the review page for the bank of `config` until interrupted; 0 when stopped."""
    address = loopback(host)
    sock = _bind(address, port)
    try:
        launch = Launch.new(address, sock.getsockname()[1])
        with Bank(config) as bank:
            app = build_app(bank, launch)
            print(launch.url, file=out or sys.stdout, flush=True)
            print(f"rb-mcp ui: the review page is at {launch.origin} (open the address above); Ctrl-C stops it",
                  file=sys.stderr, flush=True)  # fmt: skip
            threading.Thread(target=_warm, args=(bank,), name="rb-mcp-ui-warm", daemon=True).start()
            if open_browser and _has_display():
                threading.Thread(target=webbrowser.open, args=(launch.url,), daemon=True).start()
            server = uvicorn.Server(
                uvicorn.Config(
                    app, log_level="warning", access_log=False, lifespan="off", server_header=False
                )
            )
            server.run(sockets=[sock])
    finally:
        sock.close()
    return 0
