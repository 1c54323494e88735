"""The one clock every process agrees on: the Redis server's (``TIME``).

Why: tickers, workers, the web process and the CLI run on machines whose clocks drift apart.
The slot a tick belongs to, a heartbeat's expiry, when a repository went missing, whether a
server is stuck, when a provider's wait ends: each is judged by this one clock, so every replica
judges alike. Read it with ``redis_now`` (``aredis_now`` on an event loop), or, inside a
pipeline, queue ``pipe.time()`` and read its answer with ``seconds_of``. The ``_ms`` forms give
whole epoch milliseconds, exactly (sorted-set scores, PX deadlines).
"""

from __future__ import annotations

from collections.abc import Sequence

import redis
import redis.asyncio as aioredis

#: what ``TIME`` answers: (epoch seconds, microseconds within that second)
TimeAnswer = Sequence[int]


def seconds_of(answer: TimeAnswer) -> float:
    """A ``TIME`` answer as epoch seconds."""
    return int(answer[0]) + int(answer[1]) / 1e6


def millis_of(answer: TimeAnswer) -> int:
    """A ``TIME`` answer as whole epoch milliseconds."""
    return int(answer[0]) * 1000 + int(answer[1]) // 1000


def redis_now(client: redis.Redis) -> float:
    return seconds_of(client.time())


def redis_now_ms(client: redis.Redis) -> int:
    return millis_of(client.time())


async def aredis_now(client: aioredis.Redis) -> float:
    return seconds_of(await client.time())


async def aredis_now_ms(client: aioredis.Redis) -> int:
    return millis_of(await client.time())
