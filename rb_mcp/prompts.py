"""Every prompt text of the loop, in one place: judge, extract (success / failure), refine, contrast.

They follow the ReasoningBank paper's steps in our own words. Each prompt ends with the exact
call the agent must make to answer it, because the agent (or a server-side model) reads these
and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

SUPERSEDE_RULE = """When a memory item recalled for this task turned out wrong (the code it names changed, or
following it failed), add "supersedes": [its id] to the item that corrects it: the wrong one then
stops being recalled and points to yours. Name only ids you were shown as [#id]."""

ITEM_FORMAT = f"""Answer with a JSON list of memory items, each an object:
  {{"title": "...", "description": "...", "content": "...", "kind": "strategy|pitfall|note", "supersedes": []}}
- title: a concise name of the strategy or lesson (not the task)
- description: one sentence: when it applies and what it achieves
- content: the reasoning steps, the decision rule or the preventive check, 1-6 sentences
- supersedes (optional): ids of recalled memory items this task proved wrong
Rules: write for a different future task in another code base; no concrete ids, hashes, absolute
paths, secrets, user names or numbers that only mean something in this task; do not restate
memory you were given; an empty list is a valid answer when nothing transferable was learned.
{SUPERSEDE_RULE}"""


def recalled_block(recalled: Sequence[tuple[int, str]]) -> str:
    """The memory items recalled for the task, by id: what an item may name in `supersedes`. Only the
    agent's prompt lists them (it was shown them anyway); a server-side model never reads recalled
    memory text (`distill.strip_recalled`)."""
    if not recalled:
        return ""
    listed = "\n".join(f"- [#{i}] {_clip(title, 160)}" for i, title in recalled[:10])
    return f"\n\nMEMORY RECALLED FOR THIS TASK (data from earlier runs; supersede one only if this task proved it wrong):\n{listed}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 20] + " ... [shortened]"


def trajectory_block(task: str, steps_text: str, files: Sequence[str]) -> str:
    lines = [
        f"TASK:\n{_clip(task, 4000)}",
        f"TRAJECTORY (what was done and seen):\n{_clip(steps_text, 12000)}",
    ]
    if files:
        lines.append("FILES TOUCHED: " + ", ".join(files[:40]))
    return "\n\n".join(lines)


def _judge_body(task: str, steps_text: str, files: Sequence[str]) -> str:
    return f"""You are judging whether an agent accomplished a task, from its own record.

{trajectory_block(task, steps_text, files)}

Decide one verdict:
- success: the task's goal was reached and verified (tests pass, the behaviour asked for is there)
- failure: the goal was not reached, or the result is unverified or wrong
- impossible: the task cannot be done as stated (missing access, contradictory requirements)
Think about the evidence first (what was checked, what remained broken), then decide. When in
doubt between success and failure, answer failure."""


def judge(task: str, steps_text: str, files: Sequence[str], trajectory_id: int) -> str:
    return f"""{_judge_body(task, steps_text, files)}

Answer by calling record_trajectory with trajectory_id={trajectory_id}, outcome=<verdict>
and rationale=<one or two sentences of evidence>."""


def _extract_ask(outcome: str) -> str:
    if outcome == "success":
        return """This trajectory SUCCEEDED. First reflect: why did it work? Which decisions, checks or
orderings of steps made the difference, and which of them would carry over to other tasks?
Then distill at most 3 memory items of kind "strategy" that capture that reusable reasoning."""
    if outcome == "failure":
        return """This trajectory FAILED. First reflect: why did it fail? Where did the reasoning go
wrong, what was assumed without checking, what signal was missed? Then distill at most 3 memory
items of kind "pitfall" (or "strategy" when the fix is a positive procedure) that would prevent
this failure next time: each says what to check or do, and when."""
    return """This task turned out IMPOSSIBLE as stated. First reflect: how could this have been
recognised earlier, and what should be asked or checked before investing effort? Then distill at
most 3 memory items (usually "pitfall") that help recognise such tasks early."""


def extract(
    outcome: str,
    task: str,
    steps_text: str,
    files: Sequence[str],
    trajectory_id: int,
    recalled: Sequence[tuple[int, str]] = (),
) -> str:
    return f"""{trajectory_block(task, steps_text, files)}{recalled_block(recalled)}

{_extract_ask(outcome)}

{ITEM_FORMAT}

Answer by calling record_trajectory with trajectory_id={trajectory_id} and items=<the list>."""


def _refine_context(
    task: str, attempt: str, previous: Sequence[tuple[int, str]], pitfalls: Sequence[str]
) -> str:
    """The task, the attempt, earlier iterations and the lessons that apply: what both the agent's
    self-check and a server-side reviewer read."""
    earlier = "\n".join(f"- iteration {i}: {_clip(note, 600)}" for i, note in previous) or "- (none)"
    lessons = "\n".join(f"- {p}" for p in pitfalls) or "- (no stored lesson matches this task yet)"
    return f"""TASK:
{_clip(task, 3000)}

CURRENT ATTEMPT:
{_clip(attempt, 8000)}

WHAT EARLIER ITERATIONS TRIED:
{earlier}

LESSONS FROM MEMORY THAT APPLY (check the attempt against each):
{lessons}

Check, in order:
1. Does the attempt solve the task as stated, including edge cases the task implies?
2. Does it fall into any lesson above? Name the lesson and how the attempt avoids or hits it."""


def refine_check(
    task: str, attempt: str, iteration: int, previous: Sequence[tuple[int, str]], pitfalls: Sequence[str]
) -> str:
    return f"""Re-examine your current attempt before you go on (refinement step {iteration}).

{_refine_context(task, attempt, previous, pitfalls)}
3. What evidence do you have that it works (a test run, a reproduction)? If none, get it.
4. What did you learn in this iteration that you did not know in the previous one?
Then correct the attempt. When you call refine_attempt again, put what you corrected and why at
the top of the attempt text: those notes are kept as signals for future memory."""


def _contrast_body(task: str, attempts: Sequence[tuple[int, str | None, str]]) -> str:
    blocks = []
    for n, (tid, outcome, text) in enumerate(attempts, 1):
        blocks.append(
            f"ATTEMPT {n} (trajectory {tid}) -> {(outcome or 'unjudged').upper()}\n{_clip(text, 4000)}"
        )
    body = "\n\n".join(blocks)
    return f"""Several attempts were made at the same task. Compare them to learn what really matters.

TASK:
{_clip(task, 3000)}

{body}

Self-contrast:
1. What do the successful attempts share that the failed ones lack?
2. Where exactly did the failed attempts diverge (a wrong assumption, a skipped check)?
3. Which patterns appear in both successes and failures? Those are spurious: leave them out.
Keep only reasoning that is consistent across the successes and explains the failures. Distill
at most 5 memory items."""


def contrast(task: str, attempts: Sequence[tuple[int, str | None, str]], group_id: str) -> str:
    return f"""{_contrast_body(task, attempts)}

{ITEM_FORMAT}

Answer by calling refine_attempt with mode="parallel", group_id={json.dumps(group_id)}, task=<the
same task> and items=<the list> (attempt may be an empty string)."""


# ---- prompts for a server-side model (MCP sampling or an OpenAI-compatible endpoint) -------------
# Same steps as above, but the answer is text we parse, so each ends with a strict JSON format
# instead of a tool call. The model reasons first: the paper's extraction asks for the "why"
# before the items, and a verdict written after the evidence is better calibrated.

SYSTEM = """You are the memory distiller of rb-mcp, a ReasoningBank-style memory for coding agents.
You judge agents' task records and distill short, transferable lessons from them. Be terse and
concrete. Always finish your answer in the exact format the request asks for."""

JUDGE_FORMAT = """First write your reasoning about the evidence in a few sentences. Then end your answer with
exactly one fenced JSON block and nothing after it:
```json
{"verdict": "failure", "rationale": "one or two sentences of evidence"}
```
verdict is one of "success", "failure", "impossible"."""

_ITEM_RULES = """Each item has:
- title: a concise name of the strategy or lesson (not the task)
- description: one sentence: when it applies and what it achieves
- content: the reasoning steps, the decision rule or the preventive check, 1-6 sentences
- kind: "strategy", "pitfall" or "note"
Write for a different future task in another code base: no concrete ids, hashes, absolute paths,
secrets, user names or numbers that only mean something in this task. Do not restate memory text
quoted in the record."""


def items_format(limit: int) -> str:
    return f"""First reflect in prose (under 200 words). Then end your answer with exactly one fenced JSON
block and nothing after it:
```json
{{"items": [{{"title": "...", "description": "...", "content": "...", "kind": "strategy"}}]}}
```
At most {limit} items; {{"items": []}} is a valid answer when nothing transferable was learned.
{_ITEM_RULES}"""


BEST_FORMAT = """Reason briefly, then end your answer with exactly one fenced JSON block and nothing after it:
```json
{"best": 1, "reason": "one sentence"}
```
best is the ATTEMPT number to keep."""

MERGE_FORMAT = """Reason briefly, then end your answer with exactly one fenced JSON block and nothing after it:
```json
{"decision": "merge", "merged": {"title": "...", "description": "...", "content": "..."}}
```
decision is "merge", "replace" or "keep_both"; merged is the combined item for "merge" and null
otherwise."""


def llm_judge(task: str, steps_text: str, files: Sequence[str]) -> str:
    return f"{_judge_body(task, steps_text, files)}\n\n{JUDGE_FORMAT}"


def llm_extract(outcome: str, task: str, steps_text: str, files: Sequence[str], limit: int) -> str:
    return f"{trajectory_block(task, steps_text, files)}\n\n{_extract_ask(outcome)}\n\n{items_format(limit)}"


def llm_contrast(task: str, attempts: Sequence[tuple[int, str | None, str]], limit: int) -> str:
    return f"{_contrast_body(task, attempts)}\n\n{items_format(limit)}"


def llm_best_of(task: str, attempts: Sequence[tuple[int, str, str]]) -> str:
    blocks = "\n\n".join(
        f"ATTEMPT {n} (trajectory {tid}) -> SUCCESS\n{_clip(text, 4000)}" for n, tid, text in attempts
    )
    return f"""Several attempts at the same task were judged successful. Pick the one to keep as the final
answer: the most complete, the best verified and the least risky.

TASK:
{_clip(task, 3000)}

{blocks}

{BEST_FORMAT}"""


def llm_review(
    task: str, attempt: str, iteration: int, previous: Sequence[tuple[int, str]], pitfalls: Sequence[str]
) -> str:
    return f"""Review an engineer's current attempt at a task before they go on (refinement step {iteration}).

{_refine_context(task, attempt, previous, pitfalls)}
3. What evidence shows that it works (a test run, a reproduction)? If none, say what to run.
4. What does this iteration teach that the previous ones did not?
Write the review for the engineer: what is wrong or unverified, what to correct next and which
evidence to get. Be concrete; under 250 words; no preamble."""


CHECK_AGAIN = """Check again: re-examine your review against the task, the attempt and the lessons. What did
you miss, what did you get wrong, what is still unverified? Write the corrected review in full
(not a diff); under 250 words; no preamble."""


def llm_merge(existing: tuple[int, str, str, str], new: tuple[int, str, str, str], similarity: float) -> str:
    def block(label: str, item: tuple[int, str, str, str]) -> str:
        return f"{label} (item {item[0]}):\ntitle: {item[1]}\ndescription: {item[2]}\ncontent: {_clip(item[3], 3000)}"

    return f"""Two memory items in the bank read alike (cosine similarity {similarity:.2f}). Decide how to
consolidate them.

{block("EXISTING", existing)}

{block("NEW", new)}

- merge: they teach the same lesson; write one item that keeps every distinct check or step of both
- replace: they teach the same lesson and the new item is better in every respect; the existing one goes
- keep_both: they teach different lessons (different situations, different checks)

{MERGE_FORMAT}"""


def repair(problems: Sequence[str], answer_format: str) -> str:
    listed = "\n".join(f"- {p}" for p in problems[:8])
    return f"""Your answer could not be used:
{listed}

Answer again. {answer_format}"""


def review_result(review: str, passes: int, reviewer: str) -> str:
    return f"""{reviewer} reviewed your attempt against the memory for this task ({passes} pass(es)). Its final review:

{_clip(review, 4000)}

Correct the attempt where the review is right (verify before you trust it). When you call
refine_attempt again, put what you corrected and why at the top of the attempt text: those notes
are kept as signals for future memory."""
