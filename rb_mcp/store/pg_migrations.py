"""Numbered, append-only schema migrations of a PostgreSQL bank (see `rb_mcp.migrations` for SQLite).

The tables and columns are those of the SQLite bank, so the shared SQL runs on both; ids are
`bigserial` (never reused), vectors stay on the rows as float32 `bytea` (what `copy` and `export`
carry) and are indexed in `item_vec` / `task_vec` (`vector(dim)` with HNSW), created when the bank
is bound to an embedding model, since their width follows the model. Keyword search reads
`item_fts` / `task_fts`: one weighted tsvector per row under a GIN index.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rb_mcp.errors import StoreError
from rb_mcp.store.migrations import m004_owners_and_id_key, redact_scope_names

Migration = tuple[int, str, Callable[[Any], None]]


def _run(db: Any, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def m001_initial(db: Any) -> None:
    try:
        db.execute("savepoint ext")
        db.execute("create extension if not exists vector")
        db.execute("release savepoint ext")
    except Exception as exc:
        raise StoreError(
            f"pgvector is not available on this server ({exc}); install it and run "
            "`create extension vector` as a superuser in the bank's database"
        ) from exc
    _run(
        db,
        """
        create table meta (key text primary key, value text not null);

        create table recall_events (
            id bigserial primary key,
            query text not null,
            project text,
            k integer not null,
            created_at text not null,
            credited_at text,
            credited_outcome text
        );

        create table trajectories (
            id bigserial primary key,
            task text not null,
            project text,
            steps text not null default '[]',
            summary text not null default '',
            outcome text check (outcome in ('success', 'failure', 'impossible')),
            rationale text not null default '',
            files text not null default '[]',
            status text not null
                check (status in ('pending_verdict', 'pending_items', 'distilled', 'signal')),
            role text not null default 'task' check (role in ('task', 'attempt', 'refine')),
            recall_id bigint references recall_events (id) on delete set null,
            group_id text,
            iteration integer,
            task_embedding bytea,
            created_at text not null,
            updated_at text not null
        );
        create index trajectories_status on trajectories (status);
        create index trajectories_group on trajectories (group_id, iteration);
        create index trajectories_project on trajectories (project);

        create table items (
            id bigserial primary key,
            title text not null,
            description text not null,
            content text not null,
            kind text not null check (kind in ('strategy', 'pitfall', 'note')),
            scope text not null,
            trajectory_id bigint references trajectories (id) on delete set null,
            files text not null default '[]',
            tags text not null default '[]',
            embedding bytea,
            content_hash text not null,
            recall_count integer not null default 0,
            helped integer not null default 0,
            harmed integer not null default 0,
            strength integer not null default 1,
            status text not null default 'active' check (status in ('active', 'superseded', 'archived')),
            superseded_by bigint references items (id) on delete set null,
            created_at text not null,
            updated_at text not null
        );
        create index items_scope on items (scope, status);
        create index items_hash on items (content_hash);
        create index items_updated on items (updated_at);

        create table item_sources (
            item_id bigint not null references items (id) on delete cascade,
            trajectory_id bigint not null references trajectories (id) on delete cascade,
            relation text not null default 'distilled',
            primary key (item_id, trajectory_id)
        );
        create index item_sources_trajectory on item_sources (trajectory_id);

        create table item_history (
            id bigserial primary key,
            item_id bigint not null references items (id) on delete cascade,
            title text not null,
            description text not null,
            content text not null,
            reason text not null,
            changed_at text not null
        );
        create index item_history_item on item_history (item_id);

        create table recall_hits (
            recall_id bigint not null references recall_events (id) on delete cascade,
            item_id bigint not null references items (id) on delete cascade,
            rank integer not null,
            score double precision not null,
            primary key (recall_id, item_id)
        );
        create index recall_hits_item on recall_hits (item_id);

        create table groups (
            group_id text primary key,
            task text not null,
            project text,
            created_at text not null,
            contrasted_at text
        );

        create table item_fts (rowid bigint primary key, doc tsvector not null);
        create index item_fts_doc on item_fts using gin (doc);
        create table task_fts (rowid bigint primary key, doc tsvector not null, files tsvector not null);
        create index task_fts_doc on task_fts using gin (doc)
        """,
    )


def m002_access_tokens(db: Any) -> None:
    """Bearer tokens of the HTTP server (as SQLite's migration 3): a hash of each secret, the
    identity it speaks for and the projects it may see (JSON list; ["*"] for all)."""
    _run(
        db,
        """
        create table access_tokens (
            id bigserial primary key,
            name text not null default '',
            identity text not null,
            projects text not null default '["*"]',
            secret_hash text not null,
            created_at text not null,
            last_used_at text,
            revoked_at text
        );
        create index access_tokens_identity on access_tokens (identity)
        """,
    )


def m004_item_anchors(db: Any) -> None:
    """As SQLite's migration 5: an item's anchors (JSON) and its count of broken-anchor recalls in a row.
    (Number 3 belongs to another change.)"""
    _run(
        db,
        """
        alter table items add column anchors text not null default '{}';
        alter table items add column stale_count integer not null default 0
        """,
    )


def m005_item_review(db: Any) -> None:
    """The review page's state of each item (as SQLite's migration 6): when a person last approved it,
    whether it waits for that approval out of recall, partial indexes holding the review inbox and the
    judged tasks, and indexes for the page's sorts (by recalls, helped, harmed), the items merged into
    an item and the task recorded after a recall."""
    _run(
        db,
        """
        alter table items add column reviewed_at text;
        alter table items add column held integer not null default 0;
        create index items_unreviewed on items (held, updated_at, reviewed_at, status, scope)
            where status = 'active' and (reviewed_at is null or updated_at > reviewed_at);
        create index items_recalled on items (recall_count);
        create index items_helped on items (helped);
        create index items_harmed on items (harmed);
        create index items_superseded on items (superseded_by);
        create index trajectories_recall on trajectories (recall_id);
        create index trajectories_judged on trajectories (outcome, role, created_at, recall_id, project)
            where outcome is not null
        """,
    )


def m006_recall_sessions(db: Any) -> None:
    """The client session a recall was made in and whether it was a control recall (as SQLite's
    migration 7)."""
    _run(
        db,
        """
        alter table recall_events add column session_id text;
        alter table recall_events add column control integer not null default 0;
        alter table recall_events add column returned integer not null default 0;
        update recall_events set returned = (select count(*) from recall_hits h where h.recall_id = recall_events.id);
        create index recall_events_session on recall_events (session_id, id)
        """,
    )


def m007_redacted_scope_names(db: Any) -> None:
    """As SQLite's migration 8 (the vectors live in the rows here)."""
    redact_scope_names(db, vector_partitions=False)


MIGRATIONS: list[Migration] = [
    (1, "initial", m001_initial),
    (2, "access_tokens", m002_access_tokens),
    (3, "owners_and_id_key", m004_owners_and_id_key),  # SQLite's migration 4, statement for statement
    (4, "item_anchors", m004_item_anchors),
    (5, "item_review", m005_item_review),
    (6, "recall_sessions", m006_recall_sessions),
    (7, "redacted_scope_names", m007_redacted_scope_names),
]

LATEST = MIGRATIONS[-1][0]
