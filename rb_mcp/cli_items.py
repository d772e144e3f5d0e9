"""The CLI's commands over memory items: list, show, forget, promote, restore, maintain (each opens a
Bank and calls one method). `rb_mcp.cli.build_parser` adds them with `add_commands`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from rb_mcp.config import Config
from rb_mcp.errors import RbError

Add = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]


def bank_of(args: argparse.Namespace):
    from rb_mcp.loop.bank import Bank

    return Bank(Config.from_env(args.bank))


def out(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def cmd_list(args: argparse.Namespace) -> int:

    with bank_of(args) as bank:
        found = bank.items(args.project, args.kind, args.all, args.limit, args.status)
    if args.json:
        out([i.model_dump(mode="json") for i in found])
        return 0
    if not found:
        print("no memory items")
    for item in found:
        state = "" if item.status == "active" else f" [{item.status}]"
        print(f"#{item.id:<5} {item.kind:<8} {item.scope[:28]:<28} +{item.helped}/-{item.harmed} x{item.strength}  {item.title}{state}")  # fmt: skip
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    with bank_of(args) as bank:
        missing = bank.restore(args.ids)
    if missing:
        raise RbError(
            f"no archived or superseded memory item(s) {missing}; see `rb-mcp list --status archived`"
        )
    print(f"restored {len(args.ids)} item(s)")
    return 0


def cmd_maintain(args: argparse.Namespace) -> int:
    with bank_of(args) as bank:
        report = bank.maintain(dry_run=args.dry_run)
    if args.json:
        out(report.model_dump(mode="json"))
        return 0
    verb = "would archive" if report.dry_run else "archived"
    expiry = f"expiry after {report.expire_days} days" if report.expire_days else "expiry off"
    print(
        f"{verb} {len(report.archived)} item(s) of {report.checked} old or judged enough to weigh ({expiry})"
    )
    for item in report.archived:
        print(f"#{item.id:<5} {item.scope[:28]:<28} {item.title[:60]}\n       {item.reason}")
    print(
        "nothing is deleted: `rb-mcp list --status archived` lists them, `rb-mcp restore ID` brings one back"
    )
    return 0


def cmd_show(args: argparse.Namespace) -> int:

    with bank_of(args) as bank:
        data = bank.item(args.id)
    if data is None:
        raise RbError(f"no memory item {args.id}; see `rb-mcp list`")
    out(data)
    return 0


def cmd_forget(args: argparse.Namespace) -> int:

    with bank_of(args) as bank:
        missing = bank.forget(args.ids, hard=not args.archive)
    if missing:
        raise RbError(f"no memory item(s) {missing}; nothing else changed")
    print(f"{'archived' if args.archive else 'forgot'} {len(args.ids)} item(s)")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    with bank_of(args) as bank:
        scope = bank.scope_of(args.to) if args.to else "global"
        if not bank.move(args.id, scope or "global"):
            raise RbError(f"no memory item {args.id}")
    print(f"item {args.id} now in scope {scope}")
    return 0


def add_commands(add: Add) -> None:
    """Add the item commands to the parser through `add(name, fn, help)` (it returns the subparser)."""
    p = add("list", cmd_list, "list memory items")
    p.add_argument("--project")
    p.add_argument("--kind", choices=["strategy", "pitfall", "note"])
    p.add_argument("--all", action="store_true", help="include superseded and archived items")
    p.add_argument("--status", choices=["active", "archived", "superseded"], help="only items of this status")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p = add("show", cmd_show, "show one memory item with its history and sources")
    p.add_argument("id", type=int)
    p = add("forget", cmd_forget, "delete memory items (rows, vectors and FTS entries)")
    p.add_argument("ids", type=int, nargs="+")
    p.add_argument("--archive", action="store_true", help="archive instead of delete (kept, never recalled)")
    p = add("restore", cmd_restore, "bring archived or superseded memory items back into recall")
    p.add_argument("ids", type=int, nargs="+", metavar="ID")
    p = add(
        "maintain", cmd_maintain,
        "archive expired items (RB_MCP_EXPIRE_DAYS) and items that harm more than they help; never deletes",
    )  # fmt: skip
    p.add_argument("--dry-run", action="store_true", help="only list what would be archived")
    p.add_argument("--json", action="store_true")
    p = add("promote", cmd_promote, "move an item to the global scope (or another project)")
    p.add_argument("id", type=int)
    p.add_argument("--to", help="target project (default: global)")
