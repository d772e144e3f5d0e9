"""`rb-mcp` command line: a thin adapter over the Bank API, one subcommand per operation.

Every command opens the bank, calls one function and turns `RbError` into a one-line message on
stderr with exit code 1. Output meant for people goes to stdout, except under `serve`, where
stdout belongs to the MCP protocol and nothing else may write there.

Each command imports what it needs inside its function, on purpose: `rb-mcp serve` must answer the
MCP handshake without importing numpy, the store or the model (tests/test_contract.py checks), and
the hooks and short commands must start fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from rb_mcp import __version__, cli_items
from rb_mcp.cli_items import bank_of as _bank
from rb_mcp.cli_items import out as _out
from rb_mcp.config import SETTINGS, Config
from rb_mcp.errors import RbError


class Progress:
    """A small stderr progress bar (no dependency); silent when stderr is not a terminal."""

    def __init__(self, total: int, label: str):
        self.total, self.label, self.done = max(total, 1), label, 0
        self.tty = sys.stderr.isatty()

    def __call__(self, n: int = 1) -> None:
        self.done += n
        if self.tty:
            width = 30
            filled = int(width * self.done / self.total)
            sys.stderr.write(
                f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}"
            )
            sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def cmd_serve(args: argparse.Namespace) -> int:
    config = Config.from_env(args.bank)
    logging.basicConfig(
        level=config.log_level, stream=sys.stderr, format="rb-mcp %(levelname)s %(name)s: %(message)s"
    )
    if args.http:
        from rb_mcp.server.http import HttpOptions, serve

        serve(config, HttpOptions(
            host=args.host or config.http_host, port=args.port or config.http_port,
            allowed_origins=config.http_allowed_origins + tuple(args.allowed_origin or ()),
            allowed_hosts=config.http_allowed_hosts + tuple(args.allowed_host or ()),
        ))  # fmt: skip
        return 0
    if args.host or args.port or args.allowed_origin or args.allowed_host:
        raise RbError("--host, --port, --allowed-origin and --allowed-host need --http")
    from rb_mcp.server.app import serve_stdio

    serve_stdio(config)
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from rb_mcp import auth
    from rb_mcp.store import open_store

    store = open_store(Config.from_env(args.bank).bank)
    try:
        if args.action == "create":
            token_id, secret = auth.create_token(store, args.identity, args.scope, args.name or "")
            print(secret)
            print(
                f"token {token_id} for {args.identity.strip().lower()} created; this is the only time its secret "
                "is shown: store it now",
                file=sys.stderr,
            )
        elif args.action == "list":
            found = auth.list_tokens(store, include_revoked=args.all)
            if args.json:
                _out([vars(t) | {"active": t.active} for t in found])
            for t in [] if args.json else found:
                state = f"revoked {t.revoked_at[:19]}" if t.revoked_at else "active"
                used = (t.last_used_at or "never")[:19]
                print(
                    f"#{t.id:<4} {t.identity:<16} {','.join(t.projects):<30} {state:<28} used {used}  {t.name}"
                )
            if not found and not args.json:
                print("no access tokens")
        else:
            missing = [i for i in args.ids if not auth.revoke_token(store, i)]
            if missing:
                raise RbError(f"no access token(s) {missing}; see `rb-mcp token list --all`")
            print(f"revoked {len(args.ids)} token(s)")
    finally:
        store.close()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from rb_mcp.server.demo import run_demo

    return run_demo(keep=args.keep)


def cmd_recall(args: argparse.Namespace) -> int:
    with _bank(args) as bank:
        result = bank.recall(args.task, args.project, args.k, args.kind or None, root=args.root)
    if args.json:
        _out(result.model_dump(mode="json"))
    else:
        print(result.guidance)
        print(f"\n(recall_id={result.recall_id}{', control: memory withheld' if result.control else ''})")
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    items = None
    if args.items:
        raw = sys.stdin.read() if args.items == "-" else Path(args.items).read_text()
        items = json.loads(raw)
        if not isinstance(items, list):
            raise RbError("--items must hold a JSON list of {title, description, content} objects")
    with _bank(args) as bank:
        result = bank.record(
            task=args.task, steps=args.step or None, summary=args.summary, outcome=args.outcome,
            rationale=args.rationale, items=items, files=args.file or None, project=args.project,
            recall_id=args.recall_id, group_id=args.group_id, trajectory_id=args.trajectory_id, root=args.root,
        )  # fmt: skip
    _out(result.model_dump(mode="json", exclude_none=True))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from rb_mcp.loop.transfer import export_to

    with _bank(args) as bank:
        if args.output == "-":
            n = export_to(bank, sys.stdout)
        else:
            with open(args.output, "w", encoding="utf-8") as fh:
                n = export_to(bank, fh)
    print(f"exported {n} rows", file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from rb_mcp.loop.transfer import import_from

    with _bank(args) as bank:
        if args.input == "-":
            counts = import_from(bank, sys.stdin)
        else:
            with open(args.input, encoding="utf-8") as fh:
                counts = import_from(bank, fh)
    _out({"imported": counts})
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from rb_mcp.admin import stats
    from rb_mcp.loop.effect import effect_stats, render

    if args.effect:
        with _bank(args) as bank:
            report = effect_stats(bank)
        print(report.model_dump_json(indent=2) if args.json else "\n".join(render(report)))
        return 0
    with _bank(args) as bank:
        result = stats(bank)
    if args.json:
        _out(result.model_dump(mode="json"))
        return 0
    print(f"bank {result.bank} (schema {result.schema_version}, model {result.model})")
    print("items " + ", ".join(f"{k} {v}" for k, v in result.items.items()))
    print("trajectories " + ", ".join(f"{k} {v}" for k, v in result.trajectories.items()))
    print(f"recalls {result.recalls}")
    print("\nguidance injected by recalls (tokens estimated as characters / 4):")
    print(f"{'day':<10}  {'project':<36} {'recalls':>7} {'items':>6} {'tokens':>8}")
    for row in result.guidance:
        print(
            f"{row['day']:<10}  {row['project'][:36]:<36} {row['recalls']:>7} {row['items']:>6} "
            f"{row['guidance_tokens']:>8}"
        )
    total = [sum(r[k] for r in result.guidance) for k in ("recalls", "items", "guidance_tokens")]
    print(f"{'total':<10}  {'':<36} {total[0]:>7} {total[1]:>6} {total[2]:>8}")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from rb_mcp.ui.serve import run

    config = Config.from_env(args.bank)
    logging.basicConfig(
        level=config.log_level, stream=sys.stderr, format="rb-mcp %(levelname)s %(name)s: %(message)s"
    )
    return run(config, args.host, args.port, open_browser=not args.no_browser)


def cmd_doctor(args: argparse.Namespace) -> int:
    from rb_mcp.admin import doctor

    checks, ok = doctor(Config.from_env(args.bank), load_model=not args.no_model)
    if args.json:
        _out({"ok": ok, "checks": [{"check": c, "status": s, "detail": d} for c, s, d in checks]})
    else:
        for name, status, detail in checks:
            print(f"[{status:>4}] {name:<14} {detail}")
        print("all essential checks pass" if ok else "some checks FAILED: see above")
    return 0 if ok else 1


def cmd_reembed(args: argparse.Namespace) -> int:
    from rb_mcp.admin import reembed, reembed_size

    with _bank(args) as bank:
        bar = Progress(reembed_size(bank), "re-embedding")
        counts = reembed(bank, args.model, progress=bar)
        bar.close()
    _out({"model": args.model, **counts})
    return 0


def cmd_distill(args: argparse.Namespace) -> int:
    from rb_mcp.llm import http_from_config
    from rb_mcp.loop.bank import Bank

    if args.limit is not None and args.limit < 1:
        raise RbError("--limit must be 1 or more")
    config = Config.from_env(args.bank)
    llm = http_from_config(config)
    if llm is None:
        raise RbError(
            "no server-side model: set RB_MCP_LLM_BASE_URL (an OpenAI-compatible endpoint, e.g. "
            "http://127.0.0.1:11434/v1) and RB_MCP_LLM_MODEL; pending trajectories stay queued until then"
        )
    logging.basicConfig(
        level=config.log_level, stream=sys.stderr, format="rb-mcp %(levelname)s %(name)s: %(message)s"
    )
    bar = Progress(0, "distilling")

    def progress(done: float, total: float, _message: str) -> None:
        bar.total = max(int(total), 1)
        bar(int(done) - bar.done)

    with Bank(config) as bank:
        report = bank.distill_pending(llm, args.limit, progress, sweep=args.consolidate)
    bar.close()
    _out(report.model_dump(mode="json"))
    if report.stopped:
        print(f"rb-mcp: stopped early: {report.stopped}", file=sys.stderr)
        return 1
    return 0


def cmd_hook(args: argparse.Namespace) -> int:
    from rb_mcp.hooks.cli import run

    return run(args.event, sys.stdin, sys.stdout)


def cmd_copy(args: argparse.Namespace) -> int:
    from rb_mcp.loop.transfer import append_bank
    from rb_mcp.store import open_store
    from rb_mcp.store.copy import copy_bank

    target = Config.from_env(args.destination).bank
    src = open_store(Config.from_env(args.source).bank)
    written_to = str(target)
    try:
        bar = Progress(sum(src.row_counts().values()), "copying")
        if args.append:
            counts = append_bank(src, target, progress=bar)
        else:
            dst = open_store(target)
            try:
                counts = copy_bank(src, dst, progress=bar)
                written_to = str(dst.path)
            finally:
                dst.close()
        bar.close()
    finally:
        src.close()
    _out({"copied": counts, "from": str(src.path), "to": written_to})
    return 0


def cmd_backup(args: argparse.Namespace) -> int:

    with _bank(args) as bank:
        bank.backup(args.target)
    print(f"backup written to {args.target}")
    return 0


ROOT_HELP = "working tree to check memory anchors in (default: the git repository of the current directory)"


def build_parser() -> argparse.ArgumentParser:
    epilog = "environment:\n" + "\n".join(f"  {s.env:<24} {s.help}" for s in SETTINGS.values())
    parser = argparse.ArgumentParser(
        prog="rb-mcp", description="ReasoningBank memory for coding agents (MCP server and CLI).",
        epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"rb-mcp {__version__}")
    bank = argparse.ArgumentParser(add_help=False)
    bank.add_argument(
        "--bank",
        metavar="PATH",
        help="bank file or postgresql:// URL (default: $RB_MCP_BANK or the user data dir)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, fn: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[bank], help=help_, description=help_)
        p.set_defaults(fn=fn)
        return p

    p = add("serve", cmd_serve, "run the MCP server over stdio (what MCP clients start), or over HTTP")
    p.add_argument(
        "--http", action="store_true", help="serve streamable HTTP at http://HOST:PORT/mcp instead"
    )
    p.add_argument("--host", help="with --http: address (default $RB_MCP_HTTP_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="with --http: port (default $RB_MCP_HTTP_PORT or 8765)")
    p.add_argument(
        "--allowed-origin", action="append", metavar="ORIGIN", help="with --http: also allow this Origin"
    )
    p.add_argument(
        "--allowed-host", action="append", metavar="HOST", help="with --http: also allow this Host header"
    )
    about = "create, list and revoke the access tokens of the HTTP server (serve --http)"
    p = sub.add_parser("token", help=about, description=about)
    p.set_defaults(fn=cmd_token)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    t = actions.add_parser("create", parents=[bank], help="create a token; prints its secret once")
    t.add_argument(
        "--identity", required=True, help="who the token speaks for (personal memory is per identity)"
    )
    t.add_argument(
        "--scope", action="append", metavar="PROJECT", help="a project it may see (repeatable; default: all)"
    )
    t.add_argument("--name", help="a note to recognise the token by (a machine, a client)")
    t = actions.add_parser("list", parents=[bank], help="list tokens (never their secrets)")
    t.add_argument("--all", action="store_true", help="include revoked tokens")
    t.add_argument("--json", action="store_true")
    t = actions.add_parser("revoke", parents=[bank], help="revoke tokens; refused from the next request on")
    t.add_argument("ids", type=int, nargs="+", metavar="ID")
    p = add(
        "demo", cmd_demo, "record -> recall -> refine against a throwaway bank, through a real MCP client"
    )
    p.add_argument("--keep", action="store_true", help="keep the throwaway bank and print its path")
    p = add("recall", cmd_recall, "recall memory items for a task")
    p.add_argument("task")
    p.add_argument("--project")
    p.add_argument("-k", type=int)
    p.add_argument("--kind", action="append", choices=["strategy", "pitfall", "note"])
    p.add_argument("--root", metavar="DIR", help=ROOT_HELP)
    p.add_argument("--json", action="store_true")
    p = add("record", cmd_record, "record a trajectory (and its items) from the command line")
    p.add_argument("--task")
    p.add_argument("--step", action="append", help="one step (repeatable)")
    p.add_argument("--summary")
    p.add_argument("--outcome", choices=["success", "failure", "impossible"])
    p.add_argument("--rationale")
    p.add_argument(
        "--items", metavar="FILE", help="JSON list of items ({title, description, content}); - for stdin"
    )
    p.add_argument("--file", action="append", help="a file the work touched (repeatable)")
    p.add_argument("--project")
    p.add_argument("--recall-id")
    p.add_argument("--group-id")
    p.add_argument("--trajectory-id", type=int)
    p.add_argument("--root", metavar="DIR", help=ROOT_HELP)
    cli_items.add_commands(add)
    p = add("export", cmd_export, "export the bank as JSONL (lossless)")
    p.add_argument("output", help="file, or - for stdout")
    p = add("import", cmd_import, "import a JSONL export (validated before anything is written)")
    p.add_argument("input", help="file, or - for stdin")
    p = add(
        "stats", cmd_stats, "counts of items, trajectories and recalls; guidance tokens per day and project"
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--effect", action="store_true", help="success rate after recalled memory vs without")
    p = add("ui", cmd_ui, "open the review page: see, search and curate the memory in a local web page")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (127.0.0.1 or ::1)")
    p.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    p.add_argument("--no-browser", action="store_true", help="only print the page's address")
    p = add("doctor", cmd_doctor, "check the sqlite build, sqlite-vec, the model file and the bank")
    p.add_argument("--no-model", action="store_true", help="skip loading the embedding model")
    p.add_argument("--json", action="store_true")
    p = add("reembed", cmd_reembed, "switch the bank to another embedding model (re-embeds everything)")
    p.add_argument("--model", required=True)
    p = add("distill", cmd_distill, "judge and distill the queued trajectories with the configured endpoint")
    p.add_argument("--limit", type=int, help="at most this many trajectories")
    p.add_argument(
        "--consolidate",
        action="store_true",
        help="also let the model settle near-duplicate item pairs it has not seen",
    )
    # No --bank and no `choices`: hooks read RB_MCP_BANK, and argparse's exit 2 on a bad choice would
    # block the user's prompt (a hook must always exit 0).
    about = "run one Claude Code hook: the event's JSON on stdin, only the client's answer on stdout; exits 0"
    p = sub.add_parser("hook", help=about, description=about)
    p.set_defaults(fn=cmd_hook)
    p.add_argument(
        "event",
        nargs="?",
        default="",
        metavar="EVENT",
        help="session-start, user-prompt-submit, stop or session-end",
    )
    p = sub.add_parser(
        "copy", help="copy a bank between SQLite and PostgreSQL, either way, losslessly",
        description="Copy every row, vector and setting of the bank SRC into the empty bank DST (a file "
        "path or a postgresql:// URL), with a progress bar on stderr.",
    )  # fmt: skip
    p.set_defaults(fn=cmd_copy)
    p.add_argument("source", metavar="SRC", help="bank file or postgresql:// URL to read")
    p.add_argument(
        "destination", metavar="DST", help="bank file or postgresql:// URL to write (must be empty)"
    )
    p.add_argument(
        "--append", action="store_true", help="import into a DST that already holds memory (new ids)"
    )
    p = add("backup", cmd_backup, "online copy of the bank with SQLite's backup API")
    p.add_argument("target")
    return parser


def one_blas_thread() -> None:
    """Keep numpy's BLAS to one thread in rb-mcp's own processes (before numpy is imported).

    OpenBLAS threads spin for a while after each call; on a 2-core machine they took the core the
    query model was running on: a recall at 10k items used 66 ms of CPU for 34 ms of wall time,
    and 34 ms of CPU for 26 ms with one BLAS thread. The vectors it multiplies are small enough
    that a second thread never paid off. A value the user set is left alone.
    """
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main(argv: list[str] | None = None) -> int:
    one_blas_thread()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["serve", *(argv or sys.argv[1:])])
    try:
        return args.fn(args)
    except RbError as exc:
        print(f"rb-mcp: {exc}", file=sys.stderr)
        return 1
    except (OSError, json.JSONDecodeError, ValueError) as exc:
        print(f"rb-mcp: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
