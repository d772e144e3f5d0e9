"""A scripted stand-in for the Anthropic Messages API, on 127.0.0.1, for running real Claude Code.

Claude Code sends every model request to `ANTHROPIC_BASE_URL`. This server answers them with a
fixed agent that never thinks of memory on its own: it fixes the task by writing one file and ends
its turn without calling any rb-mcp tool. When the Stop hook asks it to call record_trajectory it
records the work with the recall_id it was given in its context, or, playing the forgetful agent,
stops anyway. Everything it was
sent is kept in `requests`, so a test can see what the hooks added to the model's context.

Streaming (server-sent events) and plain JSON answers both follow the Messages API's shapes.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RECALL_ID = re.compile(r"recall_id=([0-9]+-[a-z2-7]{16})")
STOP_ASKS = "no record_trajectory call describes that work yet"
RECORD_TOOL = re.compile(r"mcp__[\w-]+__record_trajectory")


class Agent:
    """What the scripted model does next, read from the conversation so far."""

    def __init__(self, file_path: str, file_text: str, task: str, obeys_stop: bool = True):
        self.file_path, self.file_text, self.task = file_path, file_text, task
        self.obeys_stop = obeys_stop  # False: the forgetful agent, who stops without recording
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def answer(self, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
        """(content blocks, stop_reason) for one request."""
        with self.lock:
            self.requests.append(body)
        tools = [t.get("name", "") for t in body.get("tools") or []]
        if "Write" not in tools:  # a side request (a title, a summary): short text
            return [{"type": "text", "text": "Fix the empty CSV upload crash"}], "end_turn"
        conversation = json.dumps(body["messages"])
        named = RECORD_TOOL.search(conversation)
        record = next(
            (t for t in tools if t.endswith("__record_trajectory")), named.group() if named else None
        )
        # Claude Code places hook messages (role "system") after the turn they follow: the turn is
        # the last user message, and the Stop hook's request may come anywhere.
        turn = next((m for m in reversed(body["messages"]) if m.get("role") == "user"), {})
        answered = "tool_result" in json.dumps(turn.get("content"))
        used = [b["name"] for b in _blocks(body["messages"]) if b.get("type") == "tool_use"]
        last = used[-1] if used and answered else None
        if record is not None and last == record:
            return [{"type": "text", "text": "Recorded the outcome."}], "end_turn"
        if record is not None and STOP_ASKS in conversation and record not in used and not self.obeys_stop:
            return [{"type": "text", "text": "Stopping here."}], "end_turn"
        if record is not None and STOP_ASKS in conversation and record not in used:
            if record not in tools and "ToolSearch" not in used:  # a deferred MCP tool: load it first
                return [_tool_use("toolu_search", "ToolSearch", {"query": f"select:{record}"})], "tool_use"
            return [_tool_use("toolu_record", record, self._record_args(conversation))], "tool_use"
        if "Write" in used:
            return [{"type": "text", "text": "Fixed: an empty upload now imports nothing."}], "end_turn"
        args = {"file_path": self.file_path, "content": self.file_text}
        return [_tool_use("toolu_write", "Write", args)], "tool_use"

    def _record_args(self, conversation: str) -> dict[str, Any]:
        args: dict[str, Any] = {
            "task": self.task,
            "steps": [{"action": f"Write {self.file_path}", "observation": "empty uploads return no rows"}],
            "summary": "Guarded the importer against an empty upload.",
            "outcome": "success",
            "files": [self.file_path],
        }
        found = RECALL_ID.search(conversation)
        if found:
            args["recall_id"] = found.group(1)
        return args

    def main_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if any(t.get("name") == "Write" for t in r.get("tools") or [])]


def _blocks(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for m in messages:
        if m.get("role") == "assistant" and isinstance(m.get("content"), list):
            out += m["content"]
    return out


def _tool_use(tool_id: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": args}


def _events(content: list[dict[str, Any]], stop: str, model: str) -> list[tuple[str, dict[str, Any]]]:
    message = {
        "id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 100, "output_tokens": 1},
    }  # fmt: skip
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": message})
    ]
    for i, block in enumerate(content):
        if block["type"] == "text":
            start, delta = {"type": "text", "text": ""}, {"type": "text_delta", "text": block["text"]}
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        events += [
            ("content_block_start", {"type": "content_block_start", "index": i, "content_block": start}),
            ("content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta}),
            ("content_block_stop", {"type": "content_block_stop", "index": i}),
        ]
    events += [
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                           "usage": {"output_tokens": 20}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    return events


def serve(agent: Agent) -> tuple[ThreadingHTTPServer, str]:
    """Start the fake API on a free port of 127.0.0.1; returns the server and its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
            if self.path.split("?")[0].endswith("/count_tokens"):
                return self._json({"input_tokens": 100})
            if not self.path.split("?")[0].endswith("/v1/messages"):
                return self._json(
                    {"type": "error", "error": {"type": "not_found_error", "message": "no"}}, 404
                )
            content, stop = agent.answer(body)
            model = body.get("model", "claude-fake")
            if not body.get("stream"):
                return self._json({
                    "id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": content,
                    "stop_reason": stop, "stop_sequence": None, "usage": {"input_tokens": 100, "output_tokens": 20},
                })  # fmt: skip
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.end_headers()
            for name, data in _events(content, stop, model):
                self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            self.wfile.flush()

        def do_GET(self) -> None:  # noqa: N802
            self._json({"data": [], "has_more": False})

        def _json(self, obj: dict[str, Any], status: int = 200) -> None:
            raw = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
