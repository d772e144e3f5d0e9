"""Pydantic types the loop speaks: tool inputs, memory items, trajectories and tool results.

Field descriptions are written for the calling model: the MCP server builds its tool schemas
from the input models here, so what a description says is what the agent reads.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

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


class Step(BaseModel):
    """One step of a trajectory: what the agent thought, did and saw."""

    model_config = ConfigDict(extra="forbid")
    thought: str = Field("", max_length=MAX_STEP, description="Reasoning before the action.")
    action: str = Field("", max_length=MAX_STEP, description="What was done (command, edit, tool call).")
    observation: str = Field(
        "", max_length=MAX_STEP, description="What came back (output, error, test result)."
    )

    def text(self) -> str:
        parts = [f"{label}: {value}" for label, value in self._labelled() if value]
        return " | ".join(parts)

    def _labelled(self) -> list[tuple[str, str]]:
        return [("thought", self.thought), ("action", self.action), ("observation", self.observation)]


class ItemDraft(BaseModel):
    """A memory item as the agent writes it: the paper's title / description / content."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(
        max_length=MAX_TITLE,
        description="Concise name of the strategy or lesson, e.g. 'Reproduce before patching a parser bug'.",
    )
    description: str = Field(
        max_length=MAX_DESCRIPTION, description="One sentence saying when this applies and what it achieves."
    )
    content: str = Field(
        max_length=MAX_CONTENT,
        description=(
            "The distilled reasoning: steps, decision rationale or the preventive check, written so it "
            "transfers to other tasks. No ids, hashes, absolute paths, secrets or copied memory text."
        ),
    )
    kind: Kind | None = Field(
        None,
        description="strategy (what worked), pitfall (what to avoid, from a failure) or note. "
        "Defaults from the trajectory's outcome.",
    )
    tags: list[str] = Field(
        default_factory=list,
        max_length=MAX_TAGS,
        description="Optional short topic tags, e.g. ['pytest', 'regex'].",
    )

    supersedes: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(
        default_factory=list,
        max_length=MAX_SUPERSEDES,
        description="Ids of recalled memory items (shown as [#id]) that this task proved wrong and this item "
        "corrects: they stop being recalled and point to this item. Omit when none was wrong.",
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
    recall_id: int = Field(description="Pass this to record_trajectory so the items get credit or blame.")
    project: str | None
    items: list[RecallHit]
    episodes: list[Episode]
    guidance: str = Field(description="Ready-to-use guidance text built from the items.")
    truncated: bool = Field(description="True when the token budget cut items off.")


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
    pitfalls: list[RecallHit] = Field(default_factory=list)
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
