"""A real OpenAI-compatible chat completions server on 127.0.0.1, answering from a script, and the
tests of rb-mcp's HTTP backend against it (timeouts, retries, refusals, parsing, repair, doctor).

Nothing is mocked at the HTTP layer: `ScriptedLLM` is a ThreadingHTTPServer the client under test
reaches over TCP. Scripted entries are consumed in order (good, malformed, slow, 429, 500 ...);
with the script empty, `answer_for` plays a well-behaved model that recognises rb-mcp's prompts.
The same `answer_for` backs the sampling callback of the MCP client in test_sampling.py.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from rb_mcp.admin import doctor
from rb_mcp.config import Config
from rb_mcp.llm import HttpLLM, JudgeAnswer, LLMError, ask_json, final_json, llm_checks, parse_answer

KEY = "sk-test-" + "Zq81vX0pL3mN7bC2dE5f"
MODEL = "stub-model"

GOOD_ITEMS = {
    "success": {
        "title": "Prove a fix with a failing reproduction first",
        "description": "A reproduction that fails before the change and passes after it is the evidence a fix works.",
        "content": "Write the smallest test that shows the wrong behaviour, watch it fail, change the code, and "
        "watch the same test pass before running the wider suite.",
        "kind": "strategy",
    },
    "failure": {
        "title": "Check that the reproducing test really ran",
        "description": "Markers and selection flags can skip the one test that matters and leave a green run.",
        "content": "After a fix, confirm the reproducing test was collected and executed: look for its id in the "
        "output and run it alone once before calling the task done.",
        "kind": "pitfall",
    },
}
CONTRAST_ITEMS = [
    {
        "title": "Wait on a readiness signal instead of a longer timeout",
        "description": "Start-up races look like slowness; raising timeouts hides them instead of fixing them.",
        "content": "When a job hangs only sometimes, find the readiness signal of the dependency and block on it "
        "with a bounded wait; compare runs that pass and fail to confirm the race.",
        "kind": "strategy",
    },
    {
        "title": "Distrust fixes that only change waiting times",
        "description": "Attempts that merely wait longer fail again under load, so they are not real fixes.",
        "content": "If an attempt only increases sleeps or timeouts, treat it as unverified: reproduce under load "
        "and look for the event the code should wait for instead.",
        "kind": "pitfall",
    },
]


def fenced(data: Any, reasoning: str = "Reasoning about the evidence first.") -> str:
    return f"{reasoning}\n\n```json\n{json.dumps(data)}\n```"


def answer_for(turns: list[tuple[str, str]]) -> str:
    """A well-behaved model: recognises each rb-mcp prompt by its wording and answers in its format."""
    first = turns[0][1]
    last = turns[-1][1]
    if "You are judging whether an agent accomplished a task" in first:
        verdict = "failure" if "[fail]" in first else "impossible" if "[impossible]" in first else "success"
        return fenced({"verdict": verdict, "rationale": f"The record shows the {verdict} plainly."})
    if "This trajectory SUCCEEDED" in first:
        return fenced({"items": [GOOD_ITEMS["success"]]})
    if "This trajectory FAILED" in first or "IMPOSSIBLE" in first:
        return fenced({"items": [GOOD_ITEMS["failure"]]})
    if "Several attempts were made at the same task" in first:
        return fenced({"items": CONTRAST_ITEMS})
    if "were judged successful. Pick the one" in first:
        return fenced({"best": 2, "reason": "it waits on the real readiness signal"})
    if "Two memory items in the bank read alike" in first:
        return fenced({"decision": "keep_both", "merged": None})
    if "Review an engineer's current attempt" in first:
        if last.startswith("Check again"):
            return "REVIEW 2: the attempt still lacks a test run that shows the duplicates are gone."
        return "REVIEW 1: ordering by a non-unique column repeats rows across pages; add a tiebreaker."
    return "I do not know this prompt."


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
            self.wfile.write(body)

    def do_GET(self) -> None:
        with self.server.owner.lock:
            self.server.owner.requests.append(
                {"path": self.path, "headers": dict(self.headers), "body": None}
            )
        if self.path.rstrip("/").endswith("/models"):
            data = {
                "object": "list",
                "data": [{"id": m, "object": "model"} for m in self.server.owner.models],
            }
            self._send(200, json.dumps(data).encode(), {})
        else:
            self._send(404, b'{"error": "not found"}', {})

    def do_POST(self) -> None:
        owner = self.server.owner
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        turns = [(m["role"], m["content"]) for m in body.get("messages", []) if m["role"] != "system"]
        with owner.lock:
            owner.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            entry = owner.script.popleft() if owner.script else {}
        time.sleep(entry.get("delay", 0))
        status = entry.get("status", 200)
        if status != 200:
            self._send(
                status,
                json.dumps(entry.get("body", {"error": "scripted"})).encode(),
                entry.get("headers", {}),
            )
            return
        content = entry["content"] if "content" in entry else answer_for(turns)
        data = {
            "id": "cmpl-1",
            "object": "chat.completion",
            "model": body.get("model"),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
        }
        self._send(200, json.dumps(data).encode(), entry.get("headers", {}))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: ScriptedLLM


class ScriptedLLM:
    """Start with `with ScriptedLLM() as llm:`; `llm.url` is the base URL (ends in /v1)."""

    def __init__(self, models: tuple[str, ...] = (MODEL,)):
        self.script: deque[dict[str, Any]] = deque()
        self.requests: list[dict[str, Any]] = []
        self.models = list(models)
        self.lock = threading.Lock()
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.owner = self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def push(self, *entries: dict[str, Any]) -> None:
        with self.lock:
            self.script.extend(entries)

    def prompts(self) -> list[str]:
        """The first user message of every chat request, in order."""
        return [
            next(m["content"] for m in r["body"]["messages"] if m["role"] == "user") for r in self.chats()
        ]

    def chats(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].endswith("/chat/completions")]

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "RB_MCP_LLM_BASE_URL": self.url,
            "RB_MCP_LLM_MODEL": MODEL,
            "RB_MCP_LLM_API_KEY": KEY,
            **extra,
        }

    def __enter__(self) -> ScriptedLLM:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def stub():
    with ScriptedLLM() as server:
        yield server


def http_llm(stub: ScriptedLLM, **over: Any) -> HttpLLM:
    args = {"base_url": stub.url, "model": MODEL, "api_key": KEY, "timeout": 5.0, "retries": 2} | over
    return HttpLLM(**args)


JUDGE_PROMPT = [("user", "You are judging whether an agent accomplished a task, from its own record. [fail]")]


# ---- the HTTP backend ----------------------------------------------------------------------------
def test_good_answer_sends_model_system_and_key(stub):
    answer = http_llm(stub).complete(JUDGE_PROMPT, system="SYS", max_tokens=100)
    assert '"verdict": "failure"' in answer
    (request,) = stub.chats()
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    assert request["body"]["model"] == MODEL and request["body"]["max_tokens"] == 100
    assert request["body"]["messages"][0] == {"role": "system", "content": "SYS"}


def test_429_and_500_are_retried_with_backoff(stub):
    stub.push({"status": 429, "headers": {"Retry-After": "0"}}, {"status": 503}, {"content": "fine"})
    started = time.monotonic()
    assert http_llm(stub).complete(JUDGE_PROMPT, system="s", max_tokens=10) == "fine"
    assert len(stub.chats()) == 3 and time.monotonic() - started < 10


def test_retries_are_bounded_and_the_error_names_no_key(stub):
    stub.push(*[{"status": 500, "body": {"error": f"boom for key {KEY}"}}] * 3)
    with pytest.raises(LLMError, match="failed after 3 attempt") as info:
        http_llm(stub).complete(JUDGE_PROMPT, system="s", max_tokens=10)
    assert len(stub.chats()) == 3 and KEY not in str(info.value)


def test_slow_endpoint_times_out(stub):
    stub.push({"delay": 2.0, "content": "too late"})
    started = time.monotonic()
    with pytest.raises(LLMError, match="no answer within 0.5 s"):
        http_llm(stub, timeout=0.5, retries=0).complete(JUDGE_PROMPT, system="s", max_tokens=10)
    assert time.monotonic() - started < 2.0


def test_refusal_is_not_retried_and_never_echoes_the_key(stub):
    stub.push({"status": 401, "body": {"error": f"Incorrect API key provided: {KEY}"}})
    with pytest.raises(LLMError, match="RB_MCP_LLM_API_KEY") as info:
        http_llm(stub).complete(JUDGE_PROMPT, system="s", max_tokens=10)
    assert len(stub.chats()) == 1 and KEY not in str(info.value)
    stub.push({"status": 400, "body": {"error": f"bad request with {KEY}"}})
    with pytest.raises(LLMError, match="HTTP 400") as info:
        http_llm(stub).complete(JUDGE_PROMPT, system="s", max_tokens=10)
    assert KEY not in str(info.value)


def test_unreachable_endpoint(stub):
    port = stub.httpd.server_address[1]
    stub.__exit__()
    llm = HttpLLM(base_url=f"http://user:pw@127.0.0.1:{port}/v1", model=MODEL, timeout=1, retries=1)
    with pytest.raises(LLMError, match="cannot reach") as info:
        llm.complete(JUDGE_PROMPT, system="s", max_tokens=10)
    assert "pw" not in str(info.value) and "pw" not in llm.name


# ---- parsing and repair --------------------------------------------------------------------------
def test_final_json_prefers_the_last_fenced_block():
    text = 'thinking {not json} and {"a": 1}\n```json\n{"b": 2}\n```\nthen ```json\n{"c": 3}\n```'
    assert final_json(text) == {"c": 3}
    assert final_json('I reason. Then {"verdict": "success", "rationale": "ok {x}"} done') == {
        "verdict": "success",
        "rationale": "ok {x}",
    }
    assert final_json("no json at all") is None


def test_parse_answer_validates_strictly():
    ok, problems = parse_answer(fenced({"verdict": "success", "rationale": "tests pass"}), JudgeAnswer)
    assert ok is not None and ok.verdict == "success" and problems == []
    bad, problems = parse_answer(fenced({"verdict": "maybe", "rationale": "x", "extra": 1}), JudgeAnswer)
    assert bad is None and any("verdict" in p for p in problems) and any("extra" in p for p in problems)


def test_one_repair_turn_then_give_up(stub):
    stub.push({"content": "It clearly worked."})
    answer, problems = ask_json(http_llm(stub), JUDGE_PROMPT[0][1], JudgeAnswer, "FORMAT", max_tokens=50)
    assert answer is not None and answer.verdict == "failure"
    repair = stub.chats()[-1]["body"]["messages"]
    assert [m["role"] for m in repair] == ["system", "user", "assistant", "user"]
    assert "could not be used" in repair[-1]["content"] and "FORMAT" in repair[-1]["content"]
    stub.push({"content": "nope"}, {"content": fenced({"verdict": "perhaps", "rationale": "x"})})
    answer, problems = ask_json(http_llm(stub), JUDGE_PROMPT[0][1], JudgeAnswer, "FORMAT", max_tokens=50)
    assert answer is None and problems and len(stub.chats()) == 4


# ---- doctor --------------------------------------------------------------------------------------
def test_llm_checks_report_every_backend(stub, tmp_path):
    base = Config(bank=tmp_path / "b.sqlite3")
    names = [c[0] for c in llm_checks(base)]
    assert names == ["llm: agent", "llm: sampling", "llm: http", "llm: fallback"]
    # the queue is the bank's to count: doctor adds its line after the backends'
    assert [c[0] for c in doctor(base, load_model=False)[0]][-5:] == [*names, "llm: queue"]
    assert dict((n, s) for n, s, _ in llm_checks(base))["llm: http"] == "off"
    off = Config(bank=tmp_path / "b.sqlite3", sampling=False)
    assert dict((n, s) for n, s, _ in llm_checks(off))["llm: sampling"] == "off"
    configured = Config(bank=tmp_path / "b.sqlite3", llm_base_url=stub.url, llm_model=MODEL, llm_api_key=KEY)
    http = next(c for c in llm_checks(configured) if c[0] == "llm: http")
    assert http[1] == "ok" and MODEL in http[2] and KEY not in http[2]
    assert stub.requests[-1]["headers"]["Authorization"] == f"Bearer {KEY}"
    other = Config(bank=tmp_path / "b.sqlite3", llm_base_url=stub.url, llm_model="absent")
    assert next(c for c in llm_checks(other) if c[0] == "llm: http")[1] == "warn"
    no_model = Config(bank=tmp_path / "b.sqlite3", llm_base_url=stub.url)
    assert "RB_MCP_LLM_MODEL" in next(c for c in llm_checks(no_model) if c[0] == "llm: http")[2]
    assert all(status != "fail" for _, status, _ in llm_checks(configured))
    assert KEY not in repr(configured)


def test_llm_checks_unreachable_is_a_warning(tmp_path):
    config = Config(bank=tmp_path / "b.sqlite3", llm_base_url="http://127.0.0.1:9/v1", llm_model=MODEL)
    check = next(c for c in llm_checks(config) if c[0] == "llm: http")
    assert check[1] == "warn" and "unreachable" in check[2]
