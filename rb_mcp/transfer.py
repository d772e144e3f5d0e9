"""Export and import a bank as JSONL, losslessly.

One JSON object per line, `{"table": ..., "row": {...}}`, first a header line with the format
version and the embedding model. Vectors travel as base64 float32 so an import into a bank of the
same model needs no re-embedding. An import is validated completely (types, enums, references,
sizes) and redacted before the first row is written, then written in one transaction: a bad
file changes nothing. Rows keep their ids when those are free, so exporting and importing into an
empty bank gives the same bank back.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rb_mcp.bank import Bank
from rb_mcp.errors import InputError
from rb_mcp.models import MAX_CONTENT, MAX_DESCRIPTION, MAX_TASK, MAX_TITLE
from rb_mcp.redact import redact, redact_obj

FORMAT = "rb-mcp-export/1"
TABLES = ("recall_events", "trajectories", "groups", "items", "item_sources", "item_history", "recall_hits")
BLOBS = {"trajectories": "task_embedding", "items": "embedding"}


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecallEventRow(_Row):
    id: int
    query: str = Field(max_length=MAX_TASK)
    project: str | None
    k: int
    created_at: str
    credited_at: str | None = None
    credited_outcome: str | None = None


class TrajectoryRow(_Row):
    id: int
    task: str = Field(max_length=MAX_TASK)
    project: str | None
    steps: str
    summary: str
    outcome: Literal["success", "failure", "impossible"] | None
    rationale: str
    files: str
    status: Literal["pending_verdict", "pending_items", "distilled", "signal"]
    role: Literal["task", "attempt", "refine"]
    recall_id: int | None
    group_id: str | None
    iteration: int | None
    task_embedding: str | None
    created_at: str
    updated_at: str


class GroupRow(_Row):
    group_id: str
    task: str
    project: str | None
    created_at: str
    contrasted_at: str | None


class ItemRow(_Row):
    id: int
    title: str = Field(max_length=MAX_TITLE)
    description: str = Field(max_length=MAX_DESCRIPTION)
    content: str = Field(max_length=MAX_CONTENT)
    kind: Literal["strategy", "pitfall", "note"]
    scope: str
    trajectory_id: int | None
    files: str
    tags: str
    embedding: str | None
    content_hash: str
    recall_count: int
    helped: int
    harmed: int
    strength: int
    status: Literal["active", "superseded", "archived"]
    superseded_by: int | None
    created_at: str
    updated_at: str


class SourceRow(_Row):
    item_id: int
    trajectory_id: int
    relation: str


class HistoryRow(_Row):
    id: int
    item_id: int
    title: str
    description: str
    content: str
    reason: str
    changed_at: str


class HitRow(_Row):
    recall_id: int
    item_id: int
    rank: int
    score: float


ROW_MODELS: dict[str, type[_Row]] = {
    "recall_events": RecallEventRow,
    "trajectories": TrajectoryRow,
    "groups": GroupRow,
    "items": ItemRow,
    "item_sources": SourceRow,
    "item_history": HistoryRow,
    "recall_hits": HitRow,
}


def export_lines(bank: Bank) -> Iterator[str]:
    store = bank.store
    model, dim = store.vector_model()
    yield json.dumps({"format": FORMAT, "model": model, "dim": dim})
    for table in TABLES:
        columns = list(ROW_MODELS[table].model_fields)
        order = "rowid" if table not in ("groups",) else "group_id"
        for row in store.query(f"select {', '.join(columns)} from {table} order by {order}"):
            data = dict(zip(columns, row))
            blob = BLOBS.get(table)
            if blob and data[blob] is not None:
                data[blob] = base64.b64encode(data[blob]).decode()
            yield json.dumps({"table": table, "row": data}, ensure_ascii=False)


def export_to(bank: Bank, fh: IO[str]) -> int:
    n = 0
    for line in export_lines(bank):
        fh.write(line + "\n")
        n += 1
    return n - 1


def _parse(lines: Iterable[str]) -> tuple[dict[str, Any], dict[str, list[_Row]]]:
    header: dict[str, Any] | None = None
    rows: dict[str, list[_Row]] = {t: [] for t in TABLES}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"line {number}: not JSON ({exc.msg}); nothing was imported") from None
        if header is None:
            if not isinstance(obj, dict) or obj.get("format") != FORMAT:
                raise InputError(f"line 1 is not an {FORMAT} header; export the bank with `rb-mcp export`")
            header = obj
            continue
        if not isinstance(obj, dict) or obj.get("table") not in ROW_MODELS or not isinstance(obj.get("row"), dict):
            raise InputError(f"line {number}: expected {{'table': one of {list(TABLES)}, 'row': {{...}}}}")
        try:
            rows[obj["table"]].append(ROW_MODELS[obj["table"]](**redact_obj(obj["row"])))
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InputError(f"line {number} ({obj['table']}): {first['loc']}: {first['msg']}; nothing was imported") from None
    if header is None:
        raise InputError("the file is empty; nothing was imported")
    _check_references(rows)
    return header, rows


def _check_references(rows: dict[str, list[_Row]]) -> None:
    trajectories = {r.id for r in rows["trajectories"]}
    items = {r.id for r in rows["items"]}
    recalls = {r.id for r in rows["recall_events"]}
    for r in rows["item_sources"]:
        if r.item_id not in items or r.trajectory_id not in trajectories:
            raise InputError(f"item_sources ({r.item_id}, {r.trajectory_id}) points at a missing row; nothing imported")
    for r in rows["item_history"]:
        if r.item_id not in items:
            raise InputError(f"item_history {r.id} points at missing item {r.item_id}; nothing was imported")
    for r in rows["recall_hits"]:
        if r.item_id not in items or r.recall_id not in recalls:
            raise InputError(f"recall_hits ({r.recall_id}, {r.item_id}) points at a missing row; nothing imported")
    for table in ("trajectories", "items"):
        for r in rows[table]:
            for field in ("steps", "files") if table == "trajectories" else ("files", "tags"):
                try:
                    json.loads(getattr(r, field))
                except (TypeError, json.JSONDecodeError):
                    raise InputError(f"{table} {r.id}: {field} is not a JSON list; nothing was imported") from None


def import_from(bank: Bank, lines: Iterable[str]) -> dict[str, int]:
    header, rows = _parse(lines)
    store = bank.store
    reuse_vectors = header.get("model") is not None and header.get("model") == bank.embedder.name
    if any(rows[t] for t in ("items", "trajectories")):
        bank.ready_vectors()
    counts: dict[str, int] = {}
    remap: dict[str, dict[int, int]] = {t: {} for t in TABLES}
    vectors = _vectors(bank, rows, reuse_vectors)
    with store.transaction() as db:
        for table in TABLES:
            for row in rows[table]:
                data = row.model_dump()
                _apply_remap(table, data, remap)
                if table in BLOBS:
                    data[BLOBS[table]] = vectors.get((table, row.id))
                new_id = _insert(db, table, data)
                if hasattr(row, "id") and new_id is not None:
                    remap[table][row.id] = new_id
            counts[table] = len(rows[table])
        for item_id in remap["items"].values():
            store.index_item(db, item_id)
        for trajectory_id in remap["trajectories"].values():
            store.index_task(db, trajectory_id)
    return counts


def _vectors(bank: Bank, rows: dict[str, list[_Row]], reuse: bool) -> dict[tuple[str, int], bytes | None]:
    out: dict[tuple[str, int], bytes | None] = {}
    todo: list[tuple[tuple[str, int], str]] = []
    for r in rows["items"]:
        if reuse and r.embedding:
            out[("items", r.id)] = base64.b64decode(r.embedding)
        else:
            todo.append((("items", r.id), f"{r.title}\n{r.description}\n{r.content}"))
    for r in rows["trajectories"]:
        if r.role == "refine":
            out[("trajectories", r.id)] = None
        elif reuse and r.task_embedding:
            out[("trajectories", r.id)] = base64.b64decode(r.task_embedding)
        else:
            todo.append((("trajectories", r.id), r.task))
    dim = bank.embedder.dim * 4
    for key, blob in list(out.items()):
        if blob is not None and len(blob) != dim:
            raise InputError(f"{key[0]} {key[1]}: vector has the wrong size for {bank.embedder.name}; nothing imported")
    for start in range(0, len(todo), 64):
        chunk = todo[start : start + 64]
        for (key, _), vec in zip(chunk, bank.embedder.embed([t for _, t in chunk])):
            out[key] = vec.astype("float32").tobytes()
    return out


def _apply_remap(table: str, data: dict[str, Any], remap: dict[str, dict[int, int]]) -> None:
    refs = {
        "trajectories": {"recall_id": "recall_events"},
        "items": {"trajectory_id": "trajectories", "superseded_by": "items"},
        "item_sources": {"item_id": "items", "trajectory_id": "trajectories"},
        "item_history": {"item_id": "items"},
        "recall_hits": {"recall_id": "recall_events", "item_id": "items"},
    }.get(table, {})
    for column, target in refs.items():
        if data.get(column) is not None:
            data[column] = remap[target].get(data[column])
    if table == "items":
        data["content"] = redact(data["content"])


def _insert(db: Any, table: str, data: dict[str, Any]) -> int | None:
    if table == "groups":
        db.execute(
            "insert or ignore into groups (group_id, task, project, created_at, contrasted_at) values (?, ?, ?, ?, ?)",
            (data["group_id"], data["task"], data["project"], data["created_at"], data["contrasted_at"]),
        )
        return None
    if "id" in data and db.execute(f"select 1 from {table} where id = ?", (data["id"],)).fetchone():
        data = {k: v for k, v in data.items() if k != "id"}
    if table in ("item_sources", "recall_hits") and any(v is None for k, v in data.items() if k.endswith("_id")):
        return None
    columns = list(data)
    cur = db.execute(
        f"insert or ignore into {table} ({', '.join(columns)}) values ({', '.join('?' * len(columns))})",
        [data[c] for c in columns],
    )
    return int(cur.lastrowid) if "id" in ROW_MODELS[table].model_fields else None
