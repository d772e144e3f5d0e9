"""Settings from the environment (RB_MCP_*) with defaults; one place documents every knob.

The README's configuration table is generated from `SETTINGS` below (and a test checks they agree),
so a knob cannot exist without being documented.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from rb_mcp.errors import InputError

DEFAULT_MODEL = "rb-mcp/all-MiniLM-L6-v2-int8"


@dataclass(frozen=True)
class Setting:
    env: str
    default: str
    help: str


SETTINGS: dict[str, Setting] = {
    "bank": Setting(
        "RB_MCP_BANK",
        "<user data dir>/bank.sqlite3",
        "Path of the SQLite bank file, or a postgresql:// URL for a team bank.",
    ),
    "model": Setting(
        "RB_MCP_MODEL",
        DEFAULT_MODEL,
        "Embedding model: the bundled offline default or any fastembed catalog model (needs hub access).",
    ),
    "project": Setting(
        "RB_MCP_PROJECT",
        "(git remote or directory of the server's cwd)",
        "Project scope used when a tool call names none.",
    ),
    "k": Setting("RB_MCP_K", "3", "Default number of memory items recall_strategies returns."),
    "min_score": Setting(
        "RB_MCP_MIN_SCORE",
        "0.30",
        "Similarity floor (cosine) below which a memory is not recalled; a past task whose files match the task is kept below it.",
    ),
    "token_budget": Setting(
        "RB_MCP_TOKEN_BUDGET", "1200", "Upper bound on the tokens of recalled guidance per call."
    ),
    "dedupe_threshold": Setting(
        "RB_MCP_DEDUPE_THRESHOLD",
        "0.67",
        "Cosine at or above which a new item is merged into an existing one instead of added.",
    ),
    "preload": Setting(
        "RB_MCP_PRELOAD",
        "1",
        "Load the embedding model in the background right after start (0 = on first use).",
    ),
    "log_level": Setting("RB_MCP_LOG_LEVEL", "WARNING", "Log level of the server (logs go to stderr)."),
    "sampling": Setting(
        "RB_MCP_SAMPLING",
        "auto",
        "auto: judge and distill with the client's model when the client declares MCP sampling; off: never.",
    ),
    "sampling_timeout": Setting(
        "RB_MCP_SAMPLING_TIMEOUT",
        "300",
        "Seconds to wait for the client's model to answer one sampling request.",
    ),
    "llm_base_url": Setting(
        "RB_MCP_LLM_BASE_URL",
        "(none)",
        "OpenAI-compatible endpoint for server-side judging and distilling, e.g. http://127.0.0.1:11434/v1.",
    ),
    "llm_model": Setting(
        "RB_MCP_LLM_MODEL", "(none)", "Model name sent to that endpoint (required with it)."
    ),
    "llm_api_key": Setting(
        "RB_MCP_LLM_API_KEY",
        "(none)",
        "Bearer key for that endpoint; never logged, stored or shown in errors.",
    ),
    "llm_timeout": Setting(
        "RB_MCP_LLM_TIMEOUT", "60", "Seconds before one request to the endpoint times out."
    ),
    "llm_retries": Setting(
        "RB_MCP_LLM_RETRIES",
        "2",
        "Retries (with backoff) after a timeout, a 429 or a 5xx answer from the endpoint.",
    ),
    "llm_max_tokens": Setting(
        "RB_MCP_LLM_MAX_TOKENS", "1500", "Upper bound on the tokens of one model answer."
    ),
    "llm_check_turns": Setting(
        "RB_MCP_LLM_CHECK_TURNS",
        "2",
        "Review passes the server's model makes over a sequential refine_attempt (the check, then 'check again'); "
        "0 = leave the self-check to the agent.",
    ),
    "llm_merge_floor": Setting(
        "RB_MCP_LLM_MERGE_FLOOR",
        "0.55",
        "Cosine from which (up to the dedupe threshold) the server's model decides merge / keep both / replace "
        "for a new item and its nearest neighbour; 1 = off.",
    ),
    "http_host": Setting(
        "RB_MCP_HTTP_HOST",
        "127.0.0.1",
        "serve --http: address to listen on (--host); beyond loopback only when an access token exists.",
    ),
    "http_port": Setting("RB_MCP_HTTP_PORT", "8765", "serve --http: port to listen on (--port)."),
    "http_allowed_origins": Setting(
        "RB_MCP_HTTP_ALLOWED_ORIGINS",
        "(loopback origins)",
        "serve --http: comma-separated extra Origin values allowed (browsers); others get 403.",
    ),
    "http_allowed_hosts": Setting(
        "RB_MCP_HTTP_ALLOWED_HOSTS",
        "(loopback names)",
        "serve --http: comma-separated extra Host header values allowed, e.g. the proxy's rb.example.com; others get 421.",
    ),
    "pg_build_memory_mb": Setting(
        "RB_MCP_PG_BUILD_MEMORY_MB",
        "4096",
        "PostgreSQL: upper bound (MB) on maintenance_work_mem while `rb-mcp copy` builds the HNSW indexes "
        "(sized to the vectors, so the graph fits in memory; lower it on a small server).",
    ),
}


def default_bank_path() -> Path:
    from platformdirs import user_data_path

    return user_data_path("rb-mcp", appauthor=False) / "bank.sqlite3"


def _env_float(name: str, default: float, lo: float, hi: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"{name}={raw!r} is not a number; set it to a value between {lo} and {hi}") from None
    if not lo <= value <= hi:
        raise InputError(f"{name}={raw!r} is out of range; set it to a value between {lo} and {hi}")
    return value


def _env_int(name: str, default: int, lo: int, hi: int) -> int:
    value = _env_float(name, default, lo, hi)
    if value != int(value):
        raise InputError(f"{name} must be a whole number between {lo} and {hi}")
    return int(value)


def pg_build_memory_mb() -> int:
    return _env_int("RB_MCP_PG_BUILD_MEMORY_MB", 4096, 64, 1 << 20)


def _env_url(name: str) -> str:
    raw = (os.environ.get(name) or "").strip().rstrip("/")
    if raw and not raw.lower().startswith(("http://", "https://")):
        # Not echoed: a URL can carry credentials.
        raise InputError(f"{name} must start with http:// or https:// (e.g. http://127.0.0.1:11434/v1)")
    return raw


def _env_list(name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in (os.environ.get(name) or "").split(",") if part.strip())


def _env_switch(name: str) -> bool:
    raw = (os.environ.get(name) or "auto").strip().lower()
    if raw in ("auto", "on", "1", "true", "yes"):
        return True
    if raw in ("off", "0", "false", "no"):
        return False
    raise InputError(f"{name}={raw!r} is not understood; set it to auto or off")


def _bank_target(value: str | os.PathLike[str] | None) -> Path | str:
    """A postgresql:// URL stays a string (a Path would fold its `//`); anything else is a file."""
    if not value:
        return default_bank_path()
    text = os.fspath(value)
    if text.startswith(("postgresql://", "postgres://")):
        return text
    return Path(text).expanduser()


@dataclass(frozen=True)
class Config:
    bank: Path | str = field(default_factory=default_bank_path)  # str: a postgresql:// URL
    model: str = DEFAULT_MODEL
    project: str | None = None
    k: int = 3
    min_score: float = 0.30
    token_budget: int = 1200
    dedupe_threshold: float = 0.67
    preload: bool = True
    log_level: str = "WARNING"
    sampling: bool = True
    sampling_timeout: float = 300.0
    llm_base_url: str = ""
    llm_model: str = ""
    # repr=False keeps the key out of any log line or traceback that prints the config.
    llm_api_key: str = field(default="", repr=False)
    llm_timeout: float = 60.0
    llm_retries: int = 2
    llm_max_tokens: int = 1500
    llm_check_turns: int = 2
    llm_merge_floor: float = 0.55
    http_host: str = "127.0.0.1"
    http_port: int = 8765
    http_allowed_origins: tuple[str, ...] = ()
    http_allowed_hosts: tuple[str, ...] = ()
    pg_build_memory_mb: int = 4096

    @classmethod
    def from_env(cls, bank: str | os.PathLike[str] | None = None) -> Config:
        env_bank = bank or os.environ.get("RB_MCP_BANK") or None
        return cls(
            bank=_bank_target(env_bank),
            model=os.environ.get("RB_MCP_MODEL") or DEFAULT_MODEL,
            project=os.environ.get("RB_MCP_PROJECT") or None,
            k=_env_int("RB_MCP_K", 3, 1, 20),
            min_score=_env_float("RB_MCP_MIN_SCORE", 0.30, -1.0, 1.0),
            token_budget=_env_int("RB_MCP_TOKEN_BUDGET", 1200, 100, 20000),
            dedupe_threshold=_env_float("RB_MCP_DEDUPE_THRESHOLD", 0.67, 0.5, 1.0),
            preload=os.environ.get("RB_MCP_PRELOAD", "1") not in ("0", "false", "no", "off"),
            log_level=(os.environ.get("RB_MCP_LOG_LEVEL") or "WARNING").upper(),
            sampling=_env_switch("RB_MCP_SAMPLING"),
            sampling_timeout=_env_float("RB_MCP_SAMPLING_TIMEOUT", 300.0, 1.0, 3600.0),
            llm_base_url=_env_url("RB_MCP_LLM_BASE_URL"),
            llm_model=(os.environ.get("RB_MCP_LLM_MODEL") or "").strip(),
            llm_api_key=(os.environ.get("RB_MCP_LLM_API_KEY") or "").strip(),
            llm_timeout=_env_float("RB_MCP_LLM_TIMEOUT", 60.0, 0.1, 3600.0),
            llm_retries=_env_int("RB_MCP_LLM_RETRIES", 2, 0, 10),
            llm_max_tokens=_env_int("RB_MCP_LLM_MAX_TOKENS", 1500, 64, 32000),
            llm_check_turns=_env_int("RB_MCP_LLM_CHECK_TURNS", 2, 0, 5),
            llm_merge_floor=_env_float("RB_MCP_LLM_MERGE_FLOOR", 0.55, 0.0, 1.0),
            http_host=(os.environ.get("RB_MCP_HTTP_HOST") or "127.0.0.1").strip(),
            http_port=_env_int("RB_MCP_HTTP_PORT", 8765, 1, 65535),
            http_allowed_origins=_env_list("RB_MCP_HTTP_ALLOWED_ORIGINS"),
            http_allowed_hosts=_env_list("RB_MCP_HTTP_ALLOWED_HOSTS"),
            pg_build_memory_mb=pg_build_memory_mb(),
        )
