"""Every prompt text of the loop, in one place: judge, extract (success / failure), refine, contrast.

They follow the ReasoningBank paper's steps in our own words. Each prompt ends with the exact
call the agent must make to answer it, because the agent (or a server-side model) reads these
and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

ITEM_FORMAT = """Answer with a JSON list of memory items, each an object:
  {"title": "...", "description": "...", "content": "...", "kind": "strategy|pitfall|note"}
- title: a concise name of the strategy or lesson (not the task)
- description: one sentence: when it applies and what it achieves
- content: the reasoning steps, the decision rule or the preventive check, 1-6 sentences
Rules: write for a different future task in another code base; no concrete ids, hashes, absolute
paths, secrets, user names or numbers that only mean something in this task; do not restate
memory you were given; an empty list is a valid answer when nothing transferable was learned."""


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 20] + " ... [shortened]"


def trajectory_block(task: str, steps_text: str, files: Sequence[str]) -> str:
    lines = [f"TASK:\n{_clip(task, 4000)}", f"TRAJECTORY (what was done and seen):\n{_clip(steps_text, 12000)}"]
    if files:
        lines.append("FILES TOUCHED: " + ", ".join(files[:40]))
    return "\n\n".join(lines)


def judge(task: str, steps_text: str, files: Sequence[str], trajectory_id: int) -> str:
    return f"""You are judging whether an agent accomplished a task, from its own record.

{trajectory_block(task, steps_text, files)}

Decide one verdict:
- success: the task's goal was reached and verified (tests pass, the behaviour asked for is there)
- failure: the goal was not reached, or the result is unverified or wrong
- impossible: the task cannot be done as stated (missing access, contradictory requirements)
Think about the evidence first (what was checked, what remained broken), then decide. When in
doubt between success and failure, answer failure.

Answer by calling record_trajectory with trajectory_id={trajectory_id}, outcome=<verdict>
and rationale=<one or two sentences of evidence>."""


def extract(outcome: str, task: str, steps_text: str, files: Sequence[str], trajectory_id: int) -> str:
    if outcome == "success":
        ask = """This trajectory SUCCEEDED. First reflect: why did it work? Which decisions, checks or
orderings of steps made the difference, and which of them would carry over to other tasks?
Then distill at most 3 memory items of kind "strategy" that capture that reusable reasoning."""
    elif outcome == "failure":
        ask = """This trajectory FAILED. First reflect: why did it fail? Where did the reasoning go
wrong, what was assumed without checking, what signal was missed? Then distill at most 3 memory
items of kind "pitfall" (or "strategy" when the fix is a positive procedure) that would prevent
this failure next time: each says what to check or do, and when."""
    else:
        ask = """This task turned out IMPOSSIBLE as stated. First reflect: how could this have been
recognised earlier, and what should be asked or checked before investing effort? Then distill at
most 3 memory items (usually "pitfall") that help recognise such tasks early."""
    return f"""{trajectory_block(task, steps_text, files)}

{ask}

{ITEM_FORMAT}

Answer by calling record_trajectory with trajectory_id={trajectory_id} and items=<the list>."""


def refine_check(
    task: str, attempt: str, iteration: int, previous: Sequence[tuple[int, str]], pitfalls: Sequence[str]
) -> str:
    earlier = "\n".join(f"- iteration {i}: {_clip(note, 600)}" for i, note in previous) or "- (none)"
    lessons = "\n".join(f"- {p}" for p in pitfalls) or "- (no stored lesson matches this task yet)"
    return f"""Re-examine your current attempt before you go on (refinement step {iteration}).

TASK:
{_clip(task, 3000)}

CURRENT ATTEMPT:
{_clip(attempt, 8000)}

WHAT EARLIER ITERATIONS TRIED:
{earlier}

LESSONS FROM MEMORY THAT APPLY (check the attempt against each):
{lessons}

Check, in order:
1. Does the attempt solve the task as stated, including edge cases the task implies?
2. Does it fall into any lesson above? Name the lesson and how the attempt avoids or hits it.
3. What evidence do you have that it works (a test run, a reproduction)? If none, get it.
4. What did you learn in this iteration that you did not know in the previous one?
Then correct the attempt. When you call refine_attempt again, put what you corrected and why at
the top of the attempt text: those notes are kept as signals for future memory."""


def contrast(task: str, attempts: Sequence[tuple[int, str | None, str]], group_id: str) -> str:
    blocks = []
    for n, (tid, outcome, text) in enumerate(attempts, 1):
        blocks.append(f"ATTEMPT {n} (trajectory {tid}) -> {(outcome or 'unjudged').upper()}\n{_clip(text, 4000)}")
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
at most 5 memory items.

{ITEM_FORMAT}

Answer by calling refine_attempt with mode="parallel", group_id={json.dumps(group_id)}, task=<the
same task> and items=<the list> (attempt may be an empty string)."""
