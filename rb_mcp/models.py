"""Pydantic types the loop speaks: tool inputs, memory items, trajectories and tool results.

Field descriptions are written for the calling model: the MCP server builds its tool schemas
from the input models here, so what a description says is what the agent reads.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Kind = Literal["strategy", "pitfall", "note"]
Outcome = Literal["success", "failure", "impossible"]
ItemStatus = Literal["active", "superseded", "archived"]
Mode = Literal["sequential", "parallel"]

# Size limits: each is named in the error a caller gets when it is exceeded.
MAX_TASK = 20_000
MAX_STEP = 20_000
MAX_STEPS = 500
MAX_SUMMARY = 50_000
MAX_ATTEMPT = 50_000
MAX_FILES = 200
MAX_PATH = 500
MAX_TITLE = 200
MAX_DESCRIPTION = 600
MAX_CONTENT = 6_000
MAX_TAGS = 12
MAX_PROJECT = 300
MAX_ID = 200
MAX_SUPERSEDES = 10

# Characters that show nothing: format characters (zero-width space, joiners, BOM), controls (NUL),
# separators, combining marks on their own and the letters that render blank (Hangul fillers).
_BLANK_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn", "Zs", "Zl", "Zp", "Mn", "Me"})
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e")


def is_blank(text: str | None) -> bool:
    """Whether `text` is empty or holds only whitespace and characters that show nothing."""
    return not any(
        not ch.isspace() and ch not in _BLANK_LETTERS and unicodedata.category(ch) not in _BLANK_CATEGORIES
        for ch in text or ""
    )


def unknown_field(name: str, known: Sequence[str], where: str) -> str:
    """The refusal of a misspelled field: the closest known one, and all of them."""
    from rb_mcp.redact import redact  # deferred: tools/list is answered before the rules load

    shown = redact(str(name))[:60]  # a key is the caller's data too: no secret goes to the logs
    close = difflib.get_close_matches(shown, list(known), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown field {shown!r}{hint} ({where} takes: {', '.join(known)})"


class _Strict(BaseModel):
    """A model whose unknown fields are refused by name, with the closest known one."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if key not in cls.model_fields:
                    raise ValueError(unknown_field(key, list(cls.model_fields), cls.__name__))
        return data


class Step(_Strict):
    """One step of a trajectory: what the agent thought, did and saw."""

    # No descriptions: the names say it, and every client carries this schema in its context.
    thought: str = Field("", max_length=MAX_STEP)
    action: str = Field("", max_length=MAX_STEP)
    observation: str = Field("", max_length=MAX_STEP)

    def text(self) -> str:
        parts = [f"{label}: {value}" for label, value in self._labelled() if value]
        return " | ".join(parts)

    def _labelled(self) -> list[tuple[str, str]]:
        return [("thought", self.thought), ("action", self.action), ("observation", self.observation)]


class ItemDraft(_Strict):
    """A memory item as the agent writes it: a lesson that transfers to other tasks."""

    title: str = Field(
        max_length=MAX_TITLE,
        description="e.g. 'Reproduce before patching a parser bug'",
    )
    description: str = Field(max_length=MAX_DESCRIPTION, description="One sentence: when it applies.")
    content: str = Field(
        max_length=MAX_CONTENT,
        description="The transferable steps, reasons or preventive check.",
    )
    kind: Kind | None = Field(None)  # default: from the outcome
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)

    supersedes: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(
        default_factory=list,
        max_length=MAX_SUPERSEDES,
        description="Recalled [#id]s this task proved wrong.",
    )

    @field_validator("tags")
    @classmethod
    def _short_tags(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            if len(tag) > 60:
                raise ValueError("each tag must be at most 60 characters")
        return [t.strip() for t in tags if t.strip()]


class Anchors(BaseModel):
    """What an item pointed at in its repository when it was stored; recall checks them again."""

    repo: str = Field(description="Project key of the repository the work happened in (never a path).")
    commit: str | None = Field(None, description="The repository's HEAD commit when the item was stored.")
    files: list[str] = Field(
        default_factory=list, description="Repository-relative files the trajectory touched (that existed)."
    )
    named: list[str] = Field(default_factory=list, description="Repository-relative files the item names.")
    symbols: dict[str, list[str]] = Field(
        default_factory=dict, description="Code symbols the item names, each with the files it appeared in."
    )

    def empty(self) -> bool:
        return not self.files and not self.named and not self.symbols


class MemoryItem(BaseModel):
    id: int
    title: str
    description: str
    content: str
    kind: Kind
    scope: str = Field(description="Project key the item belongs to, or 'global'.")
    trajectory_id: int | None = None
    files: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    created_at: str
    updated_at: str
    recall_count: int = 0
    helped: int = 0
    harmed: int = 0
    strength: int = Field(1, description="How many trajectories produced this lesson (consolidation merges).")
    status: ItemStatus = "active"
    superseded_by: int | None = None
    anchors: Anchors | None = Field(None, description="Files and symbols the item named, checked at recall.")
    stale_count: int = Field(0, description="Recalls in a row in which its anchors were found broken.")


class Trajectory(BaseModel):
    id: int
    task: str
    project: str | None
    steps: list[Step] = Field(default_factory=list)
    summary: str = ""
    outcome: Outcome | None = None
    rationale: str = ""
    files: list[str] = Field(default_factory=list)
    status: Literal["pending_verdict", "pending_items", "distilled", "signal"]
    role: Literal["task", "attempt", "refine"] = "task"
    recall_id: int | None = None
    group_id: str | None = None
    iteration: int | None = None
    created_at: str
    updated_at: str
    owner: str = ""  # the identity that recorded it; "" for the local user


class Provenance(BaseModel):
    trajectory_id: int | None
    task: str | None = Field(None, description="The past task this memory was distilled from (shortened).")
    outcome: Outcome | None = None


class RecallHit(BaseModel):
    id: int
    title: str
    description: str
    content: str
    kind: Kind
    scope: str
    score: float = Field(description="Fused rank score used for ordering (higher is better).")
    similarity: float = Field(description="Cosine similarity between the task and the memory (or its task).")
    matched_by: list[str] = Field(description="Which signals found it: vector, keyword, task.")
    helped: int
    harmed: int
    provenance: Provenance
    verified: bool | None = Field(
        None,
        description="true: the files and symbols it names still exist in the working tree; false: some are "
        "gone (see stale_reason): verify before relying on it; null: nothing to check it against.",
    )
    stale_reason: str | None = Field(
        None, description="Which file or symbol is gone, when verified is false."
    )


class Episode(BaseModel):
    """A past trajectory whose memory items are not distilled yet: its task, verdict and files."""

    trajectory_id: int
    task: str
    outcome: Outcome | None
    files: list[str]
    project: str | None
    similarity: float
    score: float


class RecallResult(BaseModel):
    recall_id: str | None = Field(
        description="Pass this to record_trajectory so the items get credit or blame (null: not logged)."
    )
    project: str | None
    items: list[RecallHit]
    episodes: list[Episode]
    guidance: str = Field(description="Ready-to-use guidance text built from the items.")
    truncated: bool = Field(description="True when the token budget cut items off.")
    guidance_tokens: int = Field(
        0, description="Estimated tokens of the guidance text (characters / 4, as the token budget counts)."
    )
    control: bool = Field(
        False, description="True for a control recall: memory was withheld on purpose (RB_MCP_CONTROL_RATE)."
    )


class StoredItem(BaseModel):
    id: int
    title: str
    action: Literal["added", "merged"] = Field(
        description="added: a new memory; merged: strengthened an existing near-duplicate."
    )
    similarity: float | None = None
    superseded: list[int] = Field(
        default_factory=list, description="Items this one replaced as wrong (they are no longer recalled)."
    )


class RejectedItem(BaseModel):
    index: int
    title: str
    problems: list[str]


class RecordResult(BaseModel):
    trajectory_id: int
    status: Literal["needs_verdict", "needs_items", "stored"]
    outcome: Outcome | None
    next_step: str = Field(description="What the agent should do next, in one instruction.")
    prompt: str | None = Field(
        None, description="The judge or extraction prompt to answer, when one is needed."
    )
    stored: list[StoredItem] = Field(default_factory=list)
    rejected: list[RejectedItem] = Field(default_factory=list)
    credited: list[int] = Field(default_factory=list, description="Recalled items whose counts were updated.")


class AttemptView(BaseModel):
    trajectory_id: int
    iteration: int | None
    outcome: Outcome | None
    excerpt: str


class RefineResult(BaseModel):
    group_id: str
    mode: Mode
    status: Literal["check", "needs_verdicts", "contrast", "stored"]
    iteration: int | None = None
    trajectory_id: int | None = None
    next_step: str
    prompt: str | None = None
    attempts: list[AttemptView] = Field(default_factory=list)
    lessons: list[RecallHit] = Field(
        default_factory=list,
        description="Memory items recalled for this task (pitfalls, strategies, notes) the self-check uses.",
    )
    stored: list[StoredItem] = Field(default_factory=list)
    rejected: list[RejectedItem] = Field(default_factory=list)


class Stats(BaseModel):
    items: dict[str, int]
    trajectories: dict[str, int]
    recalls: int
    projects: list[dict[str, Any]]
    bank: str
    schema_version: int
    model: str
    guidance: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Per day and project: recalls, items returned and the estimated tokens of guidance they "
        "injected (guidance_tokens).",
    )


class DrainReport(BaseModel):
    """What one pass over the queue did."""

    judged: int = Field(0, description="Trajectories the model judged.")
    distilled: int = Field(0, description="Trajectories distilled into memory items (possibly none).")
    contrasted: int = Field(0, description="Attempt groups contrasted.")
    stored: int = Field(0, description="Memory items added or merged.")
    settled: int = Field(0, description="Near-duplicate pairs the model merged or replaced.")
    failed: int = Field(0, description="Trajectories or groups the model could not finish; they stay queued.")
    waiting: int = Field(
        0, description="Parallel attempts waiting for a second judged attempt in their group."
    )
    remaining: int = Field(0, description="Trajectories still pending after this pass.")
    remaining_ids: list[int] = Field(default_factory=list, description="The first pending trajectory ids.")
    backend: str = Field("", description="The model that did the work.")
    stopped: str = Field("", description="Why the pass stopped early (the backend failed), if it did.")


# ---- the effect of memory on outcomes (rb_mcp.loop.effect) ------------------------------------
class EffectArm(BaseModel):
    """Judged trajectories of one group; the rate is successes / (successes + failures)."""

    arm: Literal["memory", "control", "without"] = Field(
        description="memory: a recall returned items before it; control: a control recall withheld them; "
        "without: no recall, or a recall that found nothing."
    )
    trajectories: int
    successes: int
    failures: int
    impossible: int = Field(description="Judged impossible: left out of the rate.")
    rate: float | None = Field(description="Success rate; None without a success or failure.")
    low: float | None = Field(description="Lower bound of the 95% Wilson score interval.")
    high: float | None = Field(description="Upper bound of the 95% Wilson score interval.")


class EffectDiff(BaseModel):
    """Rate of `arm` minus rate of `versus`, with Newcombe's 95% interval (hybrid Wilson score)."""

    arm: str
    versus: str
    randomized: bool = Field(description="True for memory vs control: the groups were assigned at random.")
    difference: float | None
    low: float | None
    high: float | None


class EffectGroup(BaseModel):
    project: str = Field(description="The project, or 'all' for every project the caller may see.")
    arms: list[EffectArm]
    comparisons: list[EffectDiff]


class ItemEffect(BaseModel):
    id: int
    title: str
    scope: str
    helped: int
    harmed: int
    recalls: int


class EffectReport(BaseModel):
    overall: EffectGroup
    projects: list[EffectGroup]
    most_helped: list[ItemEffect]
    most_harmed: list[ItemEffect]


class Retired(BaseModel):
    """An item maintenance archived (or would archive, in a dry run), and why."""

    id: int
    title: str
    scope: str
    reason: str


class MaintenanceReport(BaseModel):
    """What one pass of `rb-mcp maintain` did: nothing is deleted, archived items can be restored."""

    dry_run: bool = Field(description="True when nothing was changed: `archived` lists what would be.")
    ran_at: str
    expire_days: int = Field(description="RB_MCP_EXPIRE_DAYS in effect (0: expiry is off).")
    checked: int = Field(description="Active items old enough (or with enough verdicts) to be weighed.")
    archived: list[Retired] = Field(default_factory=list)
