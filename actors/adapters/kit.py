"""What every adapter needs, once: a resource per event loop, backoff with jitter, the rule for
refusals that concern one record, a log-safe summary of a validation error, and settings read
from the environment with an error that names the variables.

Adapters import this module and nothing of each other.
"""

from __future__ import annotations

import asyncio
import random
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from scheduler.errors import ConfigurationError

T = TypeVar("T")
S = TypeVar("S", bound=BaseSettings)

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


def validation_summary(exc: ValidationError, limit: int = 500) -> str:
    """Where and what, without the input values: those can be large, hostile or secret."""
    text = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}"
                     for e in exc.errors(include_url=False, include_input=False))
    return text[:limit]


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
