"""Bank administration behind the CLI: stats, doctor, reembed. Export/import live in `transfer`."""

from __future__ import annotations

import json
import platform
import sys
from typing import Any

from rb_mcp import __version__
from rb_mcp.embed import FastEmbedder, check_default_model
from rb_mcp.errors import StoreError
from rb_mcp.loop.bank import Bank
from rb_mcp.models import Stats
from rb_mcp.store import Store, migrations, open_store, to_blob
from rb_mcp.store import is_url as _is_url
from rb_mcp.store.sqlite import driver_info


def stats(bank: Bank) -> Stats:
    store = bank.store
    items: dict[str, int] = {}
    for kind, status, n in store.query("select kind, status, count(*) from items group by kind, status"):
        items[f"{kind}/{status}"] = n
    items["total"] = sum(items.values())
    trajectories = {s: n for s, n in store.query("select status, count(*) from trajectories group by status")}
    trajectories["total"] = sum(trajectories.values())
    projects = [
        {"scope": scope, "items": n}
        for scope, n in store.query(
            "select scope, count(*) from items where status = 'active' group by scope order by count(*) desc limit 50"
        )
    ]
    model, _ = store.vector_model()
    return Stats(
        items=items,
        trajectories=trajectories,
        recalls=store.one("select count(*) from recall_events")[0],
        projects=projects,
        bank=str(store.path),
        schema_version=store.schema_version,
        model=model or f"(not bound yet; will use {bank.config.model})",
    )


def doctor(config: Any, load_model: bool = True) -> tuple[list[tuple[str, str, str]], bool]:
    """Checks as (name, status ok|warn|fail, detail); the bool says whether all essentials pass.

    Degraded modes are warnings, not failures: a bank this user cannot write still answers recall,
    and without the model recall falls back to keyword search.
    """
    checks: list[tuple[str, str, str]] = []
    info = driver_info()
    checks.append(("python", "ok", f"{platform.python_version()} ({sys.executable})"))
    checks.append(("rb-mcp", "ok", __version__))
    checks.append(("sqlite driver", "ok", f"{info['driver']}, SQLite {info['sqlite_version']}"))
    if _is_url(config.bank):
        return _pg_doctor(config, checks, load_model)
    try:
        store = open_store(config.bank)
    except Exception as exc:
        checks.append(("bank", "fail", f"{config.bank}: {exc}"))
        scratch = open_store(":memory:")  # still say whether sqlite-vec and FTS5 work here
        checks += _engine_checks(scratch)
        scratch.close()
    else:
        checks += _engine_checks(store)
        try:
            _store_checks(store, config.model, checks)
        except StoreError as exc:  # a damaged file can fail any query: report it, never crash
            checks.append(("bank", "fail", str(exc)))
        store.close()
    return _model_checks(config, checks, load_model)


def _model_checks(config: Any, checks: list[tuple[str, str, str]], load_model: bool) -> tuple[list, bool]:
    if config.model == FastEmbedder().name:
        mc = check_default_model()
        checks.append(
            ("model file", "ok" if mc.detail == "ok" else "fail", f"{mc.onnx_path} sha256 {mc.detail}")
        )
    else:
        checks.append(("model file", "ok", f"{config.model} (fastembed catalog; needs hub access or cache)"))
    if load_model:
        try:
            emb = FastEmbedder(config.model)
            vec = emb.embed(["doctor check"])
            checks.append(("embedding", "ok", f"{config.model} loaded, dim {vec.shape[1]}"))
        except Exception as exc:
            checks.append(("embedding", "fail", f"{exc}; recall falls back to keyword search only"))
    from rb_mcp.llm import llm_checks

    checks += llm_checks(config, probe=load_model)
    ok = all(status != "fail" for _, status, _ in checks)
    return checks, ok


def _pg_doctor(config: Any, checks: list[tuple[str, str, str]], load_model: bool) -> tuple[list, bool]:
    """The team bank: PostgreSQL server and pgvector versions, schema, model binding, consistency."""
    from rb_mcp.store.pgsql import redact_url

    try:
        store = open_store(config.bank)
    except Exception as exc:
        checks.append(("bank", "fail", f"{redact_url(str(config.bank))}: {exc}"))
        return _model_checks(config, checks, load_model)
    try:
        checks.append(("backend", "ok", f"PostgreSQL {store.server_version} through {store.driver}"))
        checks.append(("pgvector", "ok", f"{store.vec_version} (HNSW, cosine)"))
        from rb_mcp.store import pg_migrations as pgmigrations

        checks.append(
            ("bank", "ok", f"{store.path} (schema {store.schema_version} of {pgmigrations.LATEST})")
        )
        _binding_checks(store, config.model, checks)
    except StoreError as exc:
        checks.append(("bank", "fail", str(exc)))
    finally:
        store.close()
    return _model_checks(config, checks, load_model)


def _engine_checks(store: Store) -> list[tuple[str, str, str]]:
    checks: list[tuple[str, str, str]] = []
    # Search runs on rb-mcp's own index (rb_mcp.vindex); sqlite-vec only lets migration 2 drop the
    # vec0 tables of a bank written before it, so a missing sqlite-vec is no degraded mode.
    if store.vec_version:
        checks.append(("sqlite-vec", "ok", f"{store.vec_version} loaded through {store.driver}"))
    else:
        checks.append(("sqlite-vec", "ok", f"not loaded ({store.vec_error}); not needed: vector search uses "
                       "rb-mcp's own index (only upgrading a bank from before schema 2 needs it)"))  # fmt: skip
    fts = store.one("select sqlite_compileoption_used('ENABLE_FTS5')")[0]
    checks.append(("fts5", "ok" if fts else "fail", "available" if fts else "SQLite lacks FTS5"))
    return checks


def _store_checks(store: Store, wanted_model: str, checks: list[tuple[str, str, str]]) -> None:
    """Append the bank's checks one by one, so those done before a failing query are kept."""
    where = f"{store.path} (schema {store.schema_version} of {migrations.LATEST})"
    if store.read_only:
        checks.append(("bank", "warn", f"{where} is read-only for this user: recall works, recording fails"))
    else:
        checks.append(("bank", "ok", where))
    journal = store.one("pragma journal_mode")[0]
    checks.append(("journal", "ok" if journal == "wal" or store.read_only else "warn", journal))
    try:
        quick = [r[0] for r in store.query("pragma quick_check(5)")]
        found = "; ".join(quick) + "; move the bank aside and restore a copy made with `rb-mcp backup`"
    except StoreError as exc:  # a damaged b-tree can stop the check itself
        quick, found = [], str(exc)
    checks.append(("integrity", "ok", "quick_check ok") if quick == ["ok"] else ("integrity", "fail", found))
    _binding_checks(store, wanted_model, checks)


def _binding_checks(store: Any, wanted_model: str, checks: list[tuple[str, str, str]]) -> None:
    """The model the bank's vectors come from, and whether rows and indexes agree (either backend)."""
    model, dim = store.vector_model()
    if model and model != wanted_model:
        checks.append(
            ("bank model", "fail", f"bank uses {model}, config asks {wanted_model}: run rb-mcp reembed")
        )
    else:
        checks.append(("bank model", "ok", f"{model or '(unbound)'}{f' dim {dim}' if dim else ''}"))
    problems = store.consistency_problems()
    checks.append(
        ("consistency", "fail" if problems else "ok", "; ".join(problems) or "rows and indexes agree")
    )


def reembed(bank: Bank, model: str, progress: Any = None) -> dict[str, int]:
    """Switch the bank to another embedding model: re-embed every item and task, never mixing models."""
    new = FastEmbedder(model)
    store = bank.store
    items = store.query("select id, title, description, content from items")
    tasks = store.query("select id, task from trajectories where role != 'refine'")
    item_vecs: list[tuple[int, bytes]] = []
    for start in range(0, len(items), 64):
        chunk = items[start : start + 64]
        vecs = new.embed([f"{t}\n{d}\n{c}" for _, t, d, c in chunk])
        item_vecs += [(row[0], to_blob(v)) for row, v in zip(chunk, vecs)]
        if progress:
            progress(len(chunk))
    task_vecs: list[tuple[int, bytes]] = []
    for start in range(0, len(tasks), 64):
        chunk = tasks[start : start + 64]
        vecs = new.embed([t for _, t in chunk])
        task_vecs += [(row[0], to_blob(v)) for row, v in zip(chunk, vecs)]
        if progress:
            progress(len(chunk))
    with store.transaction() as db:
        store.drop_vectors(db)
        store.set_meta(db, "embed_model", model)
        store.set_meta(db, "embed_dim", str(new.dim))
        db.executemany("update items set embedding = ? where id = ?", [(b, i) for i, b in item_vecs])
        db.executemany(
            "update trajectories set task_embedding = ? where id = ?", [(b, i) for i, b in task_vecs]
        )
        for item_id, _ in item_vecs:
            store.index_item(db, item_id)
        for trajectory_id, _ in task_vecs:
            store.index_task(db, trajectory_id)
    bank.embedder = new
    bank._vectors_ready = True
    return {"items": len(item_vecs), "tasks": len(task_vecs)}


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)
