"""Project scope keys: stable across clones of one repository, derived from its git remote.

`github.com/owner/repo` for a repository with an `origin` remote (ssh and https spellings agree),
`dir:<name>-<hash>` for a plain directory, or the caller's own name, normalised.
"""

from __future__ import annotations

import configparser
import hashlib
import re
from collections.abc import Callable
from pathlib import Path

from rb_mcp.errors import InputError

_SCP = re.compile(r"^(?:[\w.-]+@)?([\w.-]+):(?!//)(.+)$")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://(?:[^@/]*@)?([^/:]+)(?::\d+)?/(.+)$", re.I)
_LOWERED_MARKER = re.compile(r"\[redacted:([a-z0-9-]{1,40})\]")  # rb_mcp.redact's markers, lowercased


def normalise_remote(url: str) -> str | None:
    url = url.strip()
    match = _URL.match(url) or _SCP.match(url)
    if not match:
        return None
    host, path = match.group(1).lower(), match.group(2).strip("/")
    path = re.sub(r"\.git$", "", path)
    return f"{host}/{path}".lower() if path else None


def _git_dir(start: Path) -> Path | None:
    for folder in [start, *start.parents]:
        candidate = folder / ".git"
        if candidate.is_dir():
            return candidate
        if candidate.is_file():  # worktrees and submodules: "gitdir: <path>"
            text = candidate.read_text(errors="replace").strip()
            if text.startswith("gitdir:"):
                target = (folder / text[7:].strip()).resolve()
                common = target / "commondir"
                return (target / common.read_text().strip()).resolve() if common.is_file() else target
    return None


def remote_of(directory: Path) -> str | None:
    git = _git_dir(directory)
    if git is None or not (git / "config").is_file():
        return None
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    try:
        parser.read(git / "config", encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return None
    sections = [s for s in parser.sections() if s.startswith("remote ")]
    sections.sort(key=lambda s: s != 'remote "origin"')
    for section in sections:
        url = parser.get(section, "url", fallback=None)
        if url and (key := normalise_remote(url)):
            return key
    return None


def key_for_directory(directory: Path) -> str:
    directory = directory.resolve()
    remote = remote_of(directory)
    if remote:
        return remote
    git = _git_dir(directory)
    root = git.parent if git is not None else directory
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:8]
    return f"dir:{root.name or 'root'}-{digest}"


def key_of(name: str) -> str:
    """The scope key of a project name, unchecked: spaces collapsed, a remote URL as its key,
    lowercased (redaction markers keep their case)."""
    cleaned = " ".join(name.split()).strip()
    if cleaned.lower() == "global":
        return "global"
    as_remote = normalise_remote(cleaned) if ("://" in cleaned or "@" in cleaned) else None
    key = as_remote or cleaned.lower()
    return _LOWERED_MARKER.sub(lambda m: f"[REDACTED:{m.group(1)}]", key)


def normalise_name(name: str) -> str:
    cleaned = " ".join(name.split()).strip()
    if not cleaned:
        raise InputError("project is empty; pass a project name, a repository path, or leave it out")
    if len(cleaned) > 300:
        raise InputError("project is longer than 300 characters; pass a short project name")
    return key_of(cleaned)


def resolve(
    project: str | None, default: str | None, name_of: Callable[[str], str] = normalise_name
) -> str | None:
    """The scope key for a call: explicit name (through `name_of`) or path, else the server's
    default (may be None)."""
    if project is None or not project.strip():
        return default
    candidate = Path(project).expanduser()
    if (project.startswith(("/", "~", ".")) or "\\" in project) and candidate.is_dir():
        return key_for_directory(candidate)
    return name_of(project)


def default_for_cwd(cwd: Path | None = None) -> str | None:
    """A project key for the server's working directory, only when it is inside a git repository."""
    cwd = cwd or Path.cwd()
    try:
        return key_for_directory(cwd) if _git_dir(cwd.resolve()) is not None else None
    except OSError:
        return None


def repo_root(start: Path) -> Path | None:
    """The top of the git work tree holding `start` (a worktree's own folder, not its main clone)."""
    try:
        start = start.resolve()
    except OSError:
        return None
    for folder in [start, *start.parents]:
        if (folder / ".git").exists():
            return folder
    return None


def _own_git_dir(root: Path) -> Path | None:
    candidate = root / ".git"
    if candidate.is_dir():
        return candidate
    if candidate.is_file():
        text = candidate.read_text(errors="replace").strip()
        if text.startswith("gitdir:"):
            return (root / text[7:].strip()).resolve()
    return None


def head_commit(root: Path) -> str | None:
    """The commit HEAD points at in the work tree `root`, read from git's files (no git binary needed);
    None outside a repository, on an unborn branch, or when the files cannot be read."""
    try:
        own = _own_git_dir(root)
        if own is None:
            return None
        common = own / "commondir"
        shared = (own / common.read_text().strip()).resolve() if common.is_file() else own
        head = (own / "HEAD").read_text().strip()
        for _ in range(5):  # symbolic refs may point at symbolic refs
            if not head.startswith("ref:"):
                return head if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", head) else None
            ref = head[4:].strip()
            for folder in (own, shared):
                if (folder / ref).is_file():
                    head = (folder / ref).read_text().strip()
                    break
            else:
                packed = shared / "packed-refs"
                lines = packed.read_text(errors="replace").splitlines() if packed.is_file() else []
                found = [line.split()[0] for line in lines if line.endswith(" " + ref)]
                return found[0] if found else None
    except OSError:
        return None
    return None


def local_dir(project: str | None) -> Path | None:
    """The directory a project argument names on this machine, when it is a path (as `resolve` reads it)."""
    if not project or not (project.startswith(("/", "~", ".")) or "\\" in project):
        return None
    candidate = Path(project).expanduser()
    try:
        return candidate if candidate.is_dir() else None
    except OSError:
        return None
