"""The platform API client's core, shared by every resource's methods.


- Headers: ``X-Internal-Key`` (a ``SecretStr`` until the moment it goes on the wire; never
  logged) and ``X-Correlation-ID`` (the run's ``correlation_id``, which a run's client carries:
  ``for_run``; else a fresh uuid4 per request; retries of one request keep its id).
- Retries with exponential backoff and jitter on 5xx, network errors and timeouts only; when
  they run out, ``PlatformUnavailable`` (a ``TransientError``: the worker retries later).
  A 4xx is never retried: ``PlatformAPIError`` carries the status and the response body.
  A body that is not JSON or not the contract's shape is ``PlatformResponseError`` (transient too).
- Outgoing text is checked before it goes on the wire (``contracts.text``): a string in a
  request body with a lone surrogate or a NUL is ``UnwritableRecord``, that record's failure,
  whatever model or dict it came in (incident details included).
- ``concerns_every_write(exc)``: whether an error raised by one write should stop the run (a
  refused credential) or is that record's failure (anything else).
- List endpoints validate item by item: a bad item is logged, skipped and counted
  (``Listing.skipped``); it never fails the whole read.
- One pooled ``httpx.AsyncClient`` per client and event loop (``kit.PerLoop``); a worker
  process builds one client (``PlatformSettings.client()``) in its dependencies object.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Self, TypeVar

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from actors.adapters.kit import (
    LentClients,
    PerLoop,
    backoff_delay,
    validate_each,
    validation_summary,
)
from actors.adapters.platform.errors import (
    PlatformAPIError,
    PlatformResponseError,
    PlatformUnavailable,
    UnwritableRecord,
)
from contracts.text import text_problem
from process.logs import get_logger

log = get_logger(__name__)
T = TypeVar("T", bound=BaseModel)


def _unwritable(value: Any, where: str = "") -> str | None:
    """The first string in a JSON body that cannot be sent, as ``where: why``."""
    if isinstance(value, str):
        problem = text_problem(value)
        return problem and f"{where or '<body>'}: {problem}"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if isinstance(key, str) and (problem := text_problem(key)):
            return f"{where}.<key>: {problem}"
        if found := _unwritable(item, f"{where}.{key}" if where else str(key)):
            return found
    return None


def encode_body(method: str, path: str, body: Any) -> bytes:
    """The JSON bytes of a request body, or ``UnwritableRecord``."""
    if problem := _unwritable(body):
        raise UnwritableRecord(method, path, problem)
    try:
        return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except (ValueError, TypeError) as exc:  # NaN, infinity, or a value JSON has no form for
        raise UnwritableRecord(method, path, str(exc)[:200]) from None


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Listing(Generic[T]):
    """The valid items of a list answer, and how many were skipped as invalid."""

    items: list[T] = field(default_factory=list)
    skipped: int = 0

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def _values(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


# --------------------------------------------------------------------------- the client


class BaseClient:
    """The transport every resource's methods share: headers, retries, validation."""

    def __init__(
        self,
        base_url: str,
        api_key: SecretStr,
        *,
        timeout: float = 10.0,
        max_attempts: int = 4,
        backoff_base: float = 0.25,
        backoff_max: float = 8.0,
        max_connections: int = 32,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))
        self.max_attempts = max_attempts
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        tls = httpx.create_ssl_context()  # one for all the clients: each would load the CA store
        self._pools = PerLoop(
            lambda: LentClients(
                max_connections,
                lambda limits: httpx.AsyncClient(
                    base_url=self.base_url, timeout=self.timeout, limits=limits, transport=transport, verify=tls
                ),
            ),
            is_closed=lambda pool: pool.is_closed,
        )
        #: sent as ``X-Correlation-ID`` with every request; None: a fresh id per request
        self.correlation_id: str | None = None

    def for_run(self, correlation_id: str) -> Self:
        """This client (its connection pools shared) for one run: each request carries its id."""
        bound = copy.copy(self)
        bound.correlation_id = correlation_id
        return bound

    def __repr__(self) -> str:
        return f"PlatformClient({self.base_url!r})"

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool of the running event loop."""
        await self._pools.aclose(lambda pool: pool.aclose())

    def _pool(self) -> LentClients:
        return self._pools.get()

    def backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, self.backoff_base, self.backoff_max)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        attempts: int | None = None,
        sign: Callable[[bytes], dict[str, str]] | None = None,
    ) -> httpx.Response:
        """One request, retried on 5xx/network errors up to ``attempts`` (default
        ``max_attempts``) times; ``headers`` are added to the key and correlation id.
        ``sign``: headers made from the exact body bytes sent, afresh for every attempt
        (the RAG ingest's HMAC signature and its timestamp)."""
        headers = {
            **(headers or {}),
            "X-Internal-Key": self._api_key.get_secret_value(),
            "X-Correlation-ID": self.correlation_id or str(uuid.uuid4()),
        }
        max_attempts = self.max_attempts if attempts is None else max(1, attempts)
        content = None
        if body is not None:
            content = encode_body(method, path, body)
            headers["Content-Type"] = "application/json"
        params = {k: v for k, v in (params or {}).items() if v is not None}
        last_error = ""
        for attempt in range(1, max_attempts + 1):
            started = time.monotonic()
            if sign is not None:
                headers.update(sign(content or b""))
            try:
                async with self._pool().lend() as client:
                    response = await client.request(method, path, params=params, content=content, headers=headers)
            except httpx.TransportError as exc:  # connect/read/write errors and timeouts
                last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            except httpx.DecodingError as exc:  # e.g. a corrupt gzip body: an answer, but unreadable
                raise PlatformResponseError(method, path, 0, f"undecodable body: {exc}") from None
            else:
                log.debug(
                    "platform_api.request",
                    method=method,
                    path=path,
                    status=response.status_code,
                    attempt=attempt,
                    elapsed_ms=round((time.monotonic() - started) * 1000, 1),
                    correlation_id=headers["X-Correlation-ID"],
                )
                if response.status_code < 400:
                    return response
                if response.status_code < 500:
                    raise PlatformAPIError(response.status_code, method, path, response.text[:10_000], attempt)
                last_error = f"HTTP {response.status_code}"
            if attempt < max_attempts:
                delay = self.backoff(attempt)
                log.warning(
                    "platform_api.retrying",
                    method=method,
                    path=path,
                    attempt=attempt,
                    max_attempts=max_attempts,
                    error=last_error,
                    delay_s=round(delay, 3),
                )
                await asyncio.sleep(delay)
        raise PlatformUnavailable(method, path, max_attempts, last_error)

    @staticmethod
    def _body(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            request = response.request
            raise PlatformResponseError(
                request.method, request.url.path, response.status_code, "body is not JSON"
            ) from None

    def _one(self, response: httpx.Response, model: type[T]) -> T:
        try:
            return model.model_validate(self._body(response))
        except ValidationError as exc:
            request = response.request
            raise PlatformResponseError(
                request.method,
                request.url.path,
                response.status_code,
                f"not a {model.__name__}: {validation_summary(exc)}",
            ) from None

    def _many(self, response: httpx.Response, model: type[T]) -> Listing[T]:
        data = self._body(response)
        if not isinstance(data, list):
            raise PlatformResponseError(
                response.request.method, response.request.url.path, response.status_code, "expected a JSON array"
            )

        def skipped(index: int, raw, exc: ValidationError) -> None:
            ident = raw.get("handle", raw.get("id", raw.get("path"))) if isinstance(raw, dict) else None
            log.warning(
                "platform_api.item_skipped",
                resource=model.__name__,
                path=response.request.url.path,
                index=index,
                item=ident,
                error=validation_summary(exc),
            )

        items = validate_each(model, data, skipped)
        return Listing(items, len(data) - len(items))

    # ---------------------------------------------------------------- projects

    async def _list(
        self,
        path: str,
        model: type[T],
        params: dict[str, Any] | None = None,
        *,
        each: tuple[str, Iterable[Any]] | None = None,
    ) -> Listing[T]:
        """A collection read, validated item by item.

        The platform's query filters are scalars (a repeated parameter keeps only the last
        value), so a filter on several values is one request per value: ``each=("status",
        [a, b])``; the answers are concatenated in that order.
        """
        if each is None:
            return self._many(await self._request("GET", path, params=params), model)
        name, values = each
        items: list[T] = []
        skipped = 0
        for value in values:
            listing = self._many(await self._request("GET", path, params={**(params or {}), name: value}), model)
            items.extend(listing.items)
            skipped += listing.skipped
        return Listing(items, skipped)
