"""The layering the README draws, kept true: the arrows point down and nowhere else.

    surfaces   rb_mcp.server (MCP), rb_mcp.cli, rb_mcp.ui, rb_mcp.hooks
    admin      rb_mcp.admin, rb_mcp.auth
    loop       rb_mcp.loop (Bank and the ReasoningBank loop)
    services   rb_mcp.embed, rb_mcp.llm, rb_mcp.prompts
    store      rb_mcp.store (the only SQL and the only database drivers)
    base       rb_mcp.config, errors, models, clock, redact, project, visibility

Imports are read from the source with `ast`, including imports inside functions (a deferred import
is still an arrow); imports under `if TYPE_CHECKING:` are annotations only and are left out.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "rb_mcp"
SDK = ("mcp", "mcp_types")
DRIVERS = ("sqlite3", "sqlean", "sqlite_vec", "psycopg", "psycopg_pool", "pgvector")
LAYERS = {
    "surface": 5,
    "admin": 4,
    "loop": 3,
    "services": 2,
    "store": 1,
    "base": 0,
}
# SQL as it appears in string literals: a statement that names one of the bank's tables.
TABLES = (
    "_migrations|access_tokens|groups|item_fts|item_history|item_sources|item_vec|items|meta|recall_events|"
    "recall_hits|task_fts|task_vec|trajectories|vec_changes|vec_snapshot|sqlite_master|pg_\\w+"
)
SQL = re.compile(
    rf"\b(from|join)\s+({TABLES})\b|\binsert\s+(or\s+\w+\s+)?into\s+({TABLES})\b"
    rf"|\bupdate\s+({TABLES})\s+set\b|\bdelete\s+from\s+({TABLES})\b|\bpragma\s+\w+",
    re.IGNORECASE,
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def layer(module: str) -> str:
    top = module.split(".")[1] if "." in module else ""
    if top in ("server", "cli", "cli_items", "ui", "hooks", "__main__"):
        return "surface"
    if top in ("admin", "auth"):
        return "admin"
    if top == "loop":
        return "loop"
    if top in ("embed", "llm", "prompts"):
        return "services"
    if top == "store":
        return "store"
    return "base"


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    return skip


def imports_of(module: str) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every runtime import in `module`, resolved to rb_mcp modules
    where a `from package import name` names a submodule."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    skip = _type_checking_nodes(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield (sub if sub in MODULES else base), node.lineno


def test_the_sdk_is_imported_only_by_the_server_package():
    found = [
        f"{m}:{line} imports {name}"
        for m in MODULES
        for name, line in imports_of(m)
        if name.split(".")[0] in SDK and not m.startswith("rb_mcp.server")
    ]
    assert not found, "the mcp SDK belongs in rb_mcp/server/ only:\n" + "\n".join(found)


def test_database_drivers_are_imported_only_by_the_store():
    found = [
        f"{m}:{line} imports {name}"
        for m in MODULES
        for name, line in imports_of(m)
        if name.split(".")[0] in DRIVERS and not m.startswith("rb_mcp.store")
    ]
    assert not found, "database drivers belong in rb_mcp/store/ only:\n" + "\n".join(found)


def test_imports_point_down_the_layers():
    found = []
    for m in MODULES:
        for name, line in imports_of(m):
            if name in MODULES and LAYERS[layer(name)] > LAYERS[layer(m)]:
                found.append(f"{m} ({layer(m)}):{line} imports {name} ({layer(name)})")
    assert not found, "an import points up the layers:\n" + "\n".join(found)


def _cycles() -> list[list[str]]:
    graph = {m: sorted({n for n, _ in imports_of(m) if n in MODULES and n != m}) for m in MODULES}
    # Tarjan's strongly connected components: any component of two or more modules is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_counting_deferred_imports():
    cycles = _cycles()
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def _sql_literals(module: str) -> Iterator[tuple[int, str]]:
    tree = ast.parse(MODULES[module].read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if SQL.search(node.value):
                yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(
                v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
            )
            if SQL.search(text):
                yield node.lineno, text


def test_sql_lives_only_in_the_store():
    found = [
        f"{m}:{line}: {text.strip()[:70]!r}"
        for m in MODULES
        if not m.startswith("rb_mcp.store")
        for line, text in _sql_literals(m)
    ]
    assert not found, "SQL outside rb_mcp/store/:\n" + "\n".join(found)


def test_nothing_above_the_store_runs_sql_through_it():
    calls = re.compile(r"\.(execute|executemany|executescript)\(|\bstore\.(query|one)\(|\bdb\.\w+\(")
    found = [
        f"{m}:{n}: {line.strip()[:80]}"
        for m, path in MODULES.items()
        if not m.startswith("rb_mcp.store")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if calls.search(line)
    ]
    assert not found, "raw database calls outside rb_mcp/store/:\n" + "\n".join(found)


def test_nothing_above_the_store_asks_which_backend_it_is():
    probe = re.compile(
        r"\.dialect\b|hasattr\(\s*\w*store|getattr\(\s*\w*store|\bis_url\(|PgStore|SqliteStore"
    )
    found = [
        f"{m}:{n}: {line.strip()[:80]}"
        for m, path in MODULES.items()
        if not m.startswith("rb_mcp.store")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if probe.search(line)
    ]
    assert not found, "backend checks outside rb_mcp/store/:\n" + "\n".join(found)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_readable(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= 520, f"{module} has {lines} lines; split it (the house limit is about 500)"


def test_both_backends_implement_the_store_protocol():
    from rb_mcp.store.housekeeping import HousekeepingRows
    from rb_mcp.store.items import ItemRows
    from rb_mcp.store.postgres import PgStore
    from rb_mcp.store.protocol import Store
    from rb_mcp.store.sqlite import SqliteStore
    from rb_mcp.store.trajectories import TrajectoryRows

    wanted = {n for n in vars(Store) if not n.startswith("_")}
    for impl in (SqliteStore, PgStore):
        missing = sorted(n for n in wanted if not hasattr(impl, n))
        assert not missing, f"{impl.__name__} lacks {missing}"
    # Every shared method the loop can call is part of the protocol, so it stays the whole interface.
    for mixin in (ItemRows, TrajectoryRows, HousekeepingRows):
        unlisted = sorted(n for n in vars(mixin) if not n.startswith("_") and n not in wanted)
        assert not unlisted, f"{mixin.__name__} methods missing from the Store protocol: {unlisted}"
    # The mixins must not shadow one another: a name defined twice would silently pick one.
    names = [
        n for m in (ItemRows, TrajectoryRows, HousekeepingRows) for n in vars(m) if not n.startswith("__")
    ]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})


def test_the_checks_see_what_they_look_for(tmp_path):
    """The detectors themselves: SQL in a literal, a raw call, an upward import, a cycle."""
    assert SQL.search("select id from items where x = ?")
    assert SQL.search("insert or ignore into groups (a) values (?)")
    assert SQL.search("update trajectories set status = ?")
    assert not SQL.search("Select the best item from the list")
    assert not SQL.search("update the docs, then delete the draft")
    assert (
        LAYERS[layer("rb_mcp.server.app")] > LAYERS[layer("rb_mcp.loop.bank")] > LAYERS[layer("rb_mcp.store")]
    )
