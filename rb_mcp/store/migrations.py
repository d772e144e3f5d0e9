"""Numbered, append-only schema migrations, each applied in one transaction and recorded.

Never edit a migration that has shipped: add the next one. The vector index tables hold 1-bit
codes whose width follows the embedding model, so their schema does not depend on it (see
`rb_mcp.vindex`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from rb_mcp import ids
from rb_mcp.clock import now
from rb_mcp.errors import SchemaError
from rb_mcp.models import MAX_ID, MAX_PROJECT

log = logging.getLogger(__name__)

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
        """,
    )


def m002_binary_vector_index(db: Any) -> None:
    """Replace the float vec0 tables by plain tables of sign codes, an append-only change log and
    chunked snapshots (the in-memory index of `rb_mcp.vindex` is rebuilt from them)."""
    from rb_mcp.store.vindex import code_of

    for name in ("item_vec", "task_vec"):
        row = db.execute("select sql from sqlite_master where name = ?", (name,)).fetchone()
        if row is None:
            continue
        try:
            db.execute(f"drop table {name}")
        except Exception as exc:  # a vec0 table cannot be dropped without its module
            raise SchemaError(
                f"this bank's old vector tables need sqlite-vec to be upgraded ({exc}); install it "
                "(pip install sqlite-vec) and open the bank once"
            ) from exc
    _run(
        db,
        """
        create table item_vec (item_id integer primary key, scope text not null, code blob not null);
        create table task_vec (trajectory_id integer primary key, project text not null, code blob not null);
        create table vec_changes (seq integer primary key autoincrement, tbl text not null, row_id integer not null);
        create table vec_snapshot (
            tbl text not null, part text not null, chunk integer not null, seq integer not null,
            ids blob not null, codes blob not null, primary key (tbl, part, chunk)
        );
        """,
    )
    items = db.execute(
        "select id, scope, embedding from items where status = 'active' and embedding is not null"
    ).fetchall()
    db.executemany("insert into item_vec values (?, ?, ?)", [(i, s, code_of(e)) for i, s, e in items])
    tasks = db.execute(
        "select id, coalesce(project, 'global'), task_embedding from trajectories "
        "where role != 'refine' and task_embedding is not null"
    ).fetchall()
    db.executemany("insert into task_vec values (?, ?, ?)", [(i, p, code_of(e)) for i, p, e in tasks])


def m003_access_tokens(db: Any) -> None:
    """Bearer tokens of the HTTP server: only a hash of each secret is kept, with the identity it
    speaks for and the projects it may see (JSON list; ["*"] for all)."""
    _run(
        db,
        """
        create table access_tokens (
            id integer primary key,
            name text not null default '',
            identity text not null,
            projects text not null default '["*"]',
            secret_hash text not null,
            created_at text not null,
            last_used_at text,
            revoked_at text
        );
        create index access_tokens_identity on access_tokens (identity);
        """,
    )


def m004_owners_and_id_key(db: Any) -> None:
    """Trajectories and recall events record their owner (the identity that made them, '' for the
    local user; older rows of a personal scope go to its person), the bank gets the key of its
    stored ids (`rb_mcp.ids`), and attempt groups are re-keyed by (owner, project, name): an old
    group that spanned projects becomes one group per project. Shared with PostgreSQL (its 3)."""
    for table in ("trajectories", "recall_events"):
        db.execute(f"alter table {table} add column owner text not null default ''")
        db.execute(f"update {table} set owner = substr(project, 6) where project like 'user:%'")
    key = ids.new_key()
    db.execute("insert into meta (key, value) values (?, ?)", (ids.KEY_META, key))
    old = {
        r[0]: r[1:] for r in db.execute("select group_id, created_at, contrasted_at from groups").fetchall()
    }
    rows = db.execute(
        "select id, group_id, project, owner, task from trajectories where group_id is not null order by id"
    ).fetchall()
    groups: dict[str, tuple[str, str | None, str]] = {}
    for trajectory_id, group_id, project, owner, task in rows:
        new_id = ids.group_key(key, owner, project, group_id, MAX_ID)
        db.execute("update trajectories set group_id = ? where id = ?", (new_id, trajectory_id))
        groups.setdefault(new_id, (group_id, project, task))
    db.execute("delete from groups")
    for new_id, (group_id, project, task) in groups.items():
        created, contrasted = old.get(group_id, (now(), None))
        db.execute(
            "insert into groups (group_id, task, project, created_at, contrasted_at) values (?, ?, ?, ?, ?)",
            (new_id, task, project, created, contrasted),
        )


def m005_item_anchors(db: Any) -> None:
    """What an item pointed at when it was stored (files, symbols, commit; JSON, '{}' for nothing) and
    how many recalls in a row found those anchors broken. (Number 4 belongs to another change.)"""
    _run(
        db,
        """
        alter table items add column anchors text not null default '{}';
        alter table items add column stale_count integer not null default 0
        """,
    )


def m006_item_review(db: Any) -> None:
    """The review page's state of each item (`rb-mcp ui`): when a person last approved it, and whether it
    waits for that approval out of recall (RB_MCP_REVIEW=required). The partial indexes hold the review
    inbox (active items added or changed since their last review) and the judged tasks the effect page
    counts, each with every column its query reads, so neither reads the wide rows; the others order
    the page's sorts and find an item's history, the items merged into it and the task recorded after
    a recall."""
    _run(
        db,
        """
        alter table items add column reviewed_at text;
        alter table items add column held integer not null default 0;
        create index items_unreviewed on items (held, updated_at, reviewed_at, status, scope)
            where status = 'active' and (reviewed_at is null or updated_at > reviewed_at);
        create index if not exists items_updated on items (updated_at);
        create index items_recalled on items (recall_count);
        create index items_helped on items (helped);
        create index items_harmed on items (harmed);
        create index items_superseded on items (superseded_by);
        create index if not exists item_history_item on item_history (item_id);
        create index trajectories_recall on trajectories (recall_id);
        create index trajectories_judged on trajectories (outcome, role, created_at, recall_id, project)
            where outcome is not null
        """,
    )


def m007_recall_sessions(db: Any) -> None:
    """The client session a recall was made in (the hooks pass Claude Code's session id), and
    whether it was a control recall that withheld memory on purpose (RB_MCP_CONTROL_RATE), and how
    many items it returned (kept when an item is forgotten later, so the trajectory still counts
    as one that came after memory)."""
    _run(
        db,
        """
        alter table recall_events add column session_id text;
        alter table recall_events add column control integer not null default 0;
        alter table recall_events add column returned integer not null default 0;
        update recall_events set returned = (select count(*) from recall_hits h where h.recall_id = recall_events.id);
        create index recall_events_session on recall_events (session_id, id);
        """,
    )


_SCOPE_COLUMNS = (
    ("trajectories", "project"),
    ("items", "scope"),
    ("recall_events", "project"),
    ("groups", "project"),
)
_VECTOR_PARTITIONS = (("item_vec", "scope"), ("task_vec", "project"))


def redact_scope_names(db: Any, vector_partitions: bool) -> None:
    """Project and scope names stored before names were redacted (`rb_mcp.ids`) and holding a
    secret become its redacted text plus the bank's keyed digest, the name today's rb-mcp stores
    for them: the secret leaves the bank, and a caller naming the project as before reaches it
    again (unless the secret's shape was lost to the lowercasing the name was stored with; then
    its memory stays under the new name, which `rb-mcp list` shows). Tokens' project lists too.
    With `vector_partitions` (SQLite) the vector index's partitions follow and its readers reload."""
    key = db.execute("select value from meta where key = ?", (ids.KEY_META,)).fetchone()[0]
    tables = _SCOPE_COLUMNS + (_VECTOR_PARTITIONS if vector_partitions else ())
    renamed = {}
    for table, column in tables:
        for (name,) in db.execute(
            f"select distinct {column} from {table} where {column} is not null"
        ).fetchall():
            stored = renamed.get(name) or ids.rekeyed(name, key, MAX_PROJECT)
            if stored != name:
                renamed[name] = stored
                db.execute(f"update {table} set {column} = ? where {column} = ?", (stored, name))
    for token_id, listed in db.execute("select id, projects from access_tokens").fetchall():
        names = json.loads(listed)
        safe = [p if p == "*" else ids.rekeyed(p, key, MAX_PROJECT) for p in names]
        if safe != names:
            db.execute("update access_tokens set projects = ? where id = ?", (json.dumps(safe), token_id))
    if renamed and vector_partitions:
        db.execute("delete from vec_snapshot")
        db.execute("insert into vec_changes (tbl, row_id) values ('*', 0)")  # vindex.RESET: reload
    if renamed:
        log.warning("redacted %d stored project name(s) that held a secret", len(renamed))


def m008_redacted_scope_names(db: Any) -> None:
    redact_scope_names(db, vector_partitions=True)


MIGRATIONS: list[Migration] = [
    (1, "initial", m001_initial),
    (2, "binary_vector_index", m002_binary_vector_index),
    (3, "access_tokens", m003_access_tokens),
    (4, "owners_and_id_key", m004_owners_and_id_key),
    (5, "item_anchors", m005_item_anchors),
    (6, "item_review", m006_item_review),
    (7, "recall_sessions", m007_recall_sessions),
    (8, "redacted_scope_names", m008_redacted_scope_names),
]

LATEST = MIGRATIONS[-1][0]


def apply_pending(
    store: Any, migrations: list[Migration], applied: set[int], lock: Callable[[Any], None] | None = None
) -> None:
    """Apply the migrations not in `applied`, each in its own write transaction, on either backend.

    Several processes may open a fresh bank at once (IDE windows starting together): each
    migration re-checks inside its transaction (after `lock`, where the backend needs one), so
    exactly one process applies it.
    """

    newest, latest = max(applied, default=0), migrations[-1][0]
    if newest > latest:
        raise SchemaError(
            f"the bank at {store.path} has schema version {newest}, newer than this rb-mcp understands "
            f"({latest}); upgrade rb-mcp (pip install -U rb-mcp)"
        )
    for number, name, apply in migrations:
        if number in applied:
            continue
        with store.transaction() as db:
            if lock is not None:
                lock(db)
            db.execute(
                "create table if not exists _migrations "
                "(id integer primary key, name text not null, applied_at text not null)"
            )
            if db.execute("select 1 from _migrations where id = ?", (number,)).fetchone():
                continue
            apply(db)
            db.execute("insert into _migrations values (?, ?, ?)", (number, name, now()))
        log.info("applied %s migration %03d_%s", store.dialect, number, name)
