"""What a Claude Code session did, read from its transcript (JSONL, one entry per line).

The entries that matter here (Claude Code's transcript format):

    {"type": "user", "message": {"role": "user", "content": "Fix the flaky upload test"}, ...}
    {"type": "assistant", "message": {"content": [{"type": "tool_use", "id": "toolu_1",
        "name": "Edit", "input": {"file_path": "/repo/tests/test_upload.py", ...}}]}}
    {"type": "user", "message": {"content": [{"type": "tool_result", "tool_use_id": "toolu_1",
        "content": "...", "is_error": true}]}}

A prompt the user typed is a user entry whose content is a string or text blocks; slash commands,
their output and compaction summaries are user entries too, and are not prompts. MCP tools are
named `mcp__<server>__<tool>` (`mcp__plugin_<plugin>_<server>__<tool>` for a plugin's server).

The work of a session is cut into segments at each successful `record_trajectory` call: what the
hooks care about is the segment after the last one, work that no trajectory describes yet.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

log = logging.getLogger("rb_mcp.hooks")

EDIT_TOOLS = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit"})
RECORD_TOOL = "record_trajectory"
MAX_BYTES = 64 << 20  # a transcript larger than this is read from its last 64 MB
_NOT_PROMPTS = (
    "<command-",
    "<local-command-",
    "<bash-",
    "<user-memory-input",
    "Caveat:",
    "[Request interrupted",
)


@dataclass
class ToolCall:
    id: str
    name: str
    input: dict[str, Any]
    position: int
    is_error: bool = False
    error: str = ""

    @property
    def short_name(self) -> str:
        """The tool's own name: `record_trajectory` for `mcp__rb-mcp__record_trajectory`."""
        return self.name.rsplit("__", 1)[-1] if self.name.startswith("mcp__") else self.name

    @property
    def records(self) -> bool:
        return self.name.startswith("mcp__") and self.short_name == RECORD_TOOL and not self.is_error

    @cached_property
    def writes(self) -> tuple[bool, list[str]]:
        """Does this call write files when it succeeds, and which: edit tools' paths, Bash targets."""
        if self.name in EDIT_TOOLS:
            path = self.input.get("file_path") or self.input.get("notebook_path")
            return True, [path] if isinstance(path, str) and path else []
        if self.name == "Bash":
            return bash_writes(str(self.input.get("command") or ""))
        return False, []

    def files(self) -> list[str]:
        return self.writes[1]

    def changes_files(self) -> bool:
        return not self.is_error and self.writes[0]


@dataclass
class Prompt:
    text: str
    position: int


@dataclass
class Transcript:
    prompts: list[Prompt] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    last_text: str = ""  # the assistant's last words

    def unrecorded(self) -> Segment:
        """The work after the last successful record_trajectory call."""
        start = max((c.position for c in self.calls if c.records), default=-1)
        return Segment(
            prompts=[p for p in self.prompts if p.position > start],
            calls=[c for c in self.calls if c.position > start],
            recorded_before=start >= 0,
        )


@dataclass
class Segment:
    prompts: list[Prompt]
    calls: list[ToolCall]
    recorded_before: bool

    @cached_property
    def changes(self) -> list[ToolCall]:
        return [c for c in self.calls if c.changes_files()]

    @property
    def key(self) -> str:
        """Names this piece of work: the id of its first file change."""
        changes = self.changes
        return changes[0].id if changes else ""

    def files(self) -> list[str]:
        return list(dict.fromkeys(f for c in self.changes for f in c.files()))


def read(path: str | Path) -> Transcript:
    """Parse a transcript; unreadable lines are skipped, a missing file raises OSError."""
    entries = _entries(Path(path).expanduser())
    return parse(entries)


def parse(entries: Iterable[dict[str, Any]]) -> Transcript:
    out = Transcript()
    by_id: dict[str, ToolCall] = {}
    for position, entry in enumerate(entries):
        kind = entry.get("type")
        message = entry.get("message")
        if kind not in ("user", "assistant") or not isinstance(message, dict):
            continue
        content = message.get("content")
        if kind == "assistant":
            _assistant(content, position, out, by_id)
        else:
            _user(entry, content, position, out, by_id)
    return out


def _assistant(content: Any, position: int, out: Transcript, by_id: dict[str, ToolCall]) -> None:
    if isinstance(content, str):
        out.last_text = content.strip() or out.last_text
        return
    for block in _blocks(content):
        if block.get("type") == "tool_use" and isinstance(block.get("name"), str):
            call = ToolCall(
                id=str(block.get("id") or f"call-{position}-{len(out.calls)}"),
                name=block["name"],
                input=block.get("input") if isinstance(block.get("input"), dict) else {},
                position=position,
            )
            out.calls.append(call)
            by_id[call.id] = call
        elif block.get("type") == "text" and str(block.get("text") or "").strip():
            out.last_text = str(block["text"]).strip()


def _user(entry: dict[str, Any], content: Any, position: int, out: Transcript, by_id: dict) -> None:
    if isinstance(content, str):
        texts = [content]
    else:
        texts = []
        for block in _blocks(content):
            if block.get("type") == "tool_result":
                call = by_id.get(str(block.get("tool_use_id")))
                if call is not None and block.get("is_error"):
                    call.is_error, call.error = True, first_line(_result_text(block.get("content")))
            elif block.get("type") == "text":
                texts.append(str(block.get("text") or ""))
    if entry.get("isMeta") or entry.get("isCompactSummary") or entry.get("isSidechain"):
        return
    text = "\n".join(t for t in texts if t.strip()).strip()
    if text and not text.startswith(_NOT_PROMPTS):
        out.prompts.append(Prompt(text=text, position=position))


def _blocks(content: Any) -> Iterator[dict[str, Any]]:
    if isinstance(content, list):
        yield from (b for b in content if isinstance(b, dict))


def _result_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(str(b.get("text") or "") for b in _blocks(content) if b.get("type") == "text")


def first_line(text: str, limit: int = 200) -> str:
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _entries(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as fh:
        size = fh.seek(0, 2)
        fh.seek(max(0, size - MAX_BYTES))
        if size > MAX_BYTES:
            fh.readline()  # the first line read was cut; the next one starts an entry
        for raw in fh:
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if isinstance(entry, dict):
                yield entry


# ---- Bash commands that obviously write files ---------------------------------------------------
_WRITERS = frozenset(
    {"tee", "mv", "cp", "rm", "rmdir", "mkdir", "touch", "truncate", "ln", "patch", "install"}
)
_GIT_WRITES = frozenset(
    {"apply", "am", "checkout", "restore", "reset", "rm", "mv", "merge", "rebase", "cherry-pick", "revert",
     "stash", "pull", "commit"}
)  # fmt: skip
_PREFIXES = frozenset({"sudo", "command", "time", "nice", "env", "exec", "xargs"})
_OPERATORS = frozenset({";", "&&", "||", "|", "&", "(", ")", "|&"})
_SCRATCH = ("/dev/", "/tmp/", "/var/tmp/", "/proc/")
_HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def bash_writes(command: str) -> tuple[bool, list[str]]:
    """Does this shell command obviously write a file (outside scratch dirs), and which ones?

    Obvious means: a redirection (`>`, `>>`), a file command (tee, mv, cp, rm, mkdir, touch,
    sed -i, perl -i, patch, ...) or a git command that changes the work tree or its history.
    Quoted text and heredoc bodies are not read as commands. A command that cannot be parsed
    counts as not writing: the hooks would rather miss work than nag about none.
    """
    wrote, targets = False, []
    for line in _command_lines(command):
        try:
            lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()<>")
            lexer.whitespace_split = True
            tokens = list(lexer)
        except ValueError:
            continue
        for words, redirected in _simple_commands(tokens):
            hit, files = _writes(words)
            outside = [f for f in [*files, *redirected] if not f.startswith(_SCRATCH)]
            if (hit and (outside or not files)) or any(not f.startswith(_SCRATCH) for f in redirected):
                wrote = True
            targets += [f for f in outside if not f.startswith("-")]
    return wrote, list(dict.fromkeys(targets))


def _command_lines(command: str) -> Iterator[str]:
    """The command's lines without heredoc bodies."""
    ending: str | None = None
    for line in command.splitlines():
        if ending is not None:
            if line.strip() == ending:
                ending = None
            continue
        match = _HEREDOC.search(line)
        if match:
            ending = match.group(2)
            line = line[: match.start()] + line[match.end() :]
        yield line


def _simple_commands(tokens: list[str]) -> Iterator[tuple[list[str], list[str]]]:
    """Split tokens at ; && || | into (words, redirection targets) per simple command."""
    words: list[str] = []
    redirected: list[str] = []
    expect = ""  # what the next token is: a redirection "target", a "descriptor" or an "input"
    for token in tokens:
        if token in _OPERATORS:
            yield words, redirected
            words, redirected, expect = [], [], ""
        elif set(token) <= set("<>&|"):
            if words and words[-1].isdigit():  # the descriptor of `2>`
                words.pop()
            # >&2 and 2>&1 name a descriptor next, < and <<< an input, the other forms a file
            expect = "descriptor" if token.endswith("&") else "target" if ">" in token else "input"
        elif expect:
            if expect == "target":
                redirected.append(token)
            expect = ""
        else:
            words.append(token)
    yield words, redirected


def _writes(words: list[str]) -> tuple[bool, list[str]]:
    """Is this simple command a file writer, and which files does it name?"""
    while words and (words[0] in _PREFIXES or _ASSIGNMENT.match(words[0])):
        words = words[1:]
        while words and words[0].startswith("-"):  # sudo -u, env -i, nice -n 5: not the command
            words = words[1:]
    if not words:
        return False, []
    name = words[0].rsplit("/", 1)[-1]
    args = [w for w in words[1:] if not w.startswith("-")]
    if name in ("mv", "cp", "ln", "install"):
        return True, args[-1:]
    if name in _WRITERS:
        return True, args
    if name == "sed" and any(w.startswith(("-i", "--in-place")) for w in words[1:]):
        return True, args[1:]
    if name == "perl" and any(w.startswith("-") and not w.startswith("--") and "i" in w for w in words[1:]):
        return True, []
    if name == "git":
        rest = words[1:]
        while rest and rest[0].startswith("-"):  # git -C DIR, git -c key=value
            rest = rest[2:] if rest[0] in ("-C", "-c") else rest[1:]
        return bool(rest) and rest[0] in _GIT_WRITES, []
    return False, []
