"""Anchors: what a memory item points at in its repository, kept when it is stored, checked at recall.

A lesson about `parse_dialect` in csvkit/sniff.py is worth little once that function is gone, and
worse than nothing when the agent trusts it. So when an item is stored in a working tree rb-mcp can
see, it keeps:

- the files its trajectory touched and the files its text names (repository-relative; a path
  outside the repository is dropped, never stored),
- the code symbols its text names (identifiers in backticks, `module.func`, `Class.method`,
  `name()`, error names) that appear in those files at that moment, each with the files it
  appeared in,
- the repository (its project key, never a path on disk) and its HEAD commit.

At recall, in a tree of the same repository: every file the item names must still exist, every
symbol must still appear in one of its files, and at least one of the touched files must still
exist (a lesson about one file of a task is not wrong because another file was renamed). Which
symbols a file holds is cached by its size and mtime, so a check is a few `stat` calls; a changed
file is read once and searched with `bytes.find`.
"""

from __future__ import annotations

import keyword
import os
import re
import stat as stat_mod
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rb_mcp import project as projects
from rb_mcp import visibility
from rb_mcp.models import Anchors

if TYPE_CHECKING:
    from rb_mcp.loop.bank import Bank

MAX_FILES = 20  # anchor files per item (named first, then touched)
MAX_SYMBOLS = 24
MAX_FILES_PER_SYMBOL = 3
MAX_READ = 2 * 1024 * 1024  # larger files anchor by existence only
CACHE_FILES = 512
MAX_REASONS = 3
TREE_TTL = 60.0

_EXT = (
    "py pyi pyx js jsx ts tsx mjs cjs vue svelte rs go rb java kt kts scala c h cc cpp cxx hpp cs php swift "
    "m mm sh bash zsh ps1 lua pl r jl ex exs erl hs ml clj dart sql toml yaml yml json ini cfg conf md rst "
    "txt html css scss less proto graphql tf gradle lock xml"
).split()
_EXT_RE = "|".join(sorted(_EXT, key=len, reverse=True))
_PATH = re.compile(rf"(?<![\w/.:@-])((?:[\w.-]+/)*[\w-][\w.-]*\.(?:{_EXT_RE}))(?![\w/-])")
_CODE = re.compile(r"`([^`\n]{1,200})`")
_NAME = re.compile(r"^\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*(?:\(.*\))?\s*[:;,.]?\s*$")
_DOTTED = re.compile(r"(?<![\w./:@-])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)(?![\w/-])")
_CALL = re.compile(r"(?<![\w.])([A-Za-z_]\w{2,})\(\)")
_ERROR = re.compile(r"\b([A-Z][A-Za-z0-9]*(?:Error|Exception|Warning))\b")
_NOT_SYMBOLS = frozenset(
    {*keyword.kwlist, *keyword.softkwlist, "self", "cls", "none", "null", "nil", "true", "false", "this",
     "args", "kwargs", "etc", "e.g", "i.e", "com", "org", "net", "io", "dev", "www", "http", "https"}
)  # fmt: skip
_TLDS = frozenset({"com", "org", "net", "io", "dev", "edu", "gov", "co", "uk", "de", "app", "ai"})


@dataclass(frozen=True)
class Tree:
    """A working tree rb-mcp can read: its root on disk and the project key of its repository."""

    root: Path
    key: str

    @classmethod
    def at(cls, path: str | os.PathLike[str]) -> Tree | None:
        """The tree holding `path`: its git work tree, or the directory itself outside git. Looked up
        again after `TREE_TTL` seconds (a hook passes its cwd with every recall)."""
        key, moment = os.fspath(path), time.monotonic()
        hit = _trees.get(key)
        if hit is not None and moment - hit[0] < TREE_TTL:
            return hit[1]
        if len(_trees) > 256:
            _trees.clear()
        found = cls._find(path)
        _trees[key] = (moment, found)
        return found

    @classmethod
    def _find(cls, path: str | os.PathLike[str]) -> Tree | None:
        try:
            start = Path(path).expanduser().resolve()
        except (OSError, RuntimeError):
            return None
        if not start.is_dir():
            return None
        root = projects.repo_root(start) or start
        return cls(root, projects.key_for_directory(root))

    def commit(self) -> str | None:
        return projects.head_commit(self.root)

    def relative(self, name: str) -> str | None:
        """`name` (relative to the root, or absolute inside it) as a repository-relative POSIX path;
        None for a path outside the tree, an unsafe spelling or something that is not a file."""
        name = name.strip().replace("\\", "/")
        if not name or len(name) > 500 or "\x00" in name:
            return None
        try:
            path = Path(name).expanduser()
            full = (path if path.is_absolute() else self.root / path).resolve()
            rel = full.relative_to(self.root)
        except (OSError, RuntimeError, ValueError):
            return None
        return rel.as_posix() if rel.parts and full.is_file() else None

    def shown(self, name: str) -> str:
        """A path as it may leave this machine: relative to the root when it lies inside the tree,
        unchanged otherwise (a relative path, or one outside the tree that the gate will judge)."""
        try:
            path = Path(name.strip()).expanduser()
            return path.resolve().relative_to(self.root).as_posix() if path.is_absolute() else name
        except (OSError, RuntimeError, ValueError):
            return name

    def file(self, rel: str) -> str | None:
        """The file a stored relative path names, or None when the path could leave the tree."""
        if not rel or rel[0] == "/" or "\\" in rel or "\x00" in rel or ".." in rel.split("/"):
            return None
        return f"{self.root}{os.sep}{rel}"


_trees: dict[str, tuple[float, Tree | None]] = {}


# ---- which symbols appear in which files, cached by size and mtime -----------------------------
_cache: OrderedDict[str, tuple[int, int, dict[str, bool]]] = OrderedDict()
_cache_lock = threading.Lock()


def _whole_word(data: bytes, symbol: bytes) -> bool:
    """Whether `symbol` occurs in `data` as a whole identifier (not inside a longer one)."""
    start = 0
    while (at := data.find(symbol, start)) >= 0:
        before, after = data[at - 1 : at], data[at + len(symbol) : at + len(symbol) + 1]
        if not (before.isalnum() or before == b"_") and not (after.isalnum() or after == b"_"):
            return True
        start = at + 1
    return False


def present(path: str | Path, symbols: Sequence[str] = ()) -> dict[str, bool] | None:
    """Which of `symbols` appear in the file at `path` as whole identifiers; None when it is not a
    file any more. The file is read only for symbols not asked about since it last changed; a file
    over `MAX_READ` is taken to hold every symbol (it anchors by existence only)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    if not stat_mod.S_ISREG(info.st_mode):
        return None
    key = os.fspath(path)
    with _cache_lock:
        hit = _cache.get(key)
        fresh = hit is not None and hit[0] == info.st_size and hit[1] == info.st_mtime_ns
        if fresh:
            _cache.move_to_end(key)
    known = hit[2] if fresh else {}
    missing = [s for s in symbols if s not in known]
    if fresh and not missing:
        return {s: known[s] for s in symbols}
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_READ + 1)
    except OSError:
        return None
    known = {**known, **{s: len(data) > MAX_READ or _whole_word(data, s.encode()) for s in missing}}
    with _cache_lock:
        _cache[key] = (info.st_size, info.st_mtime_ns, known)
        _cache.move_to_end(key)
        while len(_cache) > CACHE_FILES:
            _cache.popitem(last=False)
    return {s: known[s] for s in symbols}


def _has(path: Path, symbol: str) -> bool:
    found = present(path, [symbol])
    return bool(found and found[symbol])


# ---- what an item names ----------------------------------------------------------------------
def _usable(symbol: str) -> bool:
    return len(symbol) >= 3 and symbol.lower() not in _NOT_SYMBOLS and not symbol.isdigit()


def named_in(text: str) -> tuple[list[str], list[tuple[str, str | None]]]:
    """The paths and the symbols a text names: ([path], [(symbol, dotted module or None)])."""
    paths = list(dict.fromkeys(m.group(1) for m in _PATH.finditer(text)))
    symbols: list[tuple[str, str | None]] = []

    def add_dotted(name: str) -> None:
        parts = name.split(".")
        if parts[-1].lower() in _EXT or parts[-1].lower() in _TLDS:
            return  # a file name or a host, not code
        symbols.append((name, None))

    for span in _CODE.findall(text):
        match = _NAME.match(span)
        if match:
            name = match.group(1)
            add_dotted(name) if "." in name else symbols.append((name, None))
    for match in _DOTTED.finditer(text):
        add_dotted(match.group(1))
    symbols += [(m.group(1), None) for m in _CALL.finditer(text)]
    symbols += [(m.group(1), None) for m in _ERROR.finditer(text)]
    return paths, list(dict.fromkeys(symbols))


def _module_file(tree: Tree, parts: Sequence[str], files: Sequence[str]) -> str | None:
    """The file a dotted module prefix names (`csvkit.sniff` -> csvkit/sniff.py), if it exists."""
    stem = "/".join(parts)
    for candidate in (f"{stem}.py", f"{stem}/__init__.py", f"src/{stem}.py"):
        if (tree.root / candidate).is_file():
            return candidate
    for rel in files:
        if rel.rsplit(".", 1)[0] == stem or rel.rsplit(".", 1)[0].endswith("/" + stem):
            return rel
    return None


def _resolve_named(tree: Tree, name: str, touched: Sequence[str]) -> str | None:
    rel = tree.relative(name)
    if rel is not None:
        return rel
    if "/" not in name:  # a bare file name: the touched file of that name
        return next((t for t in touched if t.rsplit("/", 1)[-1] == name), None)
    return next((t for t in touched if t.endswith("/" + name.lstrip("./"))), None)


def anchors_for(tree: Tree | None, texts: Iterable[str], touched: Iterable[str]) -> Anchors | None:
    """The anchors of an item whose text is `texts`, learned by a trajectory that touched `touched`,
    as they are in `tree` now; None without a tree or when nothing anchors it."""
    if tree is None:
        return None
    touched_rel = list(dict.fromkeys(r for f in touched if (r := tree.relative(str(f))) is not None))
    text = "\n".join(texts)
    paths, names = named_in(text)
    named = list(dict.fromkeys(r for p in paths if (r := _resolve_named(tree, p, touched_rel)) is not None))
    symbols: dict[str, list[str]] = {}
    for name, _ in names:
        parts = name.split(".")
        module, rest = None, parts
        for cut in range(len(parts) - 1, 0, -1):
            module = _module_file(tree, parts[:cut], touched_rel + named)
            if module is not None:
                rest = parts[cut:]
                if module not in named:
                    named.append(module)
                break
        for part in rest:
            if _usable(part) and part not in symbols:
                symbols[part] = [module] if module else []
    files = (named + [t for t in touched_rel if t not in named])[:MAX_FILES]
    named = [n for n in named if n in files]
    held: dict[str, list[str]] = {}
    for symbol, preferred in symbols.items():
        # Where the item places it (its module, else the files it names), else where the work was.
        for where in ([f for f in preferred if f in files], named, files):
            found = [f for f in where if _has(tree.root / f, symbol)][:MAX_FILES_PER_SYMBOL]
            if found:
                held[symbol] = found
                break
        if len(held) >= MAX_SYMBOLS:
            break
    if not files:
        return None
    touched_kept = [t for t in files if t not in named]
    return Anchors(repo=tree.key, commit=tree.commit(), files=touched_kept, named=named, symbols=held)


# ---- checking them ---------------------------------------------------------------------------
def check(tree: Tree | None, anchors: Anchors | None) -> tuple[bool | None, str | None]:
    """(verified, stale_reason): True when every anchor holds in `tree`, False with the reason when
    one broke, (None, None) when there is nothing to check or the tree is of another repository."""
    if tree is None or anchors is None or anchors.empty() or anchors.repo != tree.key:
        return None, None
    wanted: dict[str, list[str]] = {}
    for symbol, files in anchors.symbols.items():
        for rel in files:
            wanted.setdefault(rel, []).append(symbol)
    found: dict[str, dict[str, bool] | None] = {}
    for rel in [*anchors.named, *anchors.files, *wanted]:
        if rel not in found:
            path = tree.file(rel)
            found[rel] = None if path is None else present(path, wanted.get(rel, ()))

    def exists(rel: str) -> bool:
        return found.get(rel) is not None

    reasons = [f"{rel} is gone" for rel in anchors.named if not exists(rel)]
    for symbol, files in anchors.symbols.items():
        if any((found.get(f) or {}).get(symbol) for f in files):
            continue
        still = [f for f in files if exists(f)]
        if still:
            reasons.append(f"`{symbol}` no longer appears in {', '.join(still)}")
        elif not any(f in anchors.named for f in files):
            reasons.append(f"{', '.join(files)} is gone (it held `{symbol}`)")
    if anchors.files and not any(exists(f) for f in anchors.files):
        shown = ", ".join(anchors.files[:3]) + (" ..." if len(anchors.files) > 3 else "")
        reasons.append(f"no file its task touched exists any more ({shown})")
    if not reasons:
        return True, None
    more = len(reasons) - MAX_REASONS
    return False, "; ".join(reasons[:MAX_REASONS]) + (f" (and {more} more)" if more > 0 else "")


def merged(
    tree: Tree | None, old: Anchors | None, texts: Iterable[str], touched: Iterable[str]
) -> Anchors | None:
    """The anchors of an item after a merge: as they are now in `tree` for its merged text and
    files (the newer evidence), else the old ones unchanged."""
    fresh = anchors_for(tree, texts, touched)
    return fresh if fresh is not None else old


def tree_for(
    bank: Bank, project: str | None = None, root: str | Path | None = None, scope: str | None | bool = False
) -> Tree | None:
    """The working tree a call's anchors are read in: `root` (a hook's cwd), else a project given
    as a local path, else the server's own repository; never for a remote caller, whose paths
    name nothing here. With `scope` (storing items of that scope), the server's repository only
    when it is that scope's, so files of another project are never anchored in it."""
    if visibility.current() is not None:
        return None
    if root is not None:
        return Tree.at(root)
    if (folder := projects.local_dir(project)) is not None:
        return Tree.at(folder)
    if bank._local_tree is False:
        cwd = Path.cwd()
        bank._local_tree = Tree.at(cwd) if projects.repo_root(cwd) is not None else None
    local = bank._local_tree
    if not isinstance(local, Tree) or (scope is not False and scope not in (local.key, bank.default_project)):
        return None
    return local
