"""How a tool call reaches the bank: opening it off the handshake path, running `Bank` methods in
a worker thread, the server-side model, and the errors a model can act on.

The handshake does not wait for the bank: it opens (imports, migrations, vector index snapshot,
model) in a thread of its own once the first request after the handshake is answered, so it does not compete with the
handshake for the CPU either; the first tool call waits for it if need be.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp_types import InputRequiredResult
from pydantic import ValidationError

from rb_mcp.config import Config
from rb_mcp.errors import RbError
from rb_mcp.llm import LLM, ChainLLM, http_from_config
from rb_mcp.server import sampling

if TYPE_CHECKING:  # the bank (numpy, SQLite, the index) is imported after the handshake
    from rb_mcp.loop.bank import Bank
    from rb_mcp.loop.distill import ProgressFn

log = logging.getLogger(__name__)
T = TypeVar("T")
OPEN_TIMEOUT = 120.0  # seconds a tool call waits for the bank to open (a busy bank retries its lock)
OPEN_FALLBACK = 2.0  # seconds after start to open the bank when no request follows the handshake
HANDSHAKE = ("initialize", "server/discover", "notifications/initialized")


def open_default(config: Config) -> Bank:
    # Deferred: importing the bank pulls numpy and the store, which the handshake must not wait for.
    from rb_mcp.loop.bank import Bank

    return Bank(config)


def unexpected(exc: Exception) -> ToolError:
    """A bug or a damaged bank: say so with advice instead of the SDK's bare 'Error executing tool'."""
    log.exception("unexpected error in a tool call")
    return ToolError(
        f"rb-mcp hit an unexpected error ({type(exc).__name__}: {str(exc)[:200]}); the bank may be damaged: "
        "run `rb-mcp doctor`, and restore a copy made with `rb-mcp backup` if it reports a problem"
    )


def tool_error(exc: Exception) -> ToolError:
    if isinstance(exc, ValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        return ToolError(f"invalid input: {problems}")
    return ToolError(str(exc))


def _wait(opened: Future[Bank], timeout: float | None) -> Bank | None:
    """The opened bank; None when opening failed (the reason is in `BankHandle.error`) or timed out."""
    try:
        return opened.result(timeout)
    except (FutureTimeout, Exception):
        return None


def _preload(bank: Bank) -> None:
    try:
        bank.embedder.load()
    except Exception as exc:  # reported again, with advice, on the first tool call that needs it
        log.warning("embedding model preload failed: %s", exc)
    try:
        bank.store.warm_vectors()
    except Exception as exc:
        log.warning("vector index preload failed: %s", exc)


UPKEEP_DELAY = 30.0  # seconds after a call that the daily maintenance starts, so it never slows one


def _upkept(bank: Bank) -> Bank:
    """The bank, after scheduling its daily maintenance in the background when it is due."""
    bank.maintain_soon(UPKEEP_DELAY)
    return bank


class BankHandle:
    """The server's bank, opened once in the background; every call waits for it (or its error)."""

    def __init__(self, config: Config, factory: Callable[[Config], Bank]):
        self.config = config
        self.factory = factory
        self.bank: Bank | None = None
        self.error: str | None = None
        self.opened: Future[Bank] = Future()
        self._starting = threading.Lock()

    def start_opening(self, delay: float = 0.0) -> None:
        """Open the bank in a thread of its own, once: `delay` seconds from now, or now."""
        if not self._starting.acquire(blocking=False):
            return
        timer = threading.Timer(delay, self._open)
        timer.daemon, timer.name = True, "rb-mcp-open"
        timer.start()

    def _open(self) -> None:
        try:
            bank = self.factory(self.config)
        except RbError as exc:
            # Stay up and answer every call with the reason: a server that exits at start only shows
            # the client a closed connection, with the advice lost in a log nobody reads.
            log.error("cannot open the bank: %s", exc)
            self.error = str(exc)
            self.opened.set_exception(exc)
            return
        except BaseException as exc:
            self.error = f"cannot open the bank: {exc}"
            self.opened.set_exception(exc)
            raise
        self.bank = bank
        self.opened.set_result(bank)
        if self.config.preload:
            # Warm the model and the vector index so the first recall is fast; errors surface on use.
            _preload(bank)

    @asynccontextmanager
    async def lifespan(self, _app: MCPServer) -> AsyncIterator[dict[str, Any]]:
        # A client that sends nothing after the handshake still gets its bank opened, a little later.
        fallback = threading.Timer(OPEN_FALLBACK, self.start_opening)
        fallback.daemon = True
        fallback.start()
        try:
            yield {}
        finally:
            fallback.cancel()
            if self._starting.locked():
                bank = await anyio.to_thread.run_sync(_wait, self.opened, OPEN_TIMEOUT)
                if bank is not None:
                    await anyio.to_thread.run_sync(bank.close)

    async def open_after_handshake(self, ctx: Any, call_next: Callable[[Any], Any]) -> Any:
        """Middleware: once the first request after the handshake (tools/list, usually) is answered,
        the bank starts opening. Not on `initialized`: a 2026-era client (mcp 2.3's default) sends
        server/discover and never sends it."""
        try:
            return await call_next(ctx)
        finally:
            if ctx.method not in HANDSHAKE:
                self.start_opening()

    async def ready(self) -> Bank:
        """The bank for a tool call, opening it now if nothing did yet."""
        bank = self.bank
        if bank is None:
            self.start_opening()
            bank = await anyio.to_thread.run_sync(_wait, self.opened, OPEN_TIMEOUT)
        if bank is None:
            raise ToolError(self.error or "the bank is still opening; retry in a moment")
        return bank

    def for_resource(self) -> Bank:
        """The bank for a resource read (synchronous, shorter wait)."""
        found = self.bank or _wait(self.opened, 10.0)
        if found is None:
            raise ResourceError(self.error or "the bank is still opening; retry in a moment")
        return found


class Calls:
    """Runs tool bodies against the bank, with the server-side models where a call can use them."""

    def __init__(self, handle: BankHandle):
        self.handle = handle
        self.config = handle.config
        self.http = http_from_config(handle.config)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        bank = await self.handle.ready()
        try:
            return await anyio.to_thread.run_sync(lambda: fn(_upkept(bank), *args, **kwargs))
        except (RbError, ValidationError) as exc:
            raise tool_error(exc) from exc
        except Exception as exc:
            raise unexpected(exc) from exc

    async def run_with_model(
        self, ctx: Context, op: Callable[[Bank, LLM | None, ProgressFn | None], T]
    ) -> T | InputRequiredResult:
        """Run `op` with the server-side models this call can use (sampling first, then the endpoint);
        without any, exactly as `run` does. A retried call (2026-07-28 sampling) resumes its job."""
        bank = await self.handle.ready()
        http, config = self.http, self.config
        try:
            if ctx.request_state:
                return await sampling.pump(sampling.resume(ctx.request_state, ctx.input_responses), ctx)
            usable, modern = sampling.can_sample(ctx) if config.sampling else (False, False)
            if not usable and http is None:
                return await anyio.to_thread.run_sync(lambda: op(_upkept(bank), None, None))

            def body(job: sampling.Job) -> T:
                backends: list[LLM] = [sampling.SamplingLLM(job)] if usable else []
                return op(bank, ChainLLM(backends + ([http] if http else [])), job.progress)

            return await sampling.pump(sampling.start(body, modern, config.sampling_timeout), ctx)
        except (RbError, ValidationError) as exc:
            raise tool_error(exc) from exc
        except (ToolError, anyio.get_cancelled_exc_class()):
            raise
        except Exception as exc:
            raise unexpected(exc) from exc
