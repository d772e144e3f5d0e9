"""Bank administration behind the CLI: stats, doctor, reembed, and the item commands the `Bank` API
does not offer yet (list, show, forget, promote, backup). Export/import live in `loop.transfer`."""

from __future__ import annotations

import platform
import sys
from typing import Any

from rb_mcp import __version__
from rb_mcp.embed import BUNDLED, FastEmbedder, built_model_status, check_default_model, reembed_advice
from rb_mcp.errors import RbError, StoreError
from rb_mcp.llm import llm_checks
from rb_mcp.loop.bank import Bank
from rb_mcp.loop.items import item_text
from rb_mcp.loop.recall import estimate_guidance
from rb_mcp.models import Stats
from rb_mcp.store import GLOBAL, Store, absent_checks, open_store, to_blob, unopened_checks
from rb_mcp.store.sqlite import driver_info


def stats(bank: Bank) -> Stats:
    store = bank.store
    items: dict[str, int] = {}
    for kind, status, n in store.item_counts():
        items[f"{kind}/{status}"] = n
    items["total"] = sum(items.values())
    trajectories = dict(store.trajectory_counts())
    trajectories["total"] = sum(trajectories.values())
    projects = [{"scope": scope, "items": n} for scope, n in store.scope_counts(50)]
    model, _ = store.vector_model()
    return Stats(
        guidance=guidance_usage(store),
        items=items,
        trajectories=trajectories,
        recalls=store.recall_count(),
        projects=projects,
        bank=str(store.path),
        schema_version=store.schema_version,
        model=model or f"(not bound yet; will use {bank.config.model})",
    )


def guidance_usage(store: Store) -> list[dict[str, Any]]:
    """Per day and project, the recalls logged and the tokens of guidance they injected (estimated from
    the logged items, as `recall.estimate_guidance` says)."""
    return [
        {
            "day": day,
            "project": project or GLOBAL,
            "recalls": recalls,
            "items": items,
            "guidance_tokens": estimate_guidance(recalls, with_items, items, chars),
        }
        for day, project, recalls, with_items, items, chars in store.recall_usage()
    ]


# ---- doctor --------------------------------------------------------------------------------------
def doctor(config: Any, load_model: bool = True) -> tuple[list[tuple[str, str, str]], bool]:
    """Checks as (name, status ok|warn|fail, detail); the bool says whether all essentials pass.

    Degraded modes are warnings, not failures: a bank this user cannot write still answers recall,
    and without the model recall falls back to keyword search. What to say about the engine and
    the bank is the store's to tell (`engine_checks`, `bank_checks`), whichever backend it is.
    """
    checks: list[tuple[str, str, str]] = []
    info = driver_info()
    checks.append(("python", "ok", f"{platform.python_version()} ({sys.executable})"))
    checks.append(("rb-mcp", "ok", __version__))
    checks.append(("sqlite driver", "ok", f"{info['driver']}, SQLite {info['sqlite_version']}"))
    absent = absent_checks(config.bank)
    if absent is not None:  # report, never create: the first tool call or command creates the bank
        checks += absent
        return _model_checks(config, checks, load_model)
    try:
        store = open_store(config.bank)
    except Exception as exc:
        checks += unopened_checks(config.bank, exc)
    else:
        checks += store.engine_checks()
        try:
            # Appended one by one, so the checks done before a failing query are kept.
            for check in store.bank_checks():
                checks.append(check)
            _binding_checks(store, config.model, checks)
        except StoreError as exc:  # a damaged file can fail any query: report it, never crash
            checks.append(("bank", "fail", str(exc)))
        finally:
            store.close()
    return _model_checks(config, checks, load_model)


def _model_checks(config: Any, checks: list[tuple[str, str, str]], load_model: bool) -> tuple[list, bool]:
    if config.model in BUNDLED:
        mc = check_default_model(full=True)
        checks.append(
            ("model file", "ok" if mc.detail == "ok" else "fail", f"{mc.onnx_path} sha256 {mc.detail}")
        )
        checks.append(("int8 model", *built_model_status()))
    else:
        checks.append(("model file", "ok", f"{config.model} (fastembed catalog; needs hub access or cache)"))
    if load_model:
        try:
            emb = FastEmbedder(config.model)
            vec = emb.embed(["doctor check"])
            checks.append(("embedding", "ok", f"{config.model} loaded, dim {vec.shape[1]}"))
        except Exception as exc:
            checks.append(("embedding", "fail", f"{exc}; recall falls back to keyword search only"))
    checks += llm_checks(config, probe=load_model)
    checks.append(_queue_check(config))
    ok = all(status != "fail" for _, status, _ in checks)
    return checks, ok


def _binding_checks(store: Store, wanted_model: str, checks: list[tuple[str, str, str]]) -> None:
    """The model the bank's vectors come from, and whether rows and indexes agree (either backend)."""
    model, dim = store.vector_model()
    advice = reembed_advice(model, wanted_model)
    if advice:
        checks.append(("bank model", "warn", advice))
    elif model and model != wanted_model:
        checks.append(
            ("bank model", "fail", f"bank uses {model}, config asks {wanted_model}: run rb-mcp reembed")
        )
    else:
        checks.append(("bank model", "ok", f"{model or '(unbound)'}{f' dim {dim}' if dim else ''}"))
    problems = store.consistency_problems()
    checks.append(
        ("consistency", "fail" if problems else "ok", "; ".join(problems) or "rows and indexes agree")
    )


def _queue_check(config: Any) -> tuple[str, str, str]:
    """The last of the llm lines: how many trajectories wait for a server-side model."""
    if not isinstance(config.bank, str) and not config.bank.exists():
        return ("llm: queue", "ok", "no bank yet")
    try:
        store = open_store(config.bank)
    except RbError as exc:
        return ("llm: queue", "warn", f"cannot read the bank: {exc}")
    try:
        waiting = store.waiting_count()
    finally:
        store.close()
    if not waiting:
        return ("llm: queue", "ok", "nothing waits for judging or distilling")
    return (
        "llm: queue",
        "ok",
        f"{waiting} trajectories wait for judging or distilling: run `rb-mcp distill`",
    )


def reembed_size(bank: Bank) -> int:
    """The rows `reembed` walks through (items and trajectories), for a progress bar."""
    counts = bank.store.row_counts()
    return counts["items"] + counts["trajectories"]


def reembed(bank: Bank, model: str, progress: Any = None) -> dict[str, int]:
    """Switch the bank to another embedding model: re-embed every item and task, never mixing models."""
    new = FastEmbedder(model)
    store = bank.store
    items = store.item_texts()
    tasks = store.task_texts()
    item_vecs: list[tuple[int, bytes]] = []
    for start in range(0, len(items), 64):
        chunk = items[start : start + 64]
        vecs = new.embed([item_text(t, d, c) for _, t, d, c in chunk])
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
    with store.transaction() as tx:
        store.drop_vectors(tx)
        store.set_meta(tx, "embed_model", model)
        store.set_meta(tx, "embed_dim", str(new.dim))
        store.set_item_embeddings(tx, item_vecs)
        store.set_task_embeddings(tx, task_vecs)
        for item_id, _ in item_vecs:
            store.index_item(tx, item_id)
        for trajectory_id, _ in task_vecs:
            store.index_task(tx, trajectory_id)
    bank.use_embedder(new)
    return {"items": len(item_vecs), "tasks": len(task_vecs)}
