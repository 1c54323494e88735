"""The Time4VPS client: ``GET /server`` (the list) and ``GET /server/{id}`` (one server's details).

- Basic auth with ``TIME4VPS_USERNAME`` / ``TIME4VPS_PASSWORD`` (a ``SecretStr`` until it goes on
  the wire; scrubbed from the log as every setting's secret is, ``process.logs``). One pooled
  ``httpx.AsyncClient`` per event loop.
- Errors are read as Time4VPS's own PHP library reads them: from the body's ``error`` key, whatever
  the HTTP status. ``wronglogin`` and ``ipnotallowed`` (and any other 401) raise ``Time4VpsRefused``,
  a ``ConfigurationError`` that says what to fix. ``["wait_x_between_action", N]`` is sat out inside
  the run while the run's wait budget (``TIME4VPS_MAX_WAIT_S``) lasts; a longer wait is remembered in
  Redis (``Keys.TIME4VPS_THROTTLED_UNTIL``, by the Redis clock) and raises ``Time4VpsThrottled``, and
  no request is sent before it has passed. 5xx, network errors, timeouts and bodies that are not JSON
  are retried with backoff, then ``Time4VpsUnavailable`` (a ``TransientError``).
- Every list item and every details body is validated on its own (``contracts.time4vps``). A bad item
  is logged (index, id if readable, what is wrong; never the values), counted and skipped, and the
  listing is then not ``complete``. A details body that does not validate is logged and counted, and
  the server's details are left for a later run.
- The list's documented example is one object, not an array: either shape is read.

A ``Time4VpsSession`` is one run's use of the client: its request counts and its wait budget.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import redis.asyncio as aioredis
from pydantic import ValidationError

from actors.adapters.kit import PerLoop, backoff_delay, validate_each, validation_summary
from actors.adapters.time4vps.errors import (
    Time4VpsRefused,
    Time4VpsRequestRefused,
    Time4VpsThrottled,
    Time4VpsUnavailable,
)
from actors.adapters.time4vps.settings import Time4VpsSettings
from contracts import Keys
from contracts.time4vps import ServerDetails, ServerListItem, Time4VpsErrorKind, parse_error
from process.clock import aredis_now
from process.logs import get_logger

log = get_logger(__name__)

#: when ``wait_x_between_action`` names no number of seconds
DEFAULT_WAIT_S = 30
#: the waits believed: at least a second (0 or less would ask again at once, for ever), at most an
#: hour (a larger number is the provider's mistake, not a reason to stop for days)
SHORTEST_WAIT_S, LONGEST_WAIT_S = 1, 3600


@dataclass(frozen=True)
class ServerListing:
    servers: tuple[ServerListItem, ...]
    #: items that did not validate; any makes the listing incomplete
    skipped: int = 0

    @property
    def complete(self) -> bool:
        return self.skipped == 0


class Time4VpsClient:
    """One per worker process (``Dependencies.time4vps``); ``session()`` once per run."""

    def __init__(
        self,
        settings: Time4VpsSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.base_url = settings.time4vps_api_url.rstrip("/")
        self.username, self._password = settings.time4vps_username, settings.time4vps_password
        self.max_attempts, self.max_wait_s = settings.time4vps_max_attempts, settings.time4vps_max_wait_s
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.sleep = sleep  # tests pass one that does not wait
        timeout = httpx.Timeout(settings.time4vps_timeout_s, connect=min(settings.time4vps_timeout_s, 5.0))
        self._pools = PerLoop(
            lambda: httpx.AsyncClient(timeout=timeout, transport=transport), is_closed=lambda pool: pool.is_closed
        )

    def __repr__(self) -> str:
        return f"Time4VpsClient({self.base_url!r}, user={self.username!r})"

    def session(self, client: aioredis.Redis) -> Time4VpsSession:
        return Time4VpsSession(self, client)

    def auth(self) -> httpx.BasicAuth:
        return httpx.BasicAuth(self.username, self._password.get_secret_value())

    def pool(self) -> httpx.AsyncClient:
        return self._pools.get()

    async def aclose(self) -> None:
        await self._pools.aclose(lambda pool: pool.aclose())


class Time4VpsSession:
    """One run's requests: ``requests["list"]``, ``requests["details"]``, the seconds waited, and
    how many details bodies were invalid."""

    def __init__(self, client: Time4VpsClient, redis_client: aioredis.Redis):
        self.client, self.redis = client, redis_client
        self.requests: Counter = Counter()
        self.waited_s = 0.0
        self.invalid_details = 0

    async def list_servers(self) -> ServerListing:
        body = await self._get("/server", "list")
        raw_items = [body] if isinstance(body, dict) else body  # the documented example is one object
        if not isinstance(raw_items, list):
            raise Time4VpsUnavailable("/server", 1, f"the listing is a JSON {type(body).__name__}, not an array")

        def skipped(index: int, raw, exc: ValidationError) -> None:
            ident = raw.get("server_id") if isinstance(raw, dict) else None
            log.warning(
                "time4vps.item_skipped",
                index=index,
                server_id=ident if isinstance(ident, int | str) and len(str(ident)) <= 40 else None,
                error=validation_summary(exc),
            )

        servers = validate_each(ServerListItem, raw_items, skipped)
        return ServerListing(tuple(servers), len(raw_items) - len(servers))

    async def server_details(self, server_id: int) -> ServerDetails | None:
        """The server's details; None when its body is invalid or Time4VPS refuses this one server
        (logged): the server's details are then asked for again at a later run."""
        path = f"/server/{int(server_id)}"
        try:
            body = await self._get(path, "details")
        except Time4VpsRequestRefused as exc:
            log.warning("time4vps.details_refused", server_id=server_id, status=exc.status, reason=exc.reason[:200])
            return None
        try:
            return ServerDetails.model_validate(body)
        except ValidationError as exc:
            self.invalid_details += 1
            log.warning("time4vps.details_invalid", server_id=server_id, error=validation_summary(exc))
            return None

    # ---------------------------------------------------------------- one request

    async def _get(self, path: str, kind: str) -> Any:
        await self._respect_earlier_throttle()
        last_error, attempt = "", 0
        while attempt < self.client.max_attempts:
            attempt += 1
            self.requests[kind] += 1
            try:
                response = await self.client.pool().get(self.client.base_url + path, auth=self.client.auth())
            except httpx.TransportError as exc:  # connect/read errors and timeouts
                last_error = type(exc).__name__
            else:
                status = response.status_code
                body, problem = _decoded(response)
                error = parse_error(body)
                if error is not None and error.kind is Time4VpsErrorKind.THROTTLED:
                    wait = DEFAULT_WAIT_S if error.wait_seconds is None else error.wait_seconds
                    await self._wait(min(max(wait, SHORTEST_WAIT_S), LONGEST_WAIT_S))
                    attempt -= 1  # a wait asked for is not a failed attempt
                    continue
                if status == 401 or (error is not None and error.kind is not Time4VpsErrorKind.OTHER):
                    raise Time4VpsRefused(
                        error.kind if error else Time4VpsErrorKind.OTHER, error.reason if error else "HTTP 401"
                    )
                if 400 <= status < 500 or error is not None:
                    raise Time4VpsRequestRefused(path, status, error.reason if error else f"HTTP {status}")
                if problem is None:
                    return body
                last_error = problem
            if attempt < self.client.max_attempts:
                delay = backoff_delay(attempt, self.client.backoff_base, self.client.backoff_max)
                log.warning("time4vps.retrying", path=path, attempt=attempt, error=last_error, delay_s=round(delay, 3))
                await self.client.sleep(delay)
        raise Time4VpsUnavailable(path, attempt, last_error)

    async def _wait(self, seconds: float) -> None:
        if self.waited_s + seconds > self.client.max_wait_s:
            now = await aredis_now(self.redis)  # every worker agrees on when a wait ends
            await self.redis.set(Keys.TIME4VPS_THROTTLED_UNTIL, str(now + seconds), ex=int(seconds) + 1)
            log.warning("time4vps.throttled", wait_s=seconds, note="resumed at a later tick")
            raise Time4VpsThrottled(seconds)
        log.info("time4vps.waiting", wait_s=seconds, reason="wait_x_between_action")
        self.waited_s += seconds
        await self.client.sleep(seconds)

    async def _respect_earlier_throttle(self) -> None:
        until = await self.redis.get(Keys.TIME4VPS_THROTTLED_UNTIL)
        if until is None:
            return
        try:
            remaining = float(until) - await aredis_now(self.redis)
        except ValueError:
            return  # an unreadable record: ask, and let Time4VPS say again if it must
        if remaining > 0:
            if self.waited_s + remaining > self.client.max_wait_s:
                raise Time4VpsThrottled(remaining)
            self.waited_s += remaining
            await self.client.sleep(remaining)


def _decoded(response: httpx.Response) -> tuple[Any, str | None]:
    """(the JSON body, None), or (None, why it is unusable)."""
    if response.status_code >= 500:
        return None, f"HTTP {response.status_code}"
    try:
        return response.json(), None
    except ValueError:
        return None, f"HTTP {response.status_code}, body is not JSON"


def time4vps_client(settings: Time4VpsSettings | None = None) -> Time4VpsClient:
    """The client for the environment's settings (``ConfigurationError`` naming what is missing)."""
    settings = settings or Time4VpsSettings.from_env()
    client = Time4VpsClient(settings)
    log.info("time4vps.client", api=client.base_url, user=client.username)
    return client


__all__ = ["DEFAULT_WAIT_S", "ServerListing", "Time4VpsClient", "Time4VpsSession", "time4vps_client"]
