"""The one Redis clock read (``process.clock``)."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from process.clock import aredis_now, aredis_now_ms, millis_of, redis_now, redis_now_ms, seconds_of


def test_a_time_answer_in_seconds_and_whole_milliseconds():
    assert seconds_of((1_700_000_000, 999_999)) == 1_700_000_000.999999
    assert millis_of((1_700_000_000, 999_999)) == 1_700_000_000_999
    assert millis_of((b"1700000000", b"1500")) == 1_700_000_000_001


def test_the_sync_and_async_readers_agree_with_each_other(client, redis_url):
    async def read():
        async_client = aioredis.Redis.from_url(redis_url)
        try:
            return await aredis_now(async_client), await aredis_now_ms(async_client)
        finally:
            await async_client.aclose()

    before = redis_now(client)
    seconds, ms = asyncio.run(read())
    after_ms = redis_now_ms(client)
    assert before <= seconds and int(before * 1000) <= ms <= after_ms
    assert abs(before - time.time()) < 60, "the server's clock, in epoch seconds"
