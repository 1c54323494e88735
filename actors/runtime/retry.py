"""The retry policy: which failures are worth another attempt, and how many attempts.

Dramatiq's ``Retries`` middleware stops looking at ``max_retries`` once a ``retry_when``
predicate is given: the predicate alone decides. So ours repeats Dramatiq's own lookup of
the limit (the message's option, then the actor's, then the middleware default) before it
asks whether the error is transient. Without it an actor's own limit was ignored: a part
declared with ``max_retries=1`` ran as often as the default allowed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import dramatiq
import httpx
import redis
from dramatiq.middleware import CurrentMessage, Shutdown

from actors.runtime.middleware import AdmissionUnavailable
from process.errors import TransientError

#: what is worth another attempt; anything else (a validation error, a lost lock, a bug) is not
TRANSIENT = (
    TransientError,
    AdmissionUnavailable,
    Shutdown,
    redis.ConnectionError,
    redis.TimeoutError,
    httpx.TransportError,
    ConnectionError,
    TimeoutError,
    asyncio.TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT)


def max_retries(broker: dramatiq.Broker, message: dramatiq.Message, default: int) -> int:
    """The retry limit of ``message``, looked up in Dramatiq's order: message, actor, default."""
    if "max_retries" in message.options:
        return message.options["max_retries"]
    actor = broker.get_actor(message.actor_name)
    return actor.options.get("max_retries", default)


def retry_when(broker: dramatiq.Broker, default_max: int) -> Callable[[int, BaseException], bool]:
    """The predicate for ``Retries(retry_when=...)``: ``retries`` is how many attempts failed
    before this one, so a limit of 1 allows two attempts in all."""

    def should_retry(retries: int, exc: BaseException) -> bool:
        # CurrentMessage still holds the message here: Retries runs its after-hook before
        # CurrentMessage (after-hooks run bottom-up), and both run on the worker's thread.
        message = CurrentMessage.get_current_message()
        limit = default_max if message is None else max_retries(broker, message, default_max)
        return retries < limit and is_transient(exc)

    return should_retry
