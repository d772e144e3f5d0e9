"""Numbered, append-only schema migrations, each applied in one transaction and recorded.

Never edit a migration that has shipped: add the next one. The vec0 tables are not here because
their dimension depends on the embedding model; `store.Store.ensure_vectors` creates them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Migration = tuple[int, str, Callable[[Any], None]]


def _run(db: Any, script: str) -> None:
    # Statement by statement: executescript() would commit the migration's transaction early.
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def m001_initial(db: Any) -> None:
    _run(
        db,
        """
        create table meta (key text primary key, value text not null);

        create table recall_events (
            id integer primary key,
            query text not null,
            project text,
            k integer not null,
            created_at text not null,
            credited_at text,
            credited_outcome text
        );

        create table trajectories (
            id integer primary key,
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
            recall_id integer references recall_events (id) on delete set null,
            group_id text,
            iteration integer,
            task_embedding blob,
            created_at text not null,
            updated_at text not null
        );
        create index trajectories_status on trajectories (status);
        create index trajectories_group on trajectories (group_id, iteration);
        create index trajectories_project on trajectories (project);

        create table items (
            id integer primary key,
            title text not null,
            description text not null,
            content text not null,
            kind text not null check (kind in ('strategy', 'pitfall', 'note')),
            scope text not null,
            trajectory_id integer references trajectories (id) on delete set null,
            files text not null default '[]',
            tags text not null default '[]',
            embedding blob,
            content_hash text not null,
            recall_count integer not null default 0,
            helped integer not null default 0,
            harmed integer not null default 0,
            strength integer not null default 1,
            status text not null default 'active' check (status in ('active', 'superseded', 'archived')),
            superseded_by integer references items (id) on delete set null,
            created_at text not null,
            updated_at text not null
        );
        create index items_scope on items (scope, status);
        create index items_hash on items (content_hash);

        create table item_sources (
            item_id integer not null references items (id) on delete cascade,
            trajectory_id integer not null references trajectories (id) on delete cascade,
            relation text not null default 'distilled',
            primary key (item_id, trajectory_id)
        );
        create index item_sources_trajectory on item_sources (trajectory_id);

        create table item_history (
            id integer primary key,
            item_id integer not null references items (id) on delete cascade,
            title text not null,
            description text not null,
            content text not null,
            reason text not null,
            changed_at text not null
        );

        create table recall_hits (
            recall_id integer not null references recall_events (id) on delete cascade,
            item_id integer not null references items (id) on delete cascade,
            rank integer not null,
            score real not null,
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

        create virtual table item_fts using fts5 (
            title, description, content, tags, files, tokenize = 'porter unicode61'
        );
        create virtual table task_fts using fts5 (task, files, tokenize = 'porter unicode61');
        """
    )


MIGRATIONS: list[Migration] = [
    (1, "initial", m001_initial),
]

LATEST = MIGRATIONS[-1][0]
