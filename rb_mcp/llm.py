"""Server-side model backends for judging and distilling: the client's model through MCP sampling
(adapter in `rb_mcp.sampling`), an OpenAI-compatible chat completions endpoint, or none.

    RbError
    +-- LLMError        raised when a server-side model cannot be reached or keeps failing; the
                        loop then falls back to the agent's round trip and the trajectory stays
                        queued for `rb-mcp distill`

Every backend is a plain object with a blocking `complete(turns, system=..., max_tokens=...)`, so
the bank (which runs in worker threads) calls them the same way. Answers are text: `ask_json`
parses the final JSON block, validates it with pydantic and gives the model one repair turn.

API keys: the key lives only in the `Config` (repr hidden) and in the Authorization header of a
request. Error messages are built here, never copied from httpx, and scrubbed of the key.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rb_mcp import prompts
from rb_mcp.errors import LLMError
from rb_mcp.models import ItemDraft, Outcome

if TYPE_CHECKING:
    from rb_mcp.config import Config

log = logging.getLogger(__name__)

Role = Literal["user", "assistant"]
Turn = tuple[Role, str]
M = TypeVar("M", bound=BaseModel)

BACKOFF_BASE = 0.5
BACKOFF_MAX = 8.0
RETRY_AFTER_MAX = 30.0


class LLM(Protocol):
    """A chat model the bank can ask. `complete` blocks; it raises LLMError on failure."""

    name: str

    def complete(self, turns: Sequence[Turn], *, system: str, max_tokens: int) -> str: ...


# ---- answer formats ------------------------------------------------------------------------------
class JudgeAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdict: Outcome
    rationale: str = Field(min_length=1, max_length=2000)


class ItemsAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[ItemDraft]


class BestAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    best: int = Field(ge=1)
    reason: str = Field("", max_length=1000)


class MergedText(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=600)
    content: str = Field(min_length=1, max_length=6000)


class MergeAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["merge", "replace", "keep_both"]
    merged: MergedText | None = None


_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\n(.*?)```", re.DOTALL)


def final_json(text: str) -> Any:
    """The last fenced JSON block of an answer, else its last top-level JSON object; None if neither."""
    for block in reversed(_FENCE.findall(text)):
        try:
            return json.loads(block.strip())
        except ValueError:
            continue
    decoder = json.JSONDecoder()
    found: Any = None
    pos = text.find("{")
    while pos != -1:
        try:
            obj, end = decoder.raw_decode(text, pos)
        except ValueError:
            pos = text.find("{", pos + 1)
            continue
        if isinstance(obj, dict):
            found = obj
        pos = text.find("{", end)
    return found


def parse_answer(text: str, model: type[M]) -> tuple[M | None, list[str]]:
    data = final_json(text)
    if data is None:
        return None, ["no JSON block found at the end of the answer"]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, [f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in exc.errors()[:8]]


def ask_json(
    llm: LLM,
    prompt: str,
    model: type[M],
    answer_format: str,
    *,
    max_tokens: int,
    check: Callable[[M], list[str]] | None = None,
) -> tuple[M | None, list[str]]:
    """Ask, parse, validate; one repair turn on a malformed answer. (None, problems) when both fail.

    `check` adds problems beyond the schema (too many items, items the quality gate rejects), so
    the repair turn can name them. LLMError (the model is unreachable) propagates.
    """
    turns: list[Turn] = [("user", prompt)]
    problems: list[str] = []
    for attempt in range(2):
        answer = llm.complete(turns, system=prompts.SYSTEM, max_tokens=max_tokens)
        parsed, problems = parse_answer(answer, model)
        if parsed is not None and check is not None:
            problems = check(parsed)
        if parsed is not None and not problems:
            return parsed, []
        log.info("%s answered unusably (attempt %d): %s", llm.name, attempt + 1, "; ".join(problems))
        turns += [("assistant", answer), ("user", prompts.repair(problems, answer_format))]
    return None, problems


def converse(llm: LLM, first: str, follow_ups: Sequence[str], *, max_tokens: int) -> list[str]:
    """A free-text conversation: the first prompt, then each follow-up turn; returns every answer."""
    turns: list[Turn] = [("user", first)]
    answers: list[str] = []
    for follow_up in [None, *follow_ups]:
        if follow_up is not None:
            turns.append(("user", follow_up))
        answer = llm.complete(turns, system=prompts.SYSTEM, max_tokens=max_tokens).strip()
        answers.append(answer)
        turns.append(("assistant", answer))
    return answers


# ---- backends ------------------------------------------------------------------------------------
def safe_url(url: str) -> str:
    """The URL without user info or query, fit for logs and messages."""
    try:
        parts = urlsplit(url)
        netloc = f"{parts.hostname or ''}:{parts.port}" if parts.port else parts.hostname or ""
    except ValueError:
        return "(an invalid URL)"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@dataclass
class HttpLLM:
    """An OpenAI-compatible `/chat/completions` endpoint (OpenAI, Ollama, vLLM, LM Studio, llama.cpp)."""

    base_url: str
    model: str
    api_key: str = field(default="", repr=False)
    timeout: float = 60.0
    retries: int = 2
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or f"http {self.model} at {safe_url(self.base_url)}"

    def _scrub(self, text: str) -> str:
        if self.api_key:
            text = text.replace(self.api_key, "[key]")
        from rb_mcp.redact import redact  # deferred: the server starts before the rules load

        return redact(text)[:300]

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def complete(self, turns: Sequence[Turn], *, system: str, max_tokens: int) -> str:
        import httpx  # deferred: only a configured endpoint pays for importing it

        payload = {
            "model": self.model,
            "messages": [{"role": "system", "content": system}]
            + [{"role": r, "content": t} for r, t in turns],
            "max_tokens": max_tokens,
            "stream": False,
        }
        url = f"{self.base_url}/chat/completions"
        timeout = httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0))
        last = "no attempt made"
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            for attempt in range(self.retries + 1):
                wait = min(BACKOFF_MAX, BACKOFF_BASE * 2**attempt) * (0.5 + random.random() / 2)
                try:
                    response = client.post(url, json=payload, headers=self._headers())
                except httpx.TimeoutException:
                    last = f"no answer within {self.timeout:g} s"
                except httpx.InvalidURL:
                    raise LLMError(
                        "RB_MCP_LLM_BASE_URL is not a valid URL (e.g. http://127.0.0.1:11434/v1)"
                    ) from None
                except httpx.HTTPError as exc:
                    # httpx messages can carry the URL; name only the error class.
                    last = f"cannot reach the endpoint ({type(exc).__name__})"
                else:
                    if response.status_code == 200:
                        return self._content(response)
                    last = f"HTTP {response.status_code}"
                    if response.status_code != 429 and response.status_code < 500:
                        raise LLMError(f"{self.name} refused the request: {last}{self._hint(response)}")
                    wait = max(wait, _retry_after(response))
                if attempt < self.retries:
                    log.info("%s: %s; retrying in %.1f s", self.name, last, wait)
                    time.sleep(wait)
        raise LLMError(f"{self.name} failed after {self.retries + 1} attempt(s): {last}")

    def _hint(self, response: Any) -> str:
        code = response.status_code
        if code in (401, 403):
            return " (check RB_MCP_LLM_API_KEY)"
        if code == 404:
            return " (check RB_MCP_LLM_BASE_URL, it usually ends in /v1, and RB_MCP_LLM_MODEL)"
        detail = self._scrub(response.text.strip()) if response.text else ""
        return f" ({detail})" if detail else ""

    def _content(self, response: Any) -> str:
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise LLMError(f"{self.name} answered with something that is not a chat completion") from None
        if not isinstance(content, str) or not content.strip():
            raise LLMError(f"{self.name} answered with an empty message")
        return content


def _retry_after(response: Any) -> float:
    raw = response.headers.get("retry-after", "")
    try:
        return min(RETRY_AFTER_MAX, max(0.0, float(raw)))
    except ValueError:
        return 0.0


class ChainLLM:
    """Backends in priority order: a failing one hands the request to the next."""

    def __init__(self, backends: Sequence[LLM]):
        if not backends:
            raise ValueError("ChainLLM needs at least one backend")
        self.backends = list(backends)
        self.used = self.backends[0].name

    @property
    def name(self) -> str:
        return self.used

    def complete(self, turns: Sequence[Turn], *, system: str, max_tokens: int) -> str:
        errors: list[str] = []
        for backend in self.backends:
            try:
                answer = backend.complete(turns, system=system, max_tokens=max_tokens)
            except LLMError as exc:
                log.warning("%s", exc)
                errors.append(str(exc))
                continue
            self.used = backend.name
            return answer
        raise LLMError("; ".join(errors))


def http_from_config(config: Config) -> HttpLLM | None:
    """The endpoint backend when RB_MCP_LLM_BASE_URL and RB_MCP_LLM_MODEL are both set, else None."""
    if not config.llm_base_url or not config.llm_model:
        return None
    return HttpLLM(
        base_url=config.llm_base_url,
        model=config.llm_model,
        api_key=config.llm_api_key,
        timeout=config.llm_timeout,
        retries=config.llm_retries,
    )


# ---- doctor --------------------------------------------------------------------------------------
def llm_checks(config: Config, probe: bool = True) -> list[tuple[str, str, str]]:
    """One (name, status, detail) line per backend, in the order they are tried; never 'fail'.

    Server-side models are optional, so problems are 'warn' and an unset backend is 'off'. How many
    trajectories wait for them is the bank's to say: `rb_mcp.admin.doctor` adds that line.
    """
    checks = [("llm: agent", "ok", "verdicts and items sent by the agent are always used first")]
    if config.sampling:
        checks.append((
            "llm: sampling", "ok", "deprecated (MCP 2026-07-28 deprecates sampling): still used when the client "
            "declares it (RB_MCP_SAMPLING=auto); prefer an endpoint (RB_MCP_LLM_BASE_URL) or the agent round trip",
        ))  # fmt: skip
    else:
        checks.append(("llm: sampling", "off", "RB_MCP_SAMPLING=off: the client's model is never asked"))
    checks.append(_http_check(config, probe))
    checks.append(("llm: fallback", "ok", "the agent judges and distills from the prompts rb-mcp returns"))
    return checks


def _http_check(config: Config, probe: bool) -> tuple[str, str, str]:
    if not config.llm_base_url:
        return ("llm: http", "off", "not configured (set RB_MCP_LLM_BASE_URL and RB_MCP_LLM_MODEL)")
    where = safe_url(config.llm_base_url)
    if not config.llm_model:
        return ("llm: http", "warn", f"{where}: RB_MCP_LLM_MODEL is not set, so the endpoint is not used")
    key = "with an API key" if config.llm_api_key else "without an API key"
    if not probe:
        return ("llm: http", "ok", f"{config.llm_model} at {where} {key} (not probed)")
    import httpx

    headers = {"Authorization": f"Bearer {config.llm_api_key}"} if config.llm_api_key else {}
    try:
        response = httpx.get(
            f"{config.llm_base_url}/models", headers=headers, timeout=min(config.llm_timeout, 5.0)
        )
    except httpx.HTTPError as exc:
        return (
            "llm: http",
            "warn",
            f"{where} unreachable ({type(exc).__name__}); trajectories queue until it is up",
        )
    if response.status_code in (401, 403):
        return (
            "llm: http",
            "warn",
            f"{where} rejects the key (HTTP {response.status_code}): check RB_MCP_LLM_API_KEY",
        )
    if response.status_code != 200:
        return ("llm: http", "warn", f"{where} answered HTTP {response.status_code} to GET /models")
    try:
        listed = {m.get("id") for m in response.json().get("data", []) if isinstance(m, dict)}
    except (ValueError, AttributeError):
        listed = set()
    if listed and config.llm_model not in listed:
        return (
            "llm: http",
            "warn",
            f"{where} does not list model {config.llm_model!r} (it has {len(listed)})",
        )
    return ("llm: http", "ok", f"{config.llm_model} at {where} {key}")
