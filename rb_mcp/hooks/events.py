"""The four Claude Code hooks: each takes the event's JSON payload and returns what the client reads.

    session-start       a primer: memory is on, how many items it holds, when to use the tools
    user-prompt-submit  for a task prompt, a keyword recall in the cwd's project as added context,
                        no item twice per session; the recall_id is kept for the verdict
    stop                when this session's work changed files and no record_trajectory describes
                        it, block once and ask the agent to record (RB_MCP_HOOK_STOP=ask|off)
    session-end         when work is still unrecorded, store it as a pending trajectory (redacted,
                        no verdict) so `rb-mcp distill` can finish it later

A handler returns the JSON object to print, or None to print nothing. Nothing here spends tokens
the user did not ask for: no model is called, and every text the agent reads is short.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rb_mcp.hooks import adapter, state, transcript

if TYPE_CHECKING:
    from rb_mcp.models import Episode, RecallHit

log = logging.getLogger("rb_mcp.hooks")

Payload = dict[str, Any]
Output = dict[str, Any] | None
CHARS_PER_TOKEN = 4
MAX_TASK_CHARS = 4000
MAX_STEPS = 60
_ACKS = frozenset(
    "thanks thank you thx ty ok okay k yes yep yeah yup no nope sure great cool nice perfect good fine done "
    "lgtm continue go on ahead proceed next again y n awesome sounds looks makes sense got it right please "
    "do that this retry stop wait hi hello hey that's thats works worked a lot much very so now".split()
)


# ---- session-start --------------------------------------------------------------------------
def session_start(payload: Payload) -> Output:
    """A short primer (about 120 tokens): memory is on, what it holds, when to call the tools."""
    session = state.load(_session_id(payload))
    if payload.get("source") in ("clear", "compact"):
        session.forget_context()
    state.save(session)
    state.prune()
    config = adapter.config_for(payload.get("cwd"))
    here = there = 0
    if adapter.bank_exists(config):
        with adapter.open_bank(config) as bank:
            here, there = adapter.count_items(bank)
    where = f"project {config.project}" if config.project else "this directory (no git remote: global scope)"
    text = (
        f"rb-mcp memory is on for {where}: {_count(here + there, 'memory item')} from past tasks "
        f"({here} of this project, {there} shared). For each task prompt, matching lessons are added "
        "to the context with a recall_id. Tools: recall_strategies searches memory for a task; "
        "refine_attempt gives a memory-guided self-check when stuck or retrying; record_trajectory "
        "at the end of a task stores its honest outcome (failures too), files and up to 3 transferable "
        "lessons, and credits the recalled ones through recall_id."
    )
    return _context("SessionStart", text)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


# ---- user-prompt-submit ----------------------------------------------------------------------
def is_task(prompt: str) -> bool:
    """A prompt worth a recall: not a slash command, an acknowledgement or short chit-chat."""
    text = prompt.strip()
    if not text or text.startswith(("/", "!", "#")):  # slash command, bash mode, memory shortcut
        return False
    words = re.findall(r"[\w'.-]+", text.lower())
    if len(words) < 3 or sum(len(w) for w in words) < 12:
        return False
    return not all(w.strip(".'") in _ACKS for w in words)


def user_prompt_submit(payload: Payload) -> Output:
    prompt = str(payload.get("prompt") or "")
    if not is_task(prompt):
        return None
    config = adapter.config_for(payload.get("cwd"))
    if not adapter.bank_exists(config):
        return None
    session = state.load(_session_id(payload))
    with adapter.open_bank(config) as bank:
        result = adapter.recall(
            bank,
            prompt,
            session.session_id,
            vectors=config.hook_recall == "hybrid",
            exclude_items=session.injected,
        )
    hits = [h for h in result.items if h.id not in session.injected]
    episodes = [e for e in result.episodes if e.trajectory_id not in session.episodes]
    # A control recall adds no context; its recall_id is kept so the verdict counts as a control.
    text, hits, episodes = guidance(hits, episodes, result.recall_id, config.token_budget)
    if result.recall_id and (result.items or result.control):
        session.recalls.append(
            state.Recall(result.recall_id, prompt[:200], [h.id for h in result.items], result.control)
        )
    session.injected += [h.id for h in hits]
    session.episodes += [e.trajectory_id for e in episodes]
    state.save(session)
    return _context("UserPromptSubmit", text) if text else None


def guidance(
    hits: Sequence[RecallHit], episodes: Sequence[Episode], recall_id: str, budget_tokens: int
) -> tuple[str, list[RecallHit], list[Episode]]:
    """The added context, whole items only, within the token budget; and what made it in."""
    budget = budget_tokens * CHARS_PER_TOKEN
    credit = f" (recall_id={recall_id})" if recall_id else ""
    head = f"rb-mcp memory: lessons from past tasks related to this prompt{credit}. They are hints; apply what fits."
    foot = (
        f"Passing recall_id={recall_id} to record_trajectory when the task ends credits or blames them."
        if recall_id
        else ""
    )
    sections: dict[str, list[str]] = {
        "Strategies that worked before:": [],
        "Pitfalls, learned from failures:": [],
        "Related past tasks, not distilled yet:": [],
    }
    used = len(head) + len(foot) + sum(len(title) + 4 for title in sections)
    kept_hits: list[RecallHit] = []
    for hit in hits:
        block = f"- {hit.title}: {hit.description}\n  {hit.content}"
        if used + len(block) > budget:
            break
        used += len(block) + 1
        kept_hits.append(hit)
        key = (
            "Pitfalls, learned from failures:" if hit.kind == "pitfall" else "Strategies that worked before:"
        )
        sections[key].append(block)
    lines: list[str] = []
    kept_eps: list[Episode] = []
    for ep in episodes:
        files = f" (files: {', '.join(ep.files[:6])})" if ep.files else ""
        line = f"- [{ep.outcome or 'not judged yet'}] {' '.join(ep.task.split())[:240]}{files}"
        if used + len(line) > budget:
            break
        used += len(line) + 1
        kept_eps.append(ep)
        lines.append(line)
    sections["Related past tasks, not distilled yet:"] = lines
    if not kept_hits and not kept_eps:
        return "", [], []
    parts = [head, *(f"{title}\n" + "\n".join(body) for title, body in sections.items() if body), foot]
    return "\n\n".join(p for p in parts if p), kept_hits, kept_eps


# ---- stop -----------------------------------------------------------------------------------
def stop(payload: Payload) -> Output:
    if payload.get("stop_hook_active") or adapter.config_for(payload.get("cwd")).hook_stop == "off":
        return None
    work = _unrecorded(_transcript(payload))
    if work is None:
        return None
    session = state.load(_session_id(payload))
    if work.key in session.asked:  # once per piece of work, whatever the agent answered
        return None
    session.asked.append(work.key)
    state.save(session)
    files = _relative(work.files(), payload.get("cwd"))
    shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
    recall = _recall_of(session, work)
    credit = f", and recall_id={recall.recall_id}" if recall else ""
    reason = (
        f"This session changed files{f' ({shown})' if shown else ''} and no record_trajectory call "
        "describes that work yet. Before stopping, call record_trajectory once: the task, the key steps "
        "(commands, errors, test results), the files touched, your honest outcome (success, failure or "
        f"impossible; failures teach too), up to 3 transferable lessons as items{credit}. If the work is "
        "unfinished or holds nothing worth remembering, say so in one line and stop."
    )
    return {"decision": "block", "reason": reason}


# ---- session-end ----------------------------------------------------------------------------
def session_end(payload: Payload) -> Output:
    full = _transcript(payload)
    work = _unrecorded(full)
    if full is None or work is None:
        return None
    session = state.load(_session_id(payload))
    if work.key in session.stored:
        return None
    prompts = work.prompts or [p for p in full.prompts if p.position < work.calls[0].position][-1:]
    task = next((p.text for p in prompts if is_task(p.text)), prompts[0].text if prompts else "")
    if not task:
        log.info(
            "session %s did unrecorded work but has no prompt to name it; nothing stored", session.session_id
        )
        return None
    cwd = payload.get("cwd")
    recall = session.recall_for(task) or _recall_of(session, work)
    config = adapter.config_for(cwd)
    with adapter.open_bank(config) as bank:
        trajectory_id = adapter.store_pending(
            bank,
            task=task[:MAX_TASK_CHARS],
            steps=steps_of(work.calls, cwd),
            summary=summary_of(work, full.last_text, cwd),
            files=_relative(work.files(), cwd)[:200],
            recall_id=recall.recall_id if recall else None,
            session_id=session.session_id,
        )
    session.stored[work.key] = trajectory_id
    state.save(session)
    log.info("session %s: unrecorded work stored as pending trajectory %d", session.session_id, trajectory_id)
    return None


def steps_of(calls: Sequence[transcript.ToolCall], cwd: str | None) -> list[dict[str, str]]:
    """The trajectory's steps: edits, commands, MCP calls and every failure, in order."""
    steps = []
    for call in calls:
        if (
            call.name not in ("Bash", *transcript.EDIT_TOOLS)
            and not call.name.startswith("mcp__")
            and not call.is_error
        ):
            continue
        steps.append(
            {"action": describe(call, cwd), "observation": f"error: {call.error}" if call.is_error else ""}
        )
    if len(steps) > MAX_STEPS:
        steps = (
            steps[: MAX_STEPS - 10]
            + [{"action": f"... {len(steps) - MAX_STEPS + 1} more steps ..."}]
            + steps[-9:]
        )
    return steps


def describe(call: transcript.ToolCall, cwd: str | None) -> str:
    if call.name == "Bash":
        command = " ".join(str(call.input.get("command") or "").split())
        return f"Bash: {command[:300]}"
    files = _relative(call.files(), cwd)
    if files:
        return f"{call.name} {files[0]}"
    target = call.input.get("file_path") or call.input.get("path") or call.input.get("pattern") or ""
    return f"{call.name} {_relative([str(target)], cwd)[0]}".strip() if target else call.name


def summary_of(work: transcript.Segment, last_text: str, cwd: str | None) -> str:
    counts = Counter(c.short_name for c in work.calls)
    failed = sum(c.is_error for c in work.calls)
    files = _relative(work.files(), cwd)
    tools = ", ".join(f"{name} {n}" for name, n in counts.most_common(8))
    parts = [
        "Captured by rb-mcp's session-end hook: the session ended without record_trajectory, so the "
        "verdict and the lessons are still to come.",
        f"{len(work.calls)} tool calls ({tools}), {failed} failed.",
        f"Files changed: {', '.join(files[:20])}." if files else "",
        f"The agent's last message: {' '.join(last_text.split())[:1500]}" if last_text else "",
    ]
    return " ".join(p for p in parts if p)


# ---- helpers --------------------------------------------------------------------------------
def _session_id(payload: Payload) -> str:
    return str(payload["session_id"])


def _transcript(payload: Payload) -> transcript.Transcript | None:
    path = payload.get("transcript_path")
    if not path:
        return None
    try:
        return transcript.read(str(path))
    except OSError as exc:
        log.info("transcript %s cannot be read: %s", path, exc)
        return None


def _unrecorded(full: transcript.Transcript | None) -> transcript.Segment | None:
    """This session's work that changed files and that no record_trajectory call describes."""
    work = full.unrecorded() if full is not None else None
    return work if work is not None and work.changes else None


def _recall_of(session: state.SessionState, work: transcript.Segment) -> state.Recall | None:
    for prompt in reversed(work.prompts):
        found = session.recall_for(prompt.text)
        if found:
            return found
    return session.last_recall if not work.recorded_before else None


def _relative(paths: Sequence[str], cwd: str | None) -> list[str]:
    out = []
    for path in paths:
        try:
            out.append(str(Path(path).relative_to(cwd)) if cwd and os.path.isabs(path) else path)
        except ValueError:
            out.append(path)
    return out


def _context(event: str, text: str) -> dict[str, Any]:
    return {"hookSpecificOutput": {"hookEventName": event, "additionalContext": text}}


HANDLERS: dict[str, Callable[[Payload], Output]] = {
    "session-start": session_start,
    "user-prompt-submit": user_prompt_submit,
    "stop": stop,
    "session-end": session_end,
}
