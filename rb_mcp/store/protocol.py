"""The `Store` protocol: everything the loop, the admin commands and the surfaces may ask of a bank.

Both backends implement it (`SqliteStore`, `PgStore`; `tests/test_layering.py` checks that they
do). A write happens inside `transaction()`, whose handle is opaque to callers: they pass it back to
the store's own methods (the `db` parameters below), so several writes commit together or not at
all. Generated from the implementations' signatures and kept in step by that test.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rb_mcp.models import MemoryItem

Tx = Any  # an open write transaction (or a snapshot): pass it back to the store, never use it directly


class Store(Protocol):
    path: Any

    # ---- the bank, transactions, ids, the embedding model, indexes, search, health ----
    @property
    def read_only(self) -> bool: ...
    @property
    def schema_version(self) -> int: ...
    @property
    def has_vec(self) -> bool: ...
    def close(self) -> None: ...
    def transaction(self) -> AbstractContextManager[Tx]:
        """A write transaction: everything written through its handle commits together, or nothing."""

    def snapshot(self) -> AbstractContextManager[Tx]:
        """One consistent read view of the bank, on a read-only connection of its own."""

    def lock_scope(self, db: Any, scope: str) -> None:
        """Serialise consolidation in one scope until the transaction ends."""

    def lock_items(self, db: Any, ids: Sequence[int]) -> None:
        """Lock item rows (in id order) until the transaction ends."""

    def next_item_id(self, db: Any) -> int:
        """The id for a new item: above every item and every forgotten id (`common.ID_FLOOR`)."""

    def sync_ids(self, db: Any) -> None:
        """Move id sequences past rows written with explicit ids (import, copy)."""

    def id_floor(self) -> int:
        """The highest item id handed out or forgotten so far (new ids stay above it)."""

    def bulk_load(self, db: Any) -> AbstractContextManager[None]:
        """The fast path for filling an empty bank (`rb-mcp copy`), where the backend has one."""

    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, db: Any, key: str, value: str) -> None: ...
    def vector_model(self) -> tuple[str | None, int | None]: ...
    def ensure_vectors(self, model: str, dim: int) -> None:
        """Bind the bank to an embedding model on first use; a bank never mixes two models."""

    def vec_tables_exist(self) -> bool: ...
    def drop_vectors(self, db: Any) -> None: ...
    def warm_vectors(self) -> None:
        """Load the vector index now (from its snapshot), so the first recall does not pay for it."""

    def index_item(self, db: Any, item_id: int) -> None: ...
    def index_items(self, db: Any, ids: Sequence[int]) -> None: ...
    def unindex_item(self, db: Any, item_id: int) -> None: ...
    def index_task(self, db: Any, trajectory_id: int) -> None: ...
    def index_tasks(self, db: Any, ids: Sequence[int]) -> None: ...
    def unindex_task(self, db: Any, trajectory_id: int) -> None: ...
    def knn(self, table: str, vec: np.ndarray, partitions: Sequence[str], k: int) -> list[tuple[int, float]]:
        """Nearest neighbours by cosine *similarity*, best first, within the given partitions."""

    def keyword(self, table: str, text: str, partitions: Sequence[str], k: int) -> list[tuple[int, float]]:
        """BM25 matches, best first, as (rowid, bm25) where lower bm25 is better (FTS5 convention)."""

    def task_keywords(
        self, task: str, partitions: Sequence[str], limit: int, excluded: set[int]
    ) -> tuple[list[int], list[int]]:
        """Past tasks by BM25 over their text and files, and by BM25 over their files alone."""

    def consistency_problems(self) -> list[str]:
        """Every active item has exactly its FTS (and vector) row, and nothing else is indexed."""

    def integrity(self) -> str:
        """'ok', or the first problems `PRAGMA integrity_check` reports."""

    def engine_checks(self) -> list[tuple[str, str, str]]:
        """`doctor`'s lines about the database engine and its extensions."""

    def bank_checks(self) -> Iterator[tuple[str, str, str]]:
        """`doctor`'s lines about the bank file, one at a time (a damaged file can fail any query, and"""

    def backup(self, target: str | Path) -> Path:
        """A consistent copy of the bank in a new SQLite file, safe while others write."""

    # ---- memory items (rb_mcp.store.items) ----
    def items_by_id(self, ids: Sequence[int], db: Any = None) -> dict[int, MemoryItem]:
        """The items with these ids, whatever their status; ids not in the bank are left out."""

    def all_active(self, ids: Sequence[int], db: Any = None) -> bool:
        """True when every one of these (distinct) items exists and is active."""

    def active_item_ids(self) -> list[int]:
        """Every active item, newest first."""

    def active_item_vector(self, item_id: int) -> tuple[str, np.ndarray] | None:
        """(scope, embedding) of an active item; None when it is not active or has no embedding."""

    def active_twin(self, db: Any, digest: str, scope: str) -> int | None:
        """The active item in `scope` whose text has this `content_hash`, if any."""

    def recalled_texts(self, recall_id: int | None) -> list[tuple[str, str, str]]:
        """(title, description, content) of each item the recall `recall_id` returned."""

    def recalled_titles(self, recall_id: int | None) -> list[tuple[int, str]]:
        """(id, title) of each item the recall `recall_id` returned, in rank order."""

    def item_history(self, item_id: int) -> list[dict[str, str]]:
        """The earlier and merged wordings of an item, oldest first, with why each was kept."""

    def insert_item(
        self,
        db: Any,
        *,
        title: str,
        description: str,
        content: str,
        kind: str,
        scope: str,
        trajectory_id: int | None,
        files: Sequence[str],
        tags: Sequence[str],
        vec: np.ndarray,
        digest: str,
        stamp: str,
        anchors: str = "{}",
    ) -> int:
        """A new active item with the next free id (never a forgotten one); returns the id. `anchors`"""

    def link_sources(self, db: Any, item_id: int, trajectory_ids: Sequence[int]) -> None:
        """Record that these trajectories taught the item (a link already there is kept)."""

    def rewrite_item(
        self, db: Any, item_id: int, title: str, description: str, content: str, vec: np.ndarray, digest: str
    ) -> None:
        """New wording for an item, with its embedding and content hash (keep the old in history first)."""

    def strengthen_item(
        self,
        db: Any,
        item_id: int,
        by: int,
        stamp: str,
        files: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
    ) -> None:
        """Add `by` to the item's strength and touch it; its files and tags are replaced when given."""

    def add_history(
        self, db: Any, item_id: int, title: str, description: str, content: str, reason: str, changed_at: str
    ) -> None:
        """Keep a wording of the item (its old text, or a variant merged into it) and why."""

    def supersede_item(self, db: Any, gone: int, keep: int, stamp: str) -> None:
        """`gone` is superseded by `keep`, which inherits its sources (re-index both afterwards)."""

    def set_item_scope(self, db: Any, item_id: int, scope: str, stamp: str) -> bool:
        """Move an item to another scope; False when there is no such item."""

    def archive_item(self, db: Any, item_id: int, stamp: str) -> None:
        """Keep the item's row but never recall it again."""

    def delete_item(self, db: Any, item_id: int) -> None:
        """Delete the item's row (its history and sources go with it) and raise the id floor past"""

    def claim_recall(self, db: Any, recall_id: int, outcome: str, stamp: str) -> bool:
        """Mark the recall credited with `outcome`; False when it already was (or does not exist),"""

    def recall_hit_ids(self, db: Any, recall_id: int) -> list[int]:
        """The items the recall returned."""

    def credit_items(self, db: Any, ids: Sequence[int], helped: bool) -> None:
        """One more `helped` (or `harmed`) for each of these items."""

    def item_anchors(self, ids: Sequence[int]) -> dict[int, tuple[str, int]]:
        """(anchors JSON, stale_count) of these items, for those that have anchors."""

    def set_item_anchors(self, db: Any, item_id: int, anchors: str) -> None:
        """Replace the item's anchors (JSON) and clear its count of broken-anchor recalls."""

    def set_stale_counts(self, db: Any, counts: dict[int, int]) -> None:
        """Set each item's count of recalls in a row that found its anchors broken (0 once they hold)."""

    def upkeep_rows(
        self, db: Any, idle_before: str, min_verdicts: int
    ) -> list[tuple[int, str, str, str, int, int, int, str | None]]:
        """Active items maintenance should look at, read in `db` (a snapshot): those untouched since"""

    def restore_item(self, db: Any, item_id: int, stamp: str) -> bool:
        """Make an archived or superseded item active again (re-index it afterwards); False when it"""

    # ---- trajectories, groups, the queue, recalls (rb_mcp.store.trajectories) ----
    def insert_trajectory(
        self,
        db: Any,
        *,
        task: str,
        project: str | None,
        steps: Sequence[dict[str, str]],
        summary: str,
        outcome: str | None,
        rationale: str,
        files: Sequence[str],
        status: str,
        role: str,
        recall_id: int | None,
        group_id: str | None,
        iteration: int | None,
        task_embedding: bytes | None,
        owner: str = "",
    ) -> int:
        """A new trajectory of `owner` (and its attempt group's row, the first time the group is
        named); its id."""

    def get_trajectory(self, trajectory_id: int) -> dict[str, Any] | None:
        """The trajectory's columns by name (steps and files as lists); None when there is none."""

    def update_trajectory(self, trajectory_id: int, **fields: Any) -> None:
        """Set these columns (steps and files as lists) and `updated_at`, in a transaction of its own."""

    def set_verdict(self, trajectory_id: int, outcome: str, rationale: str) -> bool:
        """The trajectory's verdict, only if it has none yet (the first verdict counts); whether it was set."""

    def pending_trajectories(self, among: Sequence[int] | None = None) -> list[int]:
        """Trajectories waiting for a verdict or for items (refinement notes never do), oldest first,"""

    def ready_groups(self) -> list[str]:
        """Attempt groups ready for a contrast: two or more judged parallel attempts, one not yet"""

    def waiting_attempts(self) -> int:
        """Undistilled parallel attempts whose group has fewer than two judged attempts (no contrast yet)."""

    def group(self, group_id: str) -> tuple[str, str | None] | None:
        """The group's task and project, as its first trajectory named them; None when unknown."""

    def group_scopes(self, group_id: str) -> list[str | None]:
        """The distinct projects the group's trajectories live in."""

    def refinement_notes(self, group_id: str) -> list[tuple[int | None, list[dict[str, str]]]]:
        """The group's refinement notes in order: (iteration, steps)."""

    def group_attempts(
        self, group_id: str
    ) -> list[tuple[int, int | None, str | None, str, list[dict[str, str]]]]:
        """The group's attempts (not its refinement notes) in order: (id, iteration, outcome, summary, steps)."""

    def count_attempts(self, group_id: str) -> int:
        """How many attempts (not refinement notes) the group holds."""

    def fresh_attempts(self, group_id: str) -> int:
        """How many of the group's attempts are judged but not distilled yet."""

    def mark_contrasted(self, group_id: str, trajectory_ids: Sequence[int]) -> None:
        """The group was contrasted and these attempts distilled by it, in one transaction."""

    def task_vectors(self, trajectory_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The task embeddings of these trajectories (those that have one)."""

    def trajectory_briefs(
        self, trajectory_ids: Sequence[int]
    ) -> list[tuple[int, str, str | None, str | None, list[str]]]:
        """(id, task, outcome, project, files) of these trajectories, in no particular order."""

    def items_of_tasks(self, trajectory_ids: Sequence[int]) -> list[tuple[int, int]]:
        """(item, trajectory) for every item distilled from these trajectories."""

    def items_distilled_from(self, trajectory_ids: Sequence[int]) -> set[int]:
        """The items distilled from any of these trajectories."""

    def recall_candidates(
        self, item_ids: Sequence[int], have_vectors: Sequence[int]
    ) -> list[tuple[int, str, str, int, int, int, bytes | None]]:
        """The scoring columns of these active items: (id, scope, kind, helped, harmed, strength,"""

    def log_recall(
        self,
        query: str,
        project: str | None,
        k: int,
        hits: Sequence[tuple[int, float]],
        owner: str = "",
        session_id: str | None = None,
        control: bool = False,
    ) -> int:
        """Record a recall by `owner` and the items it returned, (item, score) in rank order, counting"""

    def recall_event(self, recall_id: int) -> dict[str, Any] | None:
        """The recall's query, project, k, time and owner; None when there is no such recall."""

    def recall_hit_items(self, recall_id: int) -> list[tuple[str, str, str]]:
        """(title, description, content) of the items the recall returned."""

    def recall_usage(self) -> list[tuple[str, str | None, int, int, int, int]]:
        """Per day and project of the logged recalls: (day, project, recalls, recalls that returned
        items, items returned, characters of those items' title, description and content)."""

    # ---- tokens, stats, listing, export/import, re-embedding (rb_mcp.store.housekeeping) ----
    def add_access_token(
        self, name: str, identity: str, projects: str, secret_hash: str, created_at: str
    ) -> int:
        """Store a new token (`projects` is its JSON list); its id."""

    def access_tokens(self, include_revoked: bool = True) -> list[Any]:
        """Rows of (id, name, identity, projects, created_at, last_used_at, revoked_at), by id."""

    def access_token(self, token_id: int) -> Any:
        """(secret_hash, revoked_at, identity, projects, name, created_at, last_used_at), or None."""

    def revoke_access_token(self, token_id: int, at: str) -> bool:
        """Mark a token revoked at `at` (a second revocation keeps the first time); False if none."""

    def touch_access_token(self, token_id: int, at: str) -> None: ...
    def active_token_count(self) -> int: ...
    def item_counts(self) -> list[tuple[str, str, int]]:
        """(kind, status, count) of the items."""

    def trajectory_counts(self) -> list[tuple[str, int]]:
        """(status, count) of the trajectories."""

    def scope_counts(self, limit: int = 50) -> list[tuple[str, int]]:
        """(scope, active items) of the `limit` scopes holding the most active items."""

    def recall_count(self) -> int: ...

    # ---- recall sessions, control recalls, the effect of memory (rb_mcp.store.effect) ---------
    def session_recalls(self, session_id: str) -> list[int]:
        """Ids of the recalls logged with this client session id, oldest first."""

    def session_recall(self, session_id: str) -> int | None:
        """The session's latest recall that returned items, else its latest control recall; or None."""

    def scope_item_counts(self, scopes: Sequence[str]) -> dict[str, int]:
        """Active items in each of these scopes (0 for a scope holding none)."""

    def effect_counts(self, project: str | None) -> list[tuple[str, str, str, int]]:
        """Judged, visible trajectories in `project` (None: all): (project, arm, outcome, count)."""

    def credited_items(self, project: str | None, by: str, limit: int) -> list[tuple[Any, ...]]:
        """Items with the most `by` (helped|harmed): (id, title, scope, helped, harmed, recall_count)."""

    def waiting_count(self) -> int:
        """Trajectories waiting for a verdict or for items (refinements never wait)."""

    def row_counts(self) -> dict[str, int]:
        """Rows per table of the bank, in `schema.TABLES` order."""

    def listed_item_ids(
        self,
        limit: int,
        active_only: bool = True,
        scope: str | None = None,
        kind: str | None = None,
        status: str | None = None,
    ) -> list[int]:
        """Ids of the items matching the filters (None: any) in the scopes the caller may see"""

    def item_source_ids(self, item_id: int) -> list[int]:
        """The trajectories an item was distilled from."""

    def meta_in(self, db: Any, keys: Sequence[str]) -> dict[str, str]:
        """The meta entries among `keys`, read inside `db` (a transaction or a snapshot)."""

    def export_rows(self, db: Any, table: str) -> Iterator[dict[str, Any]]:
        """Every row of `table` as {column: value} (`schema.COLUMNS`), in key order, read in `db`."""

    def import_row(self, db: Any, table: str, data: dict[str, Any]) -> int | None:
        """Insert an imported row, under its own id when that is free (else a new one); the row's id"""

    def item_texts(self) -> list[tuple[int, str, str, str]]:
        """(id, title, description, content) of every item."""

    def task_texts(self) -> list[tuple[int, str]]:
        """(id, task) of every trajectory that has a task embedding (all but refinements)."""

    def set_item_embeddings(self, db: Any, vectors: Sequence[tuple[int, bytes]]) -> None:
        """Write (item id, embedding blob) pairs; the caller re-indexes the items."""

    def set_task_embeddings(self, db: Any, vectors: Sequence[tuple[int, bytes]]) -> None:
        """Write (trajectory id, task embedding blob) pairs; the caller re-indexes the tasks."""

    # ---- the review page: browsing, the inbox, a person's changes, effect (rb_mcp.store.review) ----
    def browse_item_ids(
        self,
        *,
        text: str = "",
        scope: str | None = None,
        kind: str | None = None,
        status: str | None = "active",
        sort: str = "recent",
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[int], int]:
        """One page of the items matching the filters (None: any) in the scopes the caller may see,"""

    def item_scopes(self) -> list[tuple[str, int]]:
        """(scope, items of any status) of every scope the caller may see, the fullest first."""

    def review_marks(self, ids: Sequence[int]) -> dict[int, tuple[str | None, bool]]:
        """(reviewed_at, held) of these items: when a person last approved each, and whether it waits"""

    def inbox_item_ids(self, limit: int = 50, offset: int = 0) -> tuple[list[int], int]:
        """Active items added or changed since their last review, in scopes the caller may see: held"""

    def inbox_count(self) -> int:
        """How many active items wait in the review inbox (of the scopes the caller may see)."""

    def pending_count(self) -> int:
        """How many trajectories wait for a verdict or for items, in scopes the caller may see (as"""

    def mark_reviewed(self, db: Any, seen: Sequence[tuple[int, str]], stamp: str) -> list[int]:
        """Approve each (item, updated_at as the reviewer saw it): reviewed at `stamp` and no longer held."""

    def hold_item(self, db: Any, item_id: int) -> None:
        """Keep a new item out of recall until a person approves it (RB_MCP_REVIEW=required)."""

    def revise_item(
        self,
        db: Any,
        item_id: int,
        *,
        title: str,
        description: str,
        content: str,
        kind: str,
        vec: np.ndarray,
        digest: str,
        stamp: str,
    ) -> None:
        """A person's wording (and kind) for an item, with its embedding and content hash; reviewed and"""

    def merged_into(self, item_id: int) -> list[tuple[int, str, str]]:
        """(id, title, updated_at) of the items superseded by this one (merged into it), newest first."""

    def item_recalls(self, item_id: int, limit: int = 100) -> list[dict[str, Any]]:
        """The recalls that returned the item, newest first: when, the task, the project, the item's"""
