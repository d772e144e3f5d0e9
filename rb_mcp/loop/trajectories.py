"""Trajectories as the loop sees them: steps, their text for the model, and the limits on what one
trajectory may distill."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rb_mcp.models import Kind, Step
from rb_mcp.redact import redact

MAX_RECORD_ITEMS = 3
MAX_CONTRAST_ITEMS = 5
DEFAULT_KIND: dict[str, Kind] = {"success": "strategy", "failure": "pitfall", "impossible": "pitfall"}


def steps_text(steps: Sequence[Step], summary: str) -> str:
    lines = [f"{n}. {s.text()}" for n, s in enumerate(steps, 1) if s.text()]
    if summary:
        lines.insert(0, f"Summary: {summary}")
    return "\n".join(lines)


def coerce_steps(steps: Sequence[str | Step | dict[str, Any]] | None) -> list[Step]:
    out: list[Step] = []
    for step in steps or []:
        if isinstance(step, Step):
            out.append(step)
        elif isinstance(step, str):
            out.append(Step(action=step))
        else:
            out.append(Step(**step))
    return out


def redact_step(step: Step) -> dict[str, str]:
    return {k: redact(v) for k, v in step.model_dump().items()}
