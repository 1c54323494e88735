"""Every write of a checked server goes through the per-record writer (``RecordWrites``): a
recovery request that cannot be published is that server's failure, not the batch's."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import redis
import redis.asyncio as aioredis

from actors.adapters.provisioner.publisher import ProvisionerPublisher
from actors.tasks.health_checker.check import BatchCheck
from actors.tasks.health_checker.plan import RequestRecovery, ServerPlan
from actors.tasks.health_checker.settings import HealthCheckerSettings
from contracts import RECORDS_FAILED, ProvisionerMessage
from contracts.health import CheckTarget, HealthCheckBatch


def test_a_recovery_request_that_fails_is_that_servers_failure_and_the_batch_goes_on(redis_url, monkeypatch):
    real = ProvisionerPublisher.publish

    async def publish(self, message: ProvisionerMessage, cooldown_s: float):
        if message.server_handle == "vps-1":
            raise redis.ConnectionError("the stream refused this one")
        return await real(self, message, cooldown_s)

    monkeypatch.setattr(ProvisionerPublisher, "publish", publish)
    batch = HealthCheckBatch(
        slot=1,
        deadline=datetime.now(UTC) + timedelta(minutes=1),
        correlation_id="c",
        servers=[CheckTarget(handle=f"vps-{n}", host="127.0.0.1") for n in (1, 2)],
    )
    plans = [ServerPlan(f"vps-{n}", None, None, changes=(RequestRecovery(f"vps-{n}", "down"),)) for n in (1, 2)]

    async def apply():
        client = aioredis.Redis.from_url(redis_url)
        try:
            check = BatchCheck(batch, client, None, None, HealthCheckerSettings(), ProvisionerPublisher(client))
            await check.apply(plans, {})
            return check.stats
        finally:
            await client.aclose()

    stats = asyncio.run(apply())
    assert (stats[RECORDS_FAILED], stats["recoveries"]) == (1, 1)
