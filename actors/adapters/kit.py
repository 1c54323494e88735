"""What every adapter needs, once: a resource per event loop, HTTP clients lent one per request,
backoff with jitter, the rule for refusals that concern one record, a log-safe summary of a
validation error, settings read from the environment with an error that names the variables,
and how long an answer asks us to wait (``Retry-After`` and the rate-limit reset headers of
OpenAI-style APIs).

Adapters import this module and nothing of each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import random
import re
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Generic, TypeVar

import httpx
from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings

from process.errors import ConfigurationError, TransientError
from process.logs import get_logger

T = TypeVar("T")
S = TypeVar("S", bound=BaseSettings)
M = TypeVar("M", bound=BaseModel)
_log = get_logger(__name__)

#: HTTP answers that concern one record (gone, clashing, refused as invalid): that record's
#: failure, logged and counted; the run goes on. Any other 4xx (401, 403...) concerns every write.
PER_RECORD_REFUSALS = frozenset({404, 409, 422})


def is_per_record_refusal(status: int) -> bool:
    return status in PER_RECORD_REFUSALS


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Delay after failed attempt ``attempt`` (1-based): exponential from ``base``, capped at
    ``cap``, the upper half jittered so that retrying clients spread out."""
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def _duration_s(text: str) -> float | None:
    """``6m0s``, ``1.5s``, ``20ms`` (OpenAI's ``x-ratelimit-reset-*``) in seconds; None if unreadable."""
    text = text.strip()
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def retry_after_s(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> float | None:
    """How long a 429 (or 503) asks the caller to wait, in seconds; None when it does not say.

    ``retry-after-ms``, then ``Retry-After`` (seconds or an HTTP date), then the longest of the
    ``x-ratelimit-reset-requests`` / ``-tokens`` durations; a value in the past counts as 0.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        if "retry-after-ms" in lowered:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
    except ValueError:
        pass
    if (value := lowered.get("retry-after")) is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - now())
            except (TypeError, ValueError, IndexError):
                pass
    resets = [
        _duration_s(lowered[name])
        for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")
        if name in lowered
    ]
    known = [r for r in resets if r is not None]
    return max(known) if known else None


def validation_summary(exc: ValidationError, limit: int = 500) -> str:
    """Where and what, without the input values: those can be large, hostile or secret."""
    text = "; ".join(
        f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}"
        for e in exc.errors(include_url=False, include_input=False)
    )
    return text[:limit]


def validate_each(
    model: type[M], raw_items: Iterable[object], on_invalid: Callable[[int, object, ValidationError], None]
) -> list[M]:
    """Each item of a listing validated on its own: the valid ones, in order; for every other one,
    ``on_invalid(index, raw, error)`` (the caller logs it). One bad item never fails the read."""
    valid: list[M] = []
    for index, raw in enumerate(raw_items):
        try:
            valid.append(model.model_validate(raw))
        except ValidationError as exc:
            on_invalid(index, raw, exc)
    return valid


def settings_from_env(cls: type[S], what: str, error: type[Exception] = ConfigurationError) -> S:
    """``cls()`` from the environment, or ``error`` naming the variables to check (never their
    values: pydantic would quote the input, a key included)."""
    try:
        return cls()
    except ValidationError as exc:
        names = ", ".join(str(e["loc"][0]).upper() for e in exc.errors())
        raise error(f"{what} not configured: check {names}") from None


class PerLoop(Generic[T]):
    """One ``T`` per running event loop, made by ``factory`` on first use there.

    Connection pools (httpx, redis.asyncio) and asyncio primitives belong to the loop they were
    made on; a client used from a new loop (a test's ``asyncio.run``) must not reuse the sockets
    of a dead one. Entries go when their loop is garbage-collected.
    """

    def __init__(self, factory: Callable[[], T], *, is_closed: Callable[[T], bool] = lambda _: False):
        self._factory, self._is_closed = factory, is_closed
        self._items: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        with self._lock:
            item = self._items.get(loop)
            if item is None or self._is_closed(item):
                item = self._items[loop] = self._factory()
            return item

    def pop(self) -> T | None:
        """Forget (and return, for closing) the running loop's item."""
        with self._lock:
            return self._items.pop(asyncio.get_running_loop(), None)

    async def aclose(self, close: Callable[[T], Awaitable[object]]) -> None:
        item = self.pop()
        if item is not None:
            await close(item)


class LentClients:
    """``size`` httpx clients of one connection each, lent one per request: ``async with
    clients.lend() as client``; past ``size`` requests at once, a request waits for a client.

    Not one client of ``size`` connections: each time a request starts or ends, httpcore's pool
    walks every connection, and counts its idle ones once per connection, work quadratic in the
    connections: at 32 a request cost 2.2 ms of CPU, 3x what it costs here (bench/README.md,
    "platform writes"). The client returned last is lent first, so a quiet
    process keeps few connections open (an idle one closes after httpx's keep-alive expiry)."""

    ONE = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    def __init__(self, size: int, make: Callable[[httpx.Limits], httpx.AsyncClient]):
        self.clients = [make(self.ONE) for _ in range(size)]
        self.free: asyncio.LifoQueue[httpx.AsyncClient] = asyncio.LifoQueue()
        for client in reversed(self.clients):
            self.free.put_nowait(client)

    @contextlib.asynccontextmanager
    async def lend(self) -> AsyncIterator[httpx.AsyncClient]:
        client = await self.free.get()
        try:
            yield client
        finally:
            self.free.put_nowait(client)

    @property
    def is_closed(self) -> bool:
        return any(client.is_closed for client in self.clients)

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


# --------------------------------------------------------------------------- OpenAI-compatible endpoints


class EndpointUnavailable(TransientError):
    """An OpenAI-compatible endpoint kept answering 5xx / 429 or not at all: worth a later retry."""


class EndpointRefused(Exception):
    """It refused the request itself (400, 404, 422 ...): sending it again changes nothing."""

    def __init__(self, status: int, url: str, message: str):
        self.status, self.url, self.message = status, url, message
        super().__init__(f"{url} answered {status}: {message}")


def openai_error_message(response: httpx.Response) -> str:
    """OpenAI's ``{"error": {"message": ...}}``, else the start of the body (never a header: no key)."""
    try:
        message = response.json()["error"]["message"]
        return str(message)[:300]
    except (ValueError, KeyError, TypeError):
        return response.text[:300]


async def post_json(
    pool: httpx.AsyncClient,
    url: str,
    body: dict,
    *,
    headers: Mapping[str, str],
    attempts: int,
    max_wait_s: float,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    on_request: Callable[[], None] = lambda: None,
) -> object:
    """POST ``body`` to an OpenAI-compatible endpoint and return the decoded JSON answer.

    - 429 (and a 503 that says how long): waited out as ``Retry-After`` / ``retry-after-ms`` /
      ``x-ratelimit-reset-*`` ask, when that is at most ``max_wait_s`` (1 s when they say nothing);
      a longer wait is ``EndpointUnavailable``: the run is retried later instead of holding its lock.
    - 5xx, network errors, timeouts and undecodable bodies: retried with backoff, ``attempts`` in all.
    - 401/403: ``ConfigurationError`` (the key); any other 4xx: ``EndpointRefused``.
    ``headers`` may hold the key: it goes on the wire only, never into a message or a log line.
    """
    failures = waits = 0
    while True:
        problem = ""
        try:
            on_request()
            response = await pool.post(url, json=body, headers=dict(headers))
        except httpx.TransportError as exc:
            problem = type(exc).__name__
        else:
            status = response.status_code
            if status == 200:
                try:
                    return response.json()
                except ValueError:
                    problem = "undecodable body"
            elif status == 429 or (status == 503 and retry_after_s(response.headers) is not None):
                wait = retry_after_s(response.headers)
                wait = 1.0 if wait is None else wait
                if wait > max_wait_s or waits >= 10:
                    raise EndpointUnavailable(f"{url} is rate limited for {wait:.0f}s more (HTTP {status})")
                waits += 1
                _log.warning("endpoint.rate_limited_waiting", url=url, status=status, wait_s=round(wait, 3))
                await sleep(wait)
                continue
            elif status >= 500:
                problem = f"HTTP {status}"
            elif status in (401, 403):
                raise ConfigurationError(f"{url} refused the credentials (HTTP {status}): check its API key")
            else:
                raise EndpointRefused(status, url, openai_error_message(response))
        failures += 1
        if failures >= attempts:
            raise EndpointUnavailable(f"{url} failed {failures} time(s); last: {problem}")
        delay = backoff_delay(failures, 0.25, 8.0)
        _log.warning("endpoint.retrying", url=url, attempt=failures, error=problem, delay_s=round(delay, 2))
        await sleep(delay)
