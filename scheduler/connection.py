"""The one way a process gets its Redis client."""

from __future__ import annotations

import redis


class RedisNotConfigured(RuntimeError):
    pass


def redis_from_url(url: str | None) -> redis.Redis:
    if not url:
        raise RedisNotConfigured(
            "REDIS_URL is not set. Point it at a Redis server (redis://host:6379/0), "
            "or run `scheduler demo` for an embedded one."
        )
    # Timeouts keep a dead server from hanging a loop forever; the callers retry.
    return redis.Redis.from_url(
        url,
        socket_timeout=5,
        socket_connect_timeout=2,
        health_check_interval=10,
        decode_responses=False,
    )
