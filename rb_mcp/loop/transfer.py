"""Export and import a bank as JSONL, losslessly.

One JSON object per line, `{"table": ..., "row": {...}}`, first a header line with the format
version and the embedding model. Vectors travel as base64 float32 so an import into a bank of the
same model needs no re-embedding. An export reads one snapshot of the bank (see
`Store.snapshot`), so it is consistent even while servers write. An import is validated
completely (types, enums, references, sizes, JSON shapes, base64, text encoding) and redacted
before the first row is written, then written in one transaction: a bad file changes nothing.
Rows keep their ids when those are free, so exporting and importing into an empty bank gives the
same bank back.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from rb_mcp import ids
from rb_mcp.config import Config
from rb_mcp.errors import InputError
from rb_mcp.loop.bank import Bank
from rb_mcp.loop.items import content_hash, item_text
from rb_mcp.models import (
    MAX_CONTENT,
    MAX_DESCRIPTION,
    MAX_FILES,
    MAX_ID,
    MAX_PATH,
    MAX_PROJECT,
    MAX_STEPS,
    MAX_SUMMARY,
    MAX_TAGS,
    MAX_TASK,
    MAX_TITLE,
    Anchors,
    Step,
)
from rb_mcp.redact import redact, redact_obj
from rb_mcp.store import Store
from rb_mcp.store.protocol import Tx
from rb_mcp.store.schema import TABLES

FORMAT = "rb-mcp-export/1"
BLOBS = {"trajectories": "task_embedding", "items": "embedding"}
# Values that are not prose: redacting them could only corrupt them (base64, hex digests).
UNREDACTED = {"task_embedding", "embedding", "content_hash"}

# SQLite integers are signed 64-bit: a larger id would fail inside the write transaction.
RowId = Annotated[int, Field(ge=1, le=2**63 - 1)]
Count = Annotated[int, Field(ge=0, le=2**63 - 1)]
Stamp = Annotated[str, Field(max_length=64)]
Project = Annotated[str | None, Field(max_length=MAX_PROJECT)]
Owner = Annotated[str, Field(max_length=64, pattern=r"^[a-z0-9._@-]*$")]  # an identity; "" = the local user

_STEPS = TypeAdapter(list[Step | Annotated[str, Field(max_length=MAX_SUMMARY)]])
_STRINGS = TypeAdapter(list[Annotated[str, Field(max_length=MAX_PATH)]])


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _encodable(cls, value: Any) -> Any:
        # JSON may spell lone surrogates ("\\ud800"); SQLite cannot store them as UTF-8.
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("text is not valid Unicode (lone surrogate)") from None
        return value


class RecallEventRow(_Row):
    id: RowId
    query: str = Field(max_length=MAX_TASK)
    project: Project
    k: Count
    created_at: Stamp
    credited_at: Stamp | None = None
    credited_outcome: Literal["success", "failure", "impossible"] | None = None
    owner: Owner = ""
    session_id: str | None = Field(None, max_length=200)
    control: Literal[0, 1] = 0
    returned: Count = 0


class TrajectoryRow(_Row):
    id: RowId
    task: str = Field(max_length=MAX_TASK)
    project: Project
    steps: str
    summary: str = Field(max_length=MAX_SUMMARY)
    outcome: Literal["success", "failure", "impossible"] | None
    rationale: str = Field(max_length=MAX_SUMMARY)
    files: str
    status: Literal["pending_verdict", "pending_items", "distilled", "signal"]
    role: Literal["task", "attempt", "refine"]
    recall_id: RowId | None
    group_id: str | None = Field(max_length=MAX_ID)
    iteration: Count | None
    task_embedding: str | None
    created_at: Stamp
    updated_at: Stamp
    owner: Owner = ""


class GroupRow(_Row):
    group_id: str = Field(max_length=MAX_ID)
    task: str = Field(max_length=MAX_TASK)
    project: Project
    created_at: Stamp
    contrasted_at: Stamp | None


class ItemRow(_Row):
    id: RowId
    title: str = Field(max_length=MAX_TITLE)
    description: str = Field(max_length=MAX_DESCRIPTION)
    content: str = Field(max_length=MAX_CONTENT)
    kind: Literal["strategy", "pitfall", "note"]
    scope: str = Field(min_length=1, max_length=MAX_PROJECT)
    trajectory_id: RowId | None
    files: str
    tags: str
    embedding: str | None
    content_hash: str = Field(max_length=64)
    recall_count: Count
    helped: Count
    harmed: Count
    strength: Count
    status: Literal["active", "superseded", "archived"]
    superseded_by: RowId | None
    created_at: Stamp
    updated_at: Stamp
    # Exports written before items had anchors carry neither column.
    anchors: str = Field("{}", max_length=50_000)
    stale_count: Count = 0
    reviewed_at: Stamp | None = None  # review state (rb-mcp ui); exports before it have none
    held: Literal[0, 1] = 0


class SourceRow(_Row):
    item_id: RowId
    trajectory_id: RowId
    relation: str = Field(max_length=40)


class HistoryRow(_Row):
    id: RowId
    item_id: RowId
    title: str = Field(max_length=MAX_TITLE)
    description: str = Field(max_length=MAX_DESCRIPTION)
    content: str = Field(max_length=MAX_CONTENT)
    reason: str = Field(max_length=200)
    changed_at: Stamp


class HitRow(_Row):
    recall_id: RowId
    item_id: RowId
    rank: Count
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
    return export_lines_of(bank.store)


def export_lines_of(store: Store) -> Iterator[str]:
    """The export of the bank `store` holds, read from one snapshot: the header line, then the rows."""
    with store.snapshot() as snap:
        meta = store.meta_in(snap, ("embed_model", "embed_dim"))
        dim = meta.get("embed_dim")
        yield json.dumps(
            {"format": FORMAT, "model": meta.get("embed_model"), "dim": int(dim) if dim else None}
        )
        for table in TABLES:
            for data in store.export_rows(snap, table):
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


# Scope names and group ids: a secret in one is stored as its redacted text with this bank's keyed
# digest (rb_mcp.ids), so two names that differ only in their secret stay two scopes.
ID_COLUMNS = {"project", "scope", "group_id"}


def _redact_row(row: dict[str, Any], id_key: str) -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        if k in UNREDACTED:
            out[k] = v
        elif k in ID_COLUMNS and isinstance(v, str) and v:
            out[k] = ids.rekeyed(v, id_key, MAX_PROJECT)
        else:
            out[k] = redact_obj(v)
    return out


def _parse(lines: Iterable[str], id_key: str = "") -> tuple[dict[str, Any], dict[str, list[_Row]]]:
    header: dict[str, Any] | None = None
    rows: dict[str, list[_Row]] = {t: [] for t in TABLES}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            raise InputError(f"line {number}: not JSON ({detail}); nothing was imported") from None
        if header is None:
            if not isinstance(obj, dict) or obj.get("format") != FORMAT:
                raise InputError(f"line 1 is not an {FORMAT} header; export the bank with `rb-mcp export`")
            header = obj
            continue
        if (
            not isinstance(obj, dict)
            or obj.get("table") not in ROW_MODELS
            or not isinstance(obj.get("row"), dict)
        ):
            raise InputError(f"line {number}: expected {{'table': one of {list(TABLES)}, 'row': {{...}}}}")
        try:
            row = ROW_MODELS[obj["table"]](**_redact_row(obj["row"], id_key))
        except (ValidationError, TypeError) as exc:
            detail = _first_error(exc)
            raise InputError(f"line {number} ({obj['table']}): {detail}; nothing was imported") from None
        _check_shapes(number, obj["table"], row)
        rows[obj["table"]].append(row)
    if header is None:
        raise InputError("the file is empty; nothing was imported")
    _check_references(rows)
    return header, rows


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(map(str, first['loc']))}: {first['msg']}"
    return str(exc)


def _check_shapes(number: int, table: str, row: _Row) -> None:
    """JSON columns hold what the bank reads back (lists of steps and strings); vectors are base64."""
    where = f"line {number} ({table})"
    checks: list[tuple[str, TypeAdapter[Any], int]] = []
    if isinstance(row, TrajectoryRow):
        checks = [("steps", _STEPS, MAX_STEPS), ("files", _STRINGS, MAX_FILES)]
    elif isinstance(row, ItemRow):
        checks = [("files", _STRINGS, MAX_FILES), ("tags", _STRINGS, MAX_TAGS)]
    for field, adapter, limit in checks:
        try:
            value = adapter.validate_json(getattr(row, field))
        except ValidationError as exc:
            raise InputError(f"{where}: {field} is not a JSON list of the right shape ({_first_error(exc)}); "
                             "nothing was imported") from None  # fmt: skip
        if len(value) > limit:
            raise InputError(
                f"{where}: {field} holds {len(value)} entries, more than {limit}; nothing was imported"
            )
    if isinstance(row, ItemRow) and row.anchors != "{}":
        try:
            Anchors.model_validate_json(row.anchors)
        except ValidationError as exc:
            raise InputError(f"{where}: anchors is not an anchors object ({_first_error(exc)}); "
                             "nothing was imported") from None  # fmt: skip
    blob = BLOBS.get(table)
    if blob and getattr(row, blob) is not None:
        try:
            base64.b64decode(getattr(row, blob), validate=True)
        except (binascii.Error, ValueError):
            raise InputError(f"{where}: {blob} is not base64; nothing was imported") from None


def _check_references(rows: dict[str, list[_Row]]) -> None:
    trajectories = {r.id for r in rows["trajectories"]}
    items = {r.id for r in rows["items"]}
    recalls = {r.id for r in rows["recall_events"]}
    for name in ("trajectories", "items", "recall_events", "item_history"):
        ids = [r.id for r in rows[name]]
        if len(ids) != len(set(ids)):
            raise InputError(f"{name} repeats an id; nothing was imported")
    for r in rows["item_sources"]:
        if r.item_id not in items or r.trajectory_id not in trajectories:
            raise InputError(
                f"item_sources ({r.item_id}, {r.trajectory_id}) points at a missing row; nothing imported"
            )
    for r in rows["item_history"]:
        if r.item_id not in items:
            raise InputError(f"item_history {r.id} points at missing item {r.item_id}; nothing was imported")
    for r in rows["recall_hits"]:
        if r.item_id not in items or r.recall_id not in recalls:
            raise InputError(
                f"recall_hits ({r.recall_id}, {r.item_id}) points at a missing row; nothing imported"
            )


def check_lines(lines: Iterable[str]) -> dict[str, int]:
    """Validate an export as `import_from` would, writing nothing; row counts per table."""
    _, rows = _parse(lines)
    return {table: len(found) for table, found in rows.items()}


def import_from(bank: Bank, lines: Iterable[str]) -> dict[str, int]:
    header, rows = _parse(lines, bank.id_key)
    store = bank.store
    reuse_vectors = header.get("model") is not None and header.get("model") == bank.embedder.name
    if any(rows[t] for t in ("items", "trajectories")):
        bank.ready_vectors()
    counts: dict[str, int] = {}
    remap: dict[str, dict[int, int]] = {t: {} for t in TABLES}
    vectors = _vectors(bank, rows, reuse_vectors)
    with store.transaction() as tx:
        for table in TABLES:
            for row in rows[table]:
                data = row.model_dump()
                _apply_remap(table, data, remap)
                if table in BLOBS:
                    data[BLOBS[table]] = vectors.get((table, row.id))
                new_id = _insert(store, tx, table, data)
                if hasattr(row, "id") and new_id is not None:
                    remap[table][row.id] = new_id
            counts[table] = len(rows[table])
        for item_id in remap["items"].values():
            store.index_item(tx, item_id)
        for trajectory_id in remap["trajectories"].values():
            store.index_task(tx, trajectory_id)
        store.sync_ids(tx)
    return counts


def _vectors(bank: Bank, rows: dict[str, list[_Row]], reuse: bool) -> dict[tuple[str, int], bytes | None]:
    out: dict[tuple[str, int], bytes | None] = {}
    todo: list[tuple[tuple[str, int], str]] = []
    for r in rows["items"]:
        if reuse and r.embedding:
            out[("items", r.id)] = base64.b64decode(r.embedding)
        else:
            todo.append((("items", r.id), item_text(r.title, r.description, r.content)))
    for r in rows["trajectories"]:
        if r.role == "refine":
            out[("trajectories", r.id)] = None
        elif reuse and r.task_embedding:
            out[("trajectories", r.id)] = base64.b64decode(r.task_embedding)
        else:
            todo.append((("trajectories", r.id), r.task))
    dim = bank.embedder.dim * 4
    for key, blob in list(out.items()):
        if blob is None:
            continue
        if len(blob) != dim:
            raise InputError(
                f"{key[0]} {key[1]}: vector has the wrong size for {bank.embedder.name}; nothing imported"
            )
        vec = memoryview(blob).cast("f")
        norm = math.sqrt(math.fsum(x * x for x in vec))
        if not math.isfinite(norm) or abs(norm - 1.0) > 1e-2:
            # A vector that is not unit length (or holds NaN) would skew every cosine it meets.
            raise InputError(f"{key[0]} {key[1]}: vector is not a unit-length embedding; nothing imported")
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
        # The text may have been redacted on the way in: the hash must match what is stored, or
        # consolidation would miss exact twins.
        data["content_hash"] = content_hash(data["title"], data["description"], data["content"])


def _insert(store: Store, tx: Tx, table: str, data: dict[str, Any]) -> int | None:
    # A link whose row was not imported (a reference the remap left empty) is dropped.
    if table in ("item_sources", "recall_hits") and any(
        v is None for k, v in data.items() if k.endswith("_id")
    ):
        return None
    return store.import_row(tx, table, data)


def append_bank(src: Store, dst_target: Any, progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Import `src` into a bank that already holds memory, through the export format."""
    lines = list(export_lines_of(src))
    model = src.vector_model()[0]
    config = Config.from_env(str(dst_target))
    if model:
        config = config.replace(model=model)
    with Bank(config) as bank:
        counts = import_from(bank, lines)
    if progress:
        progress(sum(counts.values()))
    return counts
