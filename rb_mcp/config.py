"""Settings: each one defined once below, with its type, default, bounds and help.

`Config.from_env()` reads them from RB_MCP_* environment variables; `Config(...)`
builds one in code (tests, the admin commands) without reading the environment. `SETTINGS` is the
table of every knob as users see it (variable, default, help): the CLI's help, the README and
server.json are checked against it, so a knob cannot exist without being documented.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from rb_mcp.errors import InputError

DEFAULT_MODEL = "rb-mcp/all-MiniLM-L6-v2-int8dyn-128"
ENV_PREFIX = "RB_MCP_"
_PLACEHOLDER = re.compile(r"\$\{user_config\.\w+\}")


def default_bank_path() -> Path:
    from platformdirs import user_data_path

    return user_data_path("rb-mcp", appauthor=False) / "bank.sqlite3"


def _bank_target(value: Any) -> Path | str:
    """A postgresql:// URL stays a string (a Path would fold its `//`); anything else is a file."""
    if value is None or value == "":
        return default_bank_path()
    text = os.fspath(value)
    if text.startswith(("postgresql://", "postgres://")):
        return text
    return Path(text).expanduser()


def _switch(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raw = str(value).strip().lower()
    if raw in ("auto", "on", "1", "true", "yes"):
        return True
    if raw in ("off", "0", "false", "no"):
        return False
    raise ValueError("is not understood; set it to on or off (auto, 1, 0 are accepted too)")


def _url(value: Any) -> str:
    raw = str(value or "").strip().rstrip("/")
    if raw and not raw.lower().startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https:// (e.g. http://127.0.0.1:11434/v1)")
    return raw


def _csv(value: Any) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return tuple(part.strip() for part in str(value or "").split(",") if part.strip())


def _stripped(value: Any) -> str:
    return str(value or "").strip()


Bank = Annotated[Path | str, BeforeValidator(_bank_target)]
Switch = Annotated[bool, BeforeValidator(_switch)]
Url = Annotated[str, BeforeValidator(_url)]
Csv = Annotated[tuple[str, ...], BeforeValidator(_csv)]
Text = Annotated[str, BeforeValidator(_stripped)]


def _shown(text: str) -> dict[str, Any]:
    """The default as the README shows it, where the real one depends on the machine."""
    return {"shown": text}


class Config(BaseModel):
    """Every setting of rb-mcp. Frozen: derive a changed copy with `replace(...)`."""

    model_config = ConfigDict(frozen=True, protected_namespaces=(), validate_default=True)

    bank: Bank = Field(
        default_factory=default_bank_path,
        description="Path of the SQLite bank file, or a postgresql:// URL for a team bank.",
        json_schema_extra=_shown("<user data dir>/bank.sqlite3"),
    )
    model: Text = Field(
        DEFAULT_MODEL,
        description="Embedding model: the bundled offline default or any fastembed catalog model (needs hub access).",
    )
    project: str | None = Field(
        None,
        description="Project scope used when a tool call names none.",
        json_schema_extra=_shown("(git remote or directory of the server's cwd)"),
    )
    k: int = Field(3, ge=1, le=20, description="Default number of memory items recall_strategies returns.")
    min_score: float = Field(
        0.30,
        ge=-1.0,
        le=1.0,
        description="Similarity floor (cosine) below which a memory is not recalled; a past task whose files "
        "match the task is kept below it.",
    )
    token_budget: int = Field(
        1200, ge=100, le=20000, description="Upper bound on the tokens of recalled guidance per call."
    )
    dedupe_threshold: float = Field(
        0.68,
        ge=0.5,
        le=1.0,
        description="Cosine at or above which a new item is merged into an existing one instead of added.",
    )
    expire_days: int = Field(
        90,
        ge=0,
        le=36500,
        description="Days after which an item no recall returned (or that never helped) is archived by "
        "`rb-mcp maintain` and the server's daily maintenance; 0 = never expire. Archived items can be restored.",
    )
    preload: Switch = Field(
        True, description="Load the embedding model in the background right after start (0 = on first use)."
    )
    log_level: Annotated[str, BeforeValidator(lambda v: str(v or "WARNING").strip().upper())] = Field(
        "WARNING", description="Log level of the server (logs go to stderr)."
    )
    sampling: Switch = Field(
        True,
        description="auto: judge and distill with the client's model when the client declares MCP sampling; "
        "off: never.",
        json_schema_extra=_shown("auto"),
    )
    sampling_timeout: float = Field(
        300.0,
        ge=1.0,
        le=3600.0,
        description="Seconds to wait for the client's model to answer one sampling request.",
    )
    llm_base_url: Url = Field(
        "",
        description="OpenAI-compatible endpoint for server-side judging and distilling, e.g. "
        "http://127.0.0.1:11434/v1.",
        json_schema_extra=_shown("(none)"),
    )
    llm_model: Text = Field(
        "",
        description="Model name sent to that endpoint (required with it).",
        json_schema_extra=_shown("(none)"),
    )
    # repr=False keeps the key out of any log line or traceback that prints the config.
    llm_api_key: Text = Field(
        "",
        repr=False,
        description="Bearer key for that endpoint; never logged, stored or shown in errors.",
        json_schema_extra=_shown("(none)"),
    )
    llm_timeout: float = Field(
        60.0, ge=0.1, le=3600.0, description="Seconds before one request to the endpoint times out."
    )
    llm_retries: int = Field(
        2,
        ge=0,
        le=10,
        description="Retries (with backoff) after a timeout, a 429 or a 5xx answer from the endpoint.",
    )
    llm_max_tokens: int = Field(
        1500, ge=64, le=32000, description="Upper bound on the tokens of one model answer."
    )
    llm_check_turns: int = Field(
        2,
        ge=0,
        le=5,
        description="Review passes the server's model makes over a sequential refine_attempt (the check, then "
        "'check again'); 0 = leave the self-check to the agent.",
    )
    llm_merge_floor: float = Field(
        0.55,
        ge=0.0,
        le=1.0,
        description="Cosine from which (up to the dedupe threshold) the server's model decides merge / keep both / "
        "replace for a new item and its nearest neighbour; 1 = off.",
    )
    http_host: Text = Field(
        "127.0.0.1",
        description="serve --http: address to listen on (--host); beyond loopback only when an access token exists.",
    )
    http_port: int = Field(8765, ge=1, le=65535, description="serve --http: port to listen on (--port).")
    http_allowed_origins: Csv = Field(
        (),
        description="serve --http: comma-separated extra Origin values allowed (browsers); others get 403.",
        json_schema_extra=_shown("(loopback origins)"),
    )
    http_allowed_hosts: Csv = Field(
        (),
        description="serve --http: comma-separated extra Host header values allowed, e.g. the proxy's "
        "rb.example.com; others get 421.",
        json_schema_extra=_shown("(loopback names)"),
    )
    review: Annotated[
        Literal["off", "required"], BeforeValidator(lambda v: str(v or "off").strip().lower())
    ] = Field(
        "off",
        description="off: new memory items are recalled at once; required: they wait in the review inbox of "
        "`rb-mcp ui` and stay out of recall until a person approves them.",
    )
    pg_build_memory_mb: int = Field(
        4096,
        ge=64,
        le=1 << 20,
        description="PostgreSQL: upper bound (MB) on maintenance_work_mem while `rb-mcp copy` builds the HNSW "
        "indexes (sized to the vectors, so the graph fits in memory; lower it on a small server).",
    )

    hook_stop: Literal["ask", "off"] = Field(
        "ask",
        description="Claude Code Stop hook: ask the agent once to record unrecorded work that changed files, or off.",
    )
    hook_recall: Literal["keyword", "hybrid"] = Field(
        "keyword",
        description="Recall of the prompt hook: keyword (no model to load in a cold process) or hybrid (about "
        "200 ms more per prompt).",
    )
    control_rate: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Share of recalls, chosen at random, that return no memory and are logged as controls, so "
        "`rb-mcp stats --effect` compares outcomes in a randomized experiment.",
    )

    @classmethod
    def from_env(cls, bank: str | os.PathLike[str] | None = None) -> Config:
        """The settings from RB_MCP_* variables; `bank` (a --bank option) wins over RB_MCP_BANK."""
        try:
            config = cls(**_env_values())  # every variable judged, RB_MCP_BANK too, before --bank
        except ValidationError as exc:
            raise InputError(_env_problem(exc)) from None
        return config.replace(bank=bank) if bank else config

    def replace(self, **changes: Any) -> Config:
        """A copy with `changes` applied and validated."""
        return type(self)(**{**self.model_dump(), **changes})


def _env_values() -> dict[str, str]:
    """The RB_MCP_* variables that name a setting, by field name: names match in any case, and an
    empty value or an unfilled placeholder means unset."""
    # Claude Desktop passes an optional MCPB setting the user left empty as its literal placeholder
    # (`${user_config.bank}`): that means unset, not a bank path.
    by_name = {key.lower(): value for key, value in os.environ.items()}
    values = {}
    for name in Config.model_fields:
        value = by_name.get(f"{ENV_PREFIX}{name}".lower())
        if value and not _PLACEHOLDER.fullmatch(value):
            values[name] = value
    return values


def _env_problem(exc: ValidationError) -> str:
    """The first invalid variable, what it holds and what to set instead (never echoing a URL or key)."""
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else ""
    field = Config.model_fields.get(name)
    env = f"{ENV_PREFIX}{name.upper()}"
    meta = {
        k: getattr(m, k) for m in (field.metadata if field else []) for k in ("ge", "le") if hasattr(m, k)
    }
    if "ge" in meta and "le" in meta:
        whole = field is not None and field.annotation is int
        kind = "a whole number" if whole else "a value"
        return f"{env}={os.environ.get(env)!r} is invalid; set it to {kind} between {meta['ge']} and {meta['le']}"
    if name in ("llm_base_url", "llm_api_key", "bank"):
        return f"{env} is invalid: {str(error['msg']).removeprefix('Value error, ')}"
    return f"{env}={os.environ.get(env)!r} {str(error['msg']).removeprefix('Value error, ')}"


@dataclass(frozen=True)
class Setting:
    env: str
    default: str
    help: str


def _shown_default(name: str) -> str:
    field = Config.model_fields[name]
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if "shown" in extra:
        return str(extra["shown"])
    value = field.default
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.2f}" if value < 1 else f"{value:g}"
    return str(value)


SETTINGS: dict[str, Setting] = {
    name: Setting(f"{ENV_PREFIX}{name.upper()}", _shown_default(name), field.description or "")
    for name, field in Config.model_fields.items()
}
