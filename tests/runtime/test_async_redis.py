"""The asyncio Redis client of a worker's event loop serves hundreds of concurrent commands (one
per SSH check in flight) over a bounded pool, instead of failing past redis-py's default limit."""

from __future__ import annotations

import asyncio

from process.connection import ASYNC_POOL_SIZE, async_redis_from_url


def test_a_thousand_concurrent_commands_share_a_bounded_pool(settings, client):
    async def burst():
        aclient = async_redis_from_url(settings.redis_url, settings)
        try:
            # each SET waits on the server a little, so that they are truly in flight together
            results = await asyncio.gather(
                *(aclient.set(f"test:claim:{n}", "x", nx=True, px=60_000) for n in range(1000))
            )
            return results, aclient.connection_pool.max_connections
        finally:
            await aclient.aclose()

    results, connections = asyncio.run(burst())
    assert all(results) and len(client.keys("test:claim:*")) == 1000
    assert connections <= ASYNC_POOL_SIZE
