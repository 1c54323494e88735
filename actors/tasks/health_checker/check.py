"""health_checker's ``check`` part: each message is a reconciler of its own, read top to bottom.

Each **check** message (a part: no task lock) is a reconciler of its own, read top to bottom:
- observe: claim each server right before its check (``SET NX PX`` for about as long as the check
  and its report take: a server is never checked twice at once, and a dead worker's claims lapse
  within seconds; one claimed elsewhere is skipped), check it over SSH
  (``actors.adapters.ssh.probe``), on ``labels.ssh_port`` or ``SSH_PORT``; as checks finish,
  every ``FLUSH_EVERY`` of them or ``FLUSH_INTERVAL_S`` seconds, read their consecutive-failure
  counts and recovery cooldowns;
- plan: ``actors.tasks.health_checker.plan.plan``, a pure function;
- apply: the counters (first, so a retried message does not count a slot twice); per server
  that answered, one ``PATCH /api/servers/{handle}`` (``last_health_check`` and the metric
  columns) and one ``POST …/metrics-history``, through the per-record writer; incident opens
  (``actors.tasks.incidents``: claimed, looked up, created once) and resolves (``resolved_at``
  sent); recovery requests on ``provisioner:queue`` (``XADD`` of ``data`` =
  ``ProvisionerMessage`` JSON, together with its cooldown key in one script); every write of a
  server through the per-record writer (``RecordWrites``: one server's failed write is counted in
  ``records_failed`` and the batch goes on); then the claims are released.
Work that cannot finish before the tick's deadline is cut, counted, and left for the next
tick. What each slot did is kept for a day in the hash ``Keys.health_slot(slot)`` and the set of
servers it checked in ``Keys.health_slot_checked(slot)``; the next tick reads them back as the
slot's coverage (``SlotCoverage``: planned, checked, cut, claimed elsewhere, never checked), puts
it in its run record (``previous_*`` counters) and warns if the slot checked less than all. The
servers' health (healthy, degraded, unhealthy) lives there too: the platform has no field for it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

import redis
import redis.asyncio as aioredis
import structlog
from pydantic import ValidationError

from actors.adapters.platform.client import PlatformClient
from actors.adapters.provisioner.publisher import ProvisionerPublisher
from actors.adapters.ssh.probe import MIN_BUDGET_S, SshProbe
from actors.tasks.health_checker.plan import (
    Memory,
    OpenIncident,
    RecordHealth,
    RequestRecovery,
    ResolveIncident,
    ServerPlan,
    SetFailures,
    plan,
)
from actors.tasks.health_checker.settings import HealthCheckerSettings
from actors.tasks.incidents import IncidentOpener, Outcome
from actors.tasks.records import RecordWrites
from contracts import Keys, TaskName
from contracts.health import CheckTarget, HealthCheckBatch, ProbeResult
from contracts.platform import IncidentCreate
from contracts.provisioner import ProvisionerMessage
from process.logs import get_logger
from process.lua import load_script

log = get_logger(__name__)

#: what each slot did is kept this long (``Keys.health_slot``, ``Keys.health_slot_checked``)
STATS_TTL_S = 86_400
#: a claim outlives the check it guards by the wait for its flush and this margin
CLAIM_MARGIN_S = 3.0
#: results are reported every this many completed checks (each report costs the batch a platform
#: request and a Redis round trip: 10 made a check cost 1.6x a bare SSH client's CPU, 50 keeps
#: reports at most a few a batch) ...
FLUSH_EVERY = 50
#: ... or after this many seconds, whichever comes first: a slow host delays only itself
FLUSH_INTERVAL_S = 2.0
#: platform writes of one batch in flight at once
WRITES_AT_ONCE = 16


# --------------------------------------------------------------------------- a batch: observe


async def check_batch(payload: dict, deps) -> None:
    """The ``check`` part: one ``HealthCheckBatch``. An invalid payload is logged and dropped."""
    try:
        batch = HealthCheckBatch.model_validate(payload)
    except ValidationError as exc:
        log.error(
            "health_checker.invalid_batch_dropped",
            errors=exc.error_count(),
            first=exc.errors(include_input=False, include_url=False)[0]["msg"],
        )
        return
    structlog.contextvars.bind_contextvars(  # for the log lines only; nothing reads these back
        task=TaskName.HEALTH_CHECKER.value, slot=batch.slot, correlation_id=batch.correlation_id
    )
    deps = deps.for_run(batch.correlation_id)  # the tick's id, carried by the batch, on every request
    await BatchCheck(
        batch, deps.aredis, deps.platform, deps.probe, deps.settings(HealthCheckerSettings), deps.provisioner
    ).run()


#: what a check came back as when it was not checked here
CUT, ELSEWHERE = "cut", "claimed_elsewhere"


class BatchCheck:
    """One batch: each server claimed right before its check, for about as long as the check
    and its report take (``claim_ttl_ms``), so a worker that dies mid-batch leaves its servers to
    the next slot, not to the next several; results planned and applied as they come, every
    ``FLUSH_EVERY`` checks or ``FLUSH_INTERVAL_S`` seconds, so a slow host delays only itself."""

    def __init__(
        self,
        batch: HealthCheckBatch,
        client: aioredis.Redis,
        platform: PlatformClient,
        probe: SshProbe,
        settings: HealthCheckerSettings,
        publisher: ProvisionerPublisher,
    ):
        self.batch, self.client, self.platform, self.probe, self.settings = batch, client, platform, probe, settings
        self.publisher = publisher
        self.stats: Counter = Counter()
        self.writes = RecordWrites(self, "health_checker")
        self.opener = IncidentOpener(platform, client)
        self.token = uuid.uuid4().hex
        self.claimed: set[str] = set()

    def claim_ttl_ms(self, bound_s: float) -> int:
        """A claim outlives its check (at most ``bound_s``) by the wait for the next flush and a margin."""
        return int((bound_s + FLUSH_INTERVAL_S + CLAIM_MARGIN_S) * 1000)

    async def run(self) -> Counter:
        batch = self.batch
        remaining = (batch.deadline - datetime.now(UTC)).total_seconds()
        if remaining < MIN_BUDGET_S:
            self.stats["cut"] += len(batch.servers)
            await self._record()
            return self.stats
        until = time.monotonic() + remaining
        pending = {asyncio.ensure_future(self._check(target, until)) for target in batch.servers}
        ready: list[tuple[CheckTarget, ProbeResult]] = []
        last_flush = time.monotonic()
        try:
            while pending:
                done, pending = await asyncio.wait(
                    pending, timeout=FLUSH_INTERVAL_S, return_when=asyncio.FIRST_COMPLETED
                )
                for finished in done:
                    target, result = finished.result()
                    if isinstance(result, ProbeResult):
                        ready.append((target, result))
                    else:
                        self.stats[result] += 1
                if ready and (
                    len(ready) >= FLUSH_EVERY or not pending or time.monotonic() - last_flush >= FLUSH_INTERVAL_S
                ):
                    await self._flush(ready)
                    ready, last_flush = [], time.monotonic()
        except BaseException:
            for task in pending:
                task.cancel()
            self.stats["batches_failed"] += 1  # a retry (or the next tick) checks the rest again
            raise
        finally:
            await self._release(self.claimed)
            await self._record()
        return self.stats

    async def _check(self, target: CheckTarget, until: float) -> tuple[CheckTarget, ProbeResult | str]:
        async with self.probe.turn():
            bound = min(self.probe.check_bound_s, until - time.monotonic())
            if bound < MIN_BUDGET_S:
                return target, CUT
            claimed = await self.client.set(
                Keys.health_claim(target.handle), self.token, nx=True, px=self.claim_ttl_ms(bound)
            )
            if not claimed:
                return target, ELSEWHERE
            self.claimed.add(target.handle)
            result = await self.probe.check(target, until, have_turn=True)
        return target, CUT if result is None else result

    async def _flush(self, ready: Sequence[tuple[CheckTarget, ProbeResult]]) -> None:
        """Plan and apply the checks that came back, then let go of their servers."""
        targets, results = [t for t, _ in ready], {r.handle: r for _, r in ready}
        plans = plan(targets, results, await self._memories(list(results)), self.batch.slot, self.settings.thresholds())
        await self.apply(plans, results)
        self.stats["checked"] += len(results)
        checked = Keys.health_slot_checked(self.batch.slot)
        pipe = self.client.pipeline(transaction=False)
        pipe.sadd(checked, *results)
        pipe.expire(checked, STATS_TTL_S)
        await pipe.execute()
        await self._release(set(results))

    async def _release(self, handles: set[str]) -> None:
        handles &= self.claimed
        self.claimed -= handles
        if handles:
            try:
                await self.client.eval(
                    load_script("actors.runtime", "compare_and_delete"),
                    len(handles),
                    *(Keys.health_claim(h) for h in sorted(handles)),
                    self.token,
                )
            except redis.RedisError as exc:  # the claims expire by themselves, soon
                log.warning("health_checker.claim_release_failed", error=str(exc))

    async def _memories(self, handles: list[str]) -> dict[str, Memory]:
        if not handles:
            return {}
        failures = await self.client.hmget(Keys.HEALTH_FAILURES, handles)
        cooling = await self.publisher.cooling(handles)
        return {handle: _memory(raw, handle in cooling) for handle, raw in zip(handles, failures, strict=True)}

    async def _record(self) -> None:
        key = Keys.health_slot(self.batch.slot)
        try:
            pipe = self.client.pipeline(transaction=False)
            for name, value in self.stats.items():
                pipe.hincrby(key, name, value)
            if "batches_failed" not in self.stats:
                pipe.hincrby(key, "batches_done", 1)
            pipe.expire(key, STATS_TTL_S)
            await pipe.execute()
        except redis.RedisError as exc:
            log.warning("health_checker.stats_not_recorded", error=str(exc))
        log.info("health_checker.batch_done", servers=len(self.batch.servers), **dict(self.stats))

    # ----------------------------------------------------------------------- apply

    async def fence(self) -> None:
        """A part holds no task lock: its servers' claims are what it owns (``RecordWrites``)."""

    def count(self, name: str, n: int = 1) -> None:
        self.stats[name] += n

    async def apply(self, plans: Sequence[ServerPlan], results: dict[str, ProbeResult]) -> None:
        for p in plans:
            self.stats["pending" if p.pending else p.status.value if p.status else "stale"] += 1
        changes = [c for p in plans for c in p.changes]
        failures = [c for c in changes if isinstance(c, SetFailures)]
        verdicts = {p.handle: "pending" if p.pending else p.status.value for p in plans if p.pending or p.status}
        pipe = self.client.pipeline(transaction=False)
        if failures:
            pipe.hset(Keys.HEALTH_FAILURES, mapping={c.handle: f"{c.count}:{c.slot}" for c in failures})
        if verdicts:
            pipe.hset(Keys.HEALTH_VERDICTS, mapping=verdicts)
        await pipe.execute()
        gate = asyncio.Semaphore(WRITES_AT_ONCE)
        await asyncio.gather(
            *(self._record_health(c, gate) for c in changes if isinstance(c, RecordHealth)),
            *(self._incident(c, gate) for c in changes if isinstance(c, OpenIncident | ResolveIncident)),
        )
        for change in changes:
            if isinstance(change, RequestRecovery):
                await self._recover(change)
        for p in plans:
            if (
                p.status is not None
                and p.status.value == "unhealthy"
                and any(isinstance(c, OpenIncident) for c in p.changes)
            ):
                log.warning("health_checker.server_unhealthy", handle=p.handle, reasons=list(p.assessment.reasons))

    async def _record_health(self, change: RecordHealth, gate: asyncio.Semaphore) -> None:
        """The server's metric columns and ``last_health_check``, then its metrics-history entry."""
        async with gate:
            if await self.writes.write(
                lambda: self.platform.record_server_health(change.handle, change.update),
                "record_health",
                handle=change.handle,
            ):
                self.stats["health_recorded"] += 1
                if await self.writes.write(
                    lambda: self.platform.add_metrics_history(change.handle, change.history),
                    "metrics_history",
                    handle=change.handle,
                ):
                    self.stats["history_added"] += 1

    async def _incident(self, change: OpenIncident | ResolveIncident, gate: asyncio.Semaphore) -> None:
        async with gate:
            kind = change.incident_type.value
            if isinstance(change, OpenIncident):
                opened = []
                create = IncidentCreate(
                    server_handle=change.handle, incident_type=change.incident_type, details=change.details
                )
                if not await self.writes.write(
                    lambda: self._open(create, opened), "open_incident", handle=change.handle, incident_type=kind
                ):
                    return
                outcome, incident = opened[0]
                self.stats[
                    {
                        Outcome.OPENED: "incidents_opened",
                        Outcome.ALREADY_OPEN: "incidents_already_open",
                        Outcome.CLAIMED_ELSEWHERE: "incidents_claimed_elsewhere",
                    }[outcome]
                ] += 1
                if outcome is Outcome.OPENED:
                    log.warning(
                        "health_checker.incident_opened",
                        handle=change.handle,
                        incident_type=kind,
                        incident_id=incident.id,
                        reason=change.details.get("reason"),
                    )
            elif await self.writes.write(
                lambda: self.platform.resolve_incident(change.incident_id),
                "resolve_incident",
                handle=change.handle,
                incident_id=change.incident_id,
            ):
                await self.opener.release(change.handle, kind)
                self.stats["incidents_resolved"] += 1
                log.info(
                    "health_checker.incident_resolved",
                    handle=change.handle,
                    incident_type=kind,
                    incident_id=change.incident_id,
                )

    async def _open(self, create: IncidentCreate, into: list) -> None:
        into.append(await self.opener.open(create))

    async def _recover(self, change: RequestRecovery) -> None:
        message = ProvisionerMessage(
            server_handle=change.handle, is_recovery=True, correlation_id=self.batch.correlation_id
        )
        published: list = []

        async def publish() -> None:
            published.append(await self.publisher.publish(message, self.settings.health_recovery_cooldown_s))

        if not await self.writes.write(publish, "request_recovery", handle=change.handle):
            return  # that server's failure: requested again at its next failed check
        if published[0]:
            self.stats["recoveries"] += 1
            log.warning(
                "health_checker.recovery_requested",
                handle=change.handle,
                reason=change.reason,
                request_id=message.request_id,
            )
        else:
            self.stats["recoveries_cooling"] += 1


def _memory(raw: bytes | None, cooling: bool) -> Memory:
    if raw is None:
        return Memory(recovery_cooling=cooling)
    try:
        count, slot = raw.decode().split(":")
        return Memory(int(count), int(slot), cooling)
    except ValueError:  # not ours to trust: start counting again
        log.warning("health_checker.bad_failure_counter", value=raw[:40])
        return Memory(recovery_cooling=cooling)


#: what this task uses of the platform API (held against its /openapi.json at worker start)
