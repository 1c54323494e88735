"""The one way a process gets its Redis clients: blocking for threads, asyncio for event loops."""

from __future__ import annotations

import redis
import redis.asyncio as aioredis


class RedisNotConfigured(RuntimeError):
    pass


def _options(url: str | None) -> dict:
    if not url:
        raise RedisNotConfigured(
            "REDIS_URL is not set. Point it at a Redis server (redis://host:6379/0), "
            "or run `scheduler demo` for an embedded one."
        )
    # Timeouts keep a dead server from hanging a loop forever; the callers retry.
    return {"socket_timeout": 5, "socket_connect_timeout": 2, "health_check_interval": 10,
            "decode_responses": False}


def redis_from_url(url: str | None) -> redis.Redis:
    return redis.Redis.from_url(url, **_options(url))


def async_redis_from_url(url: str | None) -> aioredis.Redis:
    """For code on an event loop: a blocking call there would stall every coroutine of the
    process (every SSH check of a worker), so async code uses this client. It belongs to the
    loop it is first used on (see ``actors.adapters.kit.PerLoop``)."""
    return aioredis.Redis.from_url(url, **_options(url))
