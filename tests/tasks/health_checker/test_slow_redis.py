"""A slow Redis must not stall the worker's event loop: every SSH check of a process shares it.

Redis is reached through the sandbox's loopback latency shim, so that each command takes a round
trip of REDIS_ANSWER_DELAY_S; the checks of a batch run while a heartbeat on the same loop
measures how long the loop was ever unavailable.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import pytest

from actors.tasks.health_checker.check import check_batch
from contracts.health import CheckTarget, HealthCheckBatch
from process.embedded import free_port
from sandbox.latency import LatencyProxy, Route
from sandbox.ssh.hoststate import HostState
from tests.support import make_tick
from tests.tasks.health_checker.support import seed, slot_stats

pytestmark = pytest.mark.slow  # every Redis answer 0.6 s late, by design

REDIS_ANSWER_DELAY_S = 0.6


@pytest.fixture
def slow_redis_url(redis_url):
    """The test's Redis behind the loopback latency shim: every answer comes REDIS_ANSWER_DELAY_S late."""
    parts = urlsplit(redis_url)
    port = free_port()
    route = Route("127.0.0.1", port, parts.hostname, parts.port)
    with LatencyProxy([route], one_way_s=REDIS_ANSWER_DELAY_S / 2).running():
        yield f"redis://127.0.0.1:{port}{parts.path}"


def test_checks_go_on_while_redis_answers_slowly(client, fleet, platform, health, slow_redis_url):
    hosts = fleet.add_hosts(20, make_state=HostState)
    handles = seed(platform, hosts)
    deps = health.build(slow_redis_url, checked=False)  # the schema checks' CPU is not the loop's to measure
    targets = [
        CheckTarget(handle=h, host=host.address, ssh_port=host.port) for h, host in zip(handles, hosts, strict=True)
    ]
    batch = HealthCheckBatch(
        slot=7, deadline=make_tick(deadline_in=60).deadline, correlation_id="slow", servers=targets
    )

    async def checks_beside_a_heartbeat() -> float:
        longest, beat = 0.0, time.monotonic()
        done = asyncio.Event()

        async def heartbeat():
            nonlocal longest, beat
            while not done.is_set():
                await asyncio.sleep(0.01)  # the probe itself: how late it wakes is the loop's stall
                now = time.monotonic()
                longest, beat = max(longest, now - beat), now

        task = asyncio.create_task(heartbeat())
        try:
            await check_batch(batch.model_dump(mode="json"), deps)
        finally:
            done.set()
            await task
            await deps.aclose()
        return longest

    started = time.monotonic()
    longest_stall = asyncio.run(checks_beside_a_heartbeat())
    took = time.monotonic() - started
    assert slot_stats(client, 7)["checked"] == 20
    assert took >= 3 * REDIS_ANSWER_DELAY_S, "the claims, memories and records did wait for the slow Redis"
    # Each Redis answer took 0.6 s; a blocking client would have frozen the loop that long each time
    # (half of it is the margin for a loaded machine: the fleet shares this process and its GIL).
    assert longest_stall < REDIS_ANSWER_DELAY_S / 2, f"the event loop stalled for {longest_stall:.3f}s"
