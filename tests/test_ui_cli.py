"""`rb-mcp ui` as a person runs it: a real server process on loopback, on a SQLite file and on a
PostgreSQL bank, while the CLI writes to the same bank; its address comes first on stdout."""

from __future__ import annotations

import json
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from test_ui_pages import CURSOR, READY

BOTH_BACKENDS = True
URL = re.compile(r"^http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]{40,})$")


def rb(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rb_mcp", *args], env=env, capture_output=True, text=True,
                          input=stdin, timeout=180)  # fmt: skip


def first_line(proc: subprocess.Popen, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"rb-mcp ui exited {proc.returncode}: {proc.stderr.read()}")
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            return proc.stdout.readline().strip()
    raise AssertionError("rb-mcp ui printed no address")


@contextmanager
def running_ui(env: dict[str, str], *args: str) -> Iterator[tuple[subprocess.Popen, str]]:
    proc = subprocess.Popen([sys.executable, "-m", "rb_mcp", "ui", "--no-browser", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        yield proc, first_line(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def record(env: dict[str, str], bank: str, item: dict, task: str, tmp_path) -> int:
    items = tmp_path / f"items-{abs(hash(task))}.json"
    items.write_text(json.dumps([item]))
    out = rb(env, "record", "--bank", bank, "--task", task, "--summary", "s", "--outcome", "success",
             "--items", str(items))  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["stored"][0]["id"]


def test_the_page_shows_and_changes_what_the_cli_sees(isolated_env, bank_target, tmp_path):
    bank = str(bank_target)
    item_id = record(isolated_env, bank, READY, "Fix flaky upload test", tmp_path)
    with running_ui(isolated_env, "--bank", bank) as (proc, url):
        match = URL.match(url)
        assert match, url
        origin = url.split("/?")[0]
        assert httpx.get(origin + "/").status_code == 403  # the token is needed
        with httpx.Client(base_url=origin) as page:
            first = page.get(url, follow_redirects=False)
            assert first.status_code == 303 and "HttpOnly" in first.headers["set-cookie"]
            listed = page.get("/")
            assert listed.status_code == 200 and READY["title"] in listed.text
            # Another process writes while the page runs: the page sees it at once.
            record(isolated_env, bank, CURSOR, "Pagination returns duplicates", tmp_path)
            assert CURSOR["title"] in page.get("/").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.get(f"/items/{item_id}").text).group(1)
            done = page.post(f"/items/{item_id}/archive", data={"csrf": csrf}, headers={"origin": origin})
            assert done.status_code == 303
        recalled = rb(
            isolated_env, "recall", "--bank", bank, "integration test hangs until the mock is ready", "--json"
        )
        assert READY["title"] not in recalled.stdout and recalled.returncode == 0
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) in (0, 130)
        assert "Ctrl-C stops it" in proc.stderr.read()


def test_only_loopback_and_a_free_port(isolated_env):
    out = rb(isolated_env, "ui", "--no-browser", "--host", "0.0.0.0")
    assert out.returncode == 1 and out.stdout == "" and "not a loopback address" in out.stderr
    with running_ui(isolated_env) as (_, url), running_ui(isolated_env) as (_, other):
        assert URL.match(url) and URL.match(other) and url != other  # two launches, two ports, two tokens
        port = URL.match(url).group(1)
        taken = rb(isolated_env, "ui", "--no-browser", "--port", port)
        assert taken.returncode == 1 and "choose another --port" in taken.stderr
