"""End to end over streamable HTTP: `rb-mcp serve --http` as a subprocess on 127.0.0.1, driven by the
mcp SDK client with bearer tokens made by `rb-mcp token`. One server serves the whole module."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from conftest import good_item
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from rb_mcp.cli import main

pytestmark = pytest.mark.e2e

INIT = {
    "jsonrpc": "2.0", "id": 1, "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}  # fmt: skip
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
ALLOWED_ORIGIN = "https://rb.example.com"
PROXY_NAME = "rb.example.com"
ROOT = Path(__file__).resolve().parents[1]


def rb(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rb_mcp", *args], env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(proc: subprocess.Popen, port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("server did not listen in time")


class Server:
    def __init__(self, env: dict[str, str], url: str, tokens: dict[str, str], port: int = 0):
        self.env, self.url, self.tokens, self.port = env, url, tokens, port

    def client(self, token: str | None, sampler: Any = None, **headers: str) -> Client:
        if token:
            headers["Authorization"] = f"Bearer {token}"
        http = create_mcp_http_client(headers=headers)
        return Client(streamable_http_client(self.url, http_client=http), sampling_callback=sampler)

    def post_init(self, **headers: str) -> httpx2.Response:
        return self.post(INIT, **headers)

    def post(self, body: dict[str, Any] | bytes, **headers: str) -> httpx2.Response:
        async def go() -> httpx2.Response:
            async with httpx2.AsyncClient(timeout=60) as h:
                if isinstance(body, bytes):
                    return await h.post(self.url, content=body, headers=ACCEPT | headers)
                return await h.post(self.url, json=body, headers=ACCEPT | headers)

        return anyio.run(go)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    tmp: Path = tmp_path_factory.mktemp("http")
    env = dict(os.environ, RB_MCP_BANK=str(tmp / "bank.sqlite3"), XDG_DATA_HOME=str(tmp / "data"),
               RB_MCP_HTTP_ALLOWED_ORIGINS=ALLOWED_ORIGIN, RB_MCP_HTTP_ALLOWED_HOSTS=PROXY_NAME)  # fmt: skip
    env.pop("RB_MCP_PROJECT", None)
    tokens = {}
    for who, scopes in (("alice", []), ("bob", ["--scope", "acme/app"]), ("carol", [])):
        out = rb(env, "token", "create", "--identity", who, *scopes)
        assert out.returncode == 0, out.stderr
        tokens[who] = out.stdout.strip()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "rb_mcp", "serve", "--http", "--port", str(port)], env=env,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        wait_listening(proc, port)
        yield Server(env, f"http://127.0.0.1:{port}/mcp", tokens, port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


async def call(client: Client, name: str, args: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, args)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def refused(client: Client, name: str, args: dict[str, Any]) -> str:
    result = await client.call_tool(name, args)
    assert result.is_error, result.structured_content
    return result.content[0].text


def record_args(task: str, project: str | None, n: int) -> dict[str, Any]:
    args = {"task": task, "summary": "worked it out", "outcome": "success", "items": [good_item(n)]}
    return args | ({"project": project} if project else {})


def test_valid_token_records_then_recalls(server: Server):
    async def go():
        async with server.client(server.tokens["alice"]) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "recall_strategies" in names
            stored = await call(
                client, "record_trajectory", record_args("Parser crashes on empty input", "acme/app", 1)
            )
            assert stored["status"] == "stored"
            hit = await call(client, "recall_strategies", {"task": "the parser fails on an empty string",
                                                           "project": "acme/app"})  # fmt: skip
            assert hit["items"] and hit["items"][0]["id"] == stored["stored"][0]["id"]
            assert hit["items"][0]["scope"] == "acme/app"

    anyio.run(go)


def test_no_token_is_refused(server: Server):
    response = server.post_init()
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer ")
    assert server.post_init(Authorization="Bearer rbm_1_" + "x" * 43).status_code == 401
    assert server.post_init(Authorization="Basic YWxpY2U6eA==").status_code == 401

    async def go():
        async with server.client(None) as client:
            await client.list_tools()

    with pytest.raises(Exception):  # noqa: B017 - the SDK raises its transport error
        anyio.run(go)


def test_revoked_token_is_refused_from_the_next_request(server: Server):
    out = rb(server.env, "token", "create", "--identity", "dave", "--name", "to revoke")
    token = out.stdout.strip()
    token_id = token.split("_")[1]

    async def session_then_revoke():
        async with server.client(token) as client:
            await call(client, "recall_strategies", {"task": "anything at all"})
            assert rb(server.env, "token", "revoke", token_id).returncode == 0
            with pytest.raises(Exception):  # noqa: B017 - the open session is refused too
                await client.call_tool("recall_strategies", {"task": "anything at all"})

    anyio.run(session_then_revoke)
    response = server.post_init(Authorization=f"Bearer {token}")
    assert response.status_code == 401 and 'error="invalid_token"' in response.headers["www-authenticate"]
    listed = json.loads(rb(server.env, "token", "list", "--all", "--json").stdout)
    dave = next(t for t in listed if t["identity"] == "dave")
    assert dave["revoked_at"] and dave["last_used_at"] and not dave["active"]
    assert token not in json.dumps(listed)


def test_wrong_origin_is_refused(server: Server):
    token = server.tokens["alice"]
    response = server.post_init(Authorization=f"Bearer {token}", Origin="http://evil.example")
    assert response.status_code == 403
    assert server.post_init(Authorization=f"Bearer {token}", Host="evil.example:80").status_code == 421
    assert server.post_init(Authorization=f"Bearer {token}", Origin=ALLOWED_ORIGIN).status_code == 200
    assert (
        server.post_init(Authorization=f"Bearer {token}", Origin="http://localhost:3000").status_code == 200
    )

    async def go():
        async with server.client(token, Origin="http://evil.example") as client:
            await client.list_tools()

    with pytest.raises(Exception):  # noqa: B017
        anyio.run(go)


def test_identity_decides_what_a_client_sees(server: Server):
    alice, bob, carol = (server.tokens[w] for w in ("alice", "bob", "carol"))
    task = "Migration fails on a table with a reserved word as name"

    async def go():
        async with server.client(alice) as client:
            mine = await call(client, "record_trajectory", record_args(task, "personal", 10))
            team = await call(client, "record_trajectory", record_args(task + " again", "global", 11))
            other = await call(
                client, "record_trajectory", record_args(task + " in the shop", "acme/shop", 12)
            )
            pending = await call(
                client, "record_trajectory", {"task": task, "summary": "s", "project": "personal"}
            )
            seen = await call(client, "recall_strategies", {"task": task, "k": 10})
            assert {i["scope"] for i in seen["items"]} == {"user:alice", "global"}
            shop = await call(client, "recall_strategies", {"task": task, "k": 10, "project": "acme/shop"})
            assert {i["scope"] for i in shop["items"]} == {"user:alice", "global", "acme/shop"}
        mine_id, other_id = mine["stored"][0]["id"], other["stored"][0]["id"]
        async with server.client(bob) as client:
            seen = await call(client, "recall_strategies", {"task": task, "k": 10})
            assert {i["scope"] for i in seen["items"]} == {"global"}
            assert team["stored"][0]["id"] in {i["id"] for i in seen["items"]}
            assert seen["project"] == "acme/app"  # a token with one project defaults to it
            text = await refused(client, "recall_strategies", {"task": task, "project": "acme/shop"})
            assert "acme/shop" in text and "does not allow" in text
            text = await refused(client, "record_trajectory", record_args(task, "user:alice", 13))
            assert "personal memory" in text
            text = await refused(client, "record_trajectory", {"trajectory_id": pending["trajectory_id"],
                                                                "outcome": "failure"})  # fmt: skip
            assert f"trajectory_id {pending['trajectory_id']} is unknown here" in text
            for item_id in (mine_id, other_id):
                with pytest.raises(Exception, match="no memory item"):
                    await client.read_resource(f"rb://items/{item_id}")
            recent = json.loads((await client.read_resource("rb://items/recent")).contents[0].text)
            assert {i["scope"] for i in recent} <= {"global", "acme/app", "user:bob"}
            stats = json.loads((await client.read_resource("rb://stats")).contents[0].text)
            assert all(p["scope"] in ("global", "acme/app", "user:bob") for p in stats["projects"])
            shown = {g["project"] for g in stats["guidance"]}  # recalls per project: alice's stay hers
            assert "acme/app" in shown and shown <= {"global", "acme/app", "user:bob"}
            queue = await call(client, "distill_pending", {})
            assert pending["trajectory_id"] not in queue["remaining_ids"]
            own = await call(client, "record_trajectory", record_args(task, "personal", 14))
            assert (await call(client, "recall_strategies", {"task": task, "k": 10, "project": "personal"}))[
                "items"
            ]
        async with server.client(carol) as client:
            seen = await call(client, "recall_strategies", {"task": task, "k": 10, "project": "acme/app"})
            scopes = {i["scope"] for i in seen["items"]}
            assert "user:alice" not in scopes and "user:bob" not in scopes and "global" in scopes
            assert own["stored"][0]["id"] not in {i["id"] for i in seen["items"]}

    anyio.run(go)


class Sampler:
    """A client's model for sampling: keeps what the server asked, answers with a short review."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def __call__(
        self, context: Any, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        self.seen += [m.content.text for m in params.messages if isinstance(m.content, types.TextContent)]
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text="Looks fine; test it."), model="m"
        )


def test_ids_are_capabilities_of_their_owner(server: Server):
    """Bob reuses alice's group_id and replays her team-scope recall_id: her refinement note never
    reaches his prompt or his client's model, her personal item is not harmed, her credit stays hers,
    and his refusal says no more than a made-up id gets."""
    alice, bob = server.tokens["alice"], server.tokens["bob"]
    marker = "alice-only refinement marker"
    task = "Date picker shows the wrong month after a daylight saving change"

    async def go():
        async with server.client(alice) as client:
            await call(client, "refine_attempt", {"task": task, "attempt": marker, "mode": "sequential",
                                                  "group_id": "shared", "project": "acme/app"})  # fmt: skip
            mine = await call(client, "record_trajectory", record_args(task, "personal", 30))
            team = await call(client, "recall_strategies", {"task": task, "project": "global"})
            assert mine["stored"][0]["id"] in [i["id"] for i in team["items"]]
        sampler = Sampler()
        async with server.client(bob, sampler) as client:
            check = await call(client, "refine_attempt", {"task": task, "attempt": "bob's attempt",
                                                          "mode": "sequential", "group_id": "shared"})  # fmt: skip
            assert check["iteration"] == 1 and marker not in json.dumps(check)
            assert sampler.seen and not any(marker in text for text in sampler.seen)
            replay = await refused(client, "record_trajectory", {"task": "t task", "summary": "s", "outcome": "failure",
                                                                 "project": "global", "recall_id": team["recall_id"]})  # fmt: skip
            number = team["recall_id"].split("-")[0]
            for forged in (f"{number}-aaaaaaaaaaaaaaaa", number, "1-" + team["recall_id"].split("-")[1]):
                assert await refused(client, "record_trajectory", {"task": "t task", "summary": "s",
                                                                   "recall_id": forged}) == replay  # fmt: skip
            assert "alice" not in replay and "personal" not in replay
        async with server.client(alice) as client:
            done = await call(client, "record_trajectory", {"task": task, "summary": "s", "outcome": "success",
                                                            "project": "global", "recall_id": team["recall_id"]})  # fmt: skip
            assert mine["stored"][0]["id"] in done["credited"]
            again = await call(client, "recall_strategies", {"task": task, "project": "personal"})
            hit = next(i for i in again["items"] if i["id"] == mine["stored"][0]["id"])
            assert (hit["helped"], hit["harmed"]) == (1, 0)

    anyio.run(go)


def test_host_and_origin_must_match_exactly(server: Server):
    token = {"Authorization": f"Bearer {server.tokens['alice']}"}
    port = server.port
    assert server.post_init(**token, Host=f"localhost:{port}").status_code == 200
    for host in (f"localhost:{port}.evil.example", f"127.0.0.1:{port}@evil.example", f"localhost:{port}x",
                 f"{PROXY_NAME}.evil.example", "localhost:", "localhost"):  # fmt: skip
        assert server.post_init(**token, Host=host).status_code == 421, host
    for origin in ("http://localhost:3000.evil.example", "http://localhost:3000@evil.example",
                   ALLOWED_ORIGIN + ".evil.example", "http://localhost:"):  # fmt: skip
        assert server.post_init(**token, Origin=origin).status_code == 403, origin
    assert server.post_init(**token, Origin="http://[::1]:5173").status_code == 200


def test_raw_requests_that_do_not_parse_get_a_json_rpc_error_with_their_id(server: Server):
    token = {"Authorization": f"Bearer {server.tokens['alice']}"}
    opened = server.post_init(**token)
    session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
    server.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, **token, **session)

    def tool_call(n: int, arguments: bytes) -> bytes:
        return (b'{"jsonrpc": "2.0", "id": %d, "method": "tools/call", "params": {"name": "recall_strategies", '
                b'"arguments": %s}}' % (n, arguments))  # fmt: skip

    surrogate = server.post(tool_call(7, b'{"task": "x\\ud800y"}'), **token, **session)
    deep = server.post(tool_call(8, b'{"task": "x", "project": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
                       **token, **session)  # fmt: skip
    for response, n, words in ((surrogate, 7, "surrogate"), (deep, 8, "too deeply")):
        answer = response.json()
        assert response.status_code == 400 and answer["id"] == n, answer
        assert answer["error"]["code"] == -32700 and words in answer["error"]["message"]
    assert server.post(tool_call(9, b'{"task": "x\\ud800y"}')).status_code == 401  # no token: not even parsed


def test_refuses_non_loopback_without_tokens(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    bank = ["--bank", str(tmp_path / "empty.sqlite3")]
    assert main(["serve", "--http", "--host", "0.0.0.0", "--port", str(free_port()), *bank]) == 1
    err = capsys.readouterr().err
    assert "refusing to serve 0.0.0.0 without authentication" in err and "token create" in err
    assert main(["serve", "--http", "--host", "::", *bank]) == 1
    assert main(["serve", "--http", "--allowed-host", "rb.example.com", *bank]) == 1
    assert "refusing to serve rb.example.com" in capsys.readouterr().err
    assert main(["serve", "--port", "9999", *bank]) == 1
    assert "need --http" in capsys.readouterr().err


def test_loopback_without_tokens_serves_local_clients_only(tmp_path: Path):
    env = dict(os.environ, RB_MCP_BANK=str(tmp_path / "open.sqlite3"), XDG_DATA_HOME=str(tmp_path / "data"))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "rb_mcp", "serve", "--http", "--port", str(port)], env=env,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        wait_listening(proc, port)
        local = Server(env, f"http://127.0.0.1:{port}/mcp", {})

        async def go():
            async with local.client(None) as client:
                stored = await call(
                    client, "record_trajectory", record_args("Parser crashes", "user:alice", 20)
                )
                assert stored["status"] == "stored"  # no identity: the local user may name any scope

        anyio.run(go)
        assert local.post_init().status_code == 200
        assert local.post_init(**{"X-Forwarded-For": "203.0.113.9"}).status_code == 403
        assert local.post_init(Origin="http://evil.example").status_code == 403
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.mark.skipif(not (shutil.which("nginx") and shutil.which("openssl")), reason="needs nginx and openssl")
def test_readme_nginx_example_terminates_tls(server: Server, tmp_path: Path):
    site = re.search(r"```nginx\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    cert, key, tls_port = tmp_path / "cert.pem", tmp_path / "key.pem", free_port()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", f"/CN={PROXY_NAME}", "-addext",
                    f"subjectAltName=DNS:{PROXY_NAME},IP:127.0.0.1"], check=True, capture_output=True)  # fmt: skip
    for old, new in (("listen 443 ssl", f"listen 127.0.0.1:{tls_port} ssl"),
                     (f"/etc/letsencrypt/live/{PROXY_NAME}/fullchain.pem", str(cert)),
                     (f"/etc/letsencrypt/live/{PROXY_NAME}/privkey.pem", str(key)),
                     ("http://127.0.0.1:8765", f"http://127.0.0.1:{server.port}")):  # fmt: skip
        assert old in site, old
        site = site.replace(old, new)
    temp = " ".join(
        f"{k}_temp_path {tmp_path / k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"daemon off; pid {tmp_path / 'nginx.pid'}; error_log {tmp_path / 'error.log'};\n"
                    f"events {{}}\nhttp {{ access_log off; {temp}\n{site}\n}}\n")  # fmt: skip
    nginx = subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(tmp_path)], stderr=subprocess.PIPE, text=True
    )
    try:
        wait_listening(nginx, tls_port)
        url = f"https://127.0.0.1:{tls_port}/mcp"
        trust = ssl.create_default_context(cafile=str(cert))

        async def go():
            headers = {"Authorization": f"Bearer {server.tokens['alice']}", "Host": PROXY_NAME}
            http = httpx2.AsyncClient(headers=headers, verify=trust, timeout=60)
            async with http, Client(streamable_http_client(url, http_client=http)) as client:
                hit = await call(client, "recall_strategies", {"task": "parser fails on empty input"})
                assert hit["recall_id"]
            async with httpx2.AsyncClient(verify=trust) as h:
                response = await h.post(url, json=INIT, headers=ACCEPT | {"Host": PROXY_NAME})
                assert response.status_code == 401

        anyio.run(go)
    finally:
        nginx.terminate()
        nginx.wait(timeout=15)


def test_team_on_postgresql_two_http_servers_share_what_they_learn(tmp_path: Path, pg_url: str):
    """Monday and Tuesday on two machines: two HTTP servers on one PostgreSQL bank, each with its own
    clients; alice's lesson in the team project reaches bob through the other server, her personal
    one does not."""
    env = dict(os.environ, RB_MCP_BANK=pg_url, XDG_DATA_HOME=str(tmp_path / "data"))
    env.pop("RB_MCP_PROJECT", None)
    tokens = {}
    for who in ("alice", "bob"):
        out = rb(env, "token", "create", "--identity", who, "--scope", "acme/app")
        assert out.returncode == 0, out.stderr
        tokens[who] = out.stdout.strip()
    procs, servers = [], []
    try:
        for _ in range(2):
            port = free_port()
            proc = subprocess.Popen([sys.executable, "-m", "rb_mcp", "serve", "--http", "--port", str(port)],
                                    env=env, stderr=subprocess.PIPE, text=True)  # fmt: skip
            procs.append(proc)
            wait_listening(proc, port)
            servers.append(Server(env, f"http://127.0.0.1:{port}/mcp", tokens, port))

        async def go():
            async with servers[0].client(tokens["alice"]) as client:
                team = await call(
                    client, "record_trajectory", record_args("Parser crashes on empty input", "acme/app", 1)
                )
                mine = await call(client, "record_trajectory",
                                  record_args("Cache never expires entries", "personal", 2))  # fmt: skip
                assert team["status"] == mine["status"] == "stored"
            async with servers[1].client(tokens["bob"]) as client:
                hit = await call(client, "recall_strategies", {"task": "the parser fails on an empty string",
                                                               "project": "acme/app"})  # fmt: skip
                assert [i["id"] for i in hit["items"]][:1] == [team["stored"][0]["id"]]
                other = await call(client, "recall_strategies", {"task": "cache entries never expire",
                                                                 "project": "acme/app"})  # fmt: skip
                assert mine["stored"][0]["id"] not in [i["id"] for i in other["items"]]

        anyio.run(go)
        assert servers[1].post_init().status_code == 401
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
