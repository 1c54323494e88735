"""health_checker: the SSH health of the fleet -> ``Server.health_status``, incidents, recovery requests.

The **tick** (one at a time, under the task lock) lists the monitored servers (managed; status
ready, in_use or error) and their active incidents through the API, and fans out one ``check``
message per ``HEALTH_BATCH_SIZE`` servers (``HealthCheckBatch``: the servers, the tick's slot
and deadline), so more workers check more servers at once.

Each **check** message (a part: no task lock) is a reconciler of its own, read top to bottom:
- observe: claim each server right before its check (``SET NX PX`` for about as long as the check
  and its report take: a server is never checked twice at once, and a dead worker's claims lapse
  within seconds; one claimed elsewhere is skipped), check it over SSH
  (``actors.adapters.ssh.probe``); as checks finish, every ``FLUSH_EVERY`` of them or
  ``FLUSH_INTERVAL_S`` seconds, read their consecutive-failure counts and recovery cooldowns;
- plan: ``actors.tasks.health_checker.plan.plan``, a pure function;
- apply: the counters (first, so a retried message does not count a slot twice), one batched
  health report, incident opens and resolves, recovery requests on ``provisioner:queue``
  (``XADD`` of ``data`` = ``ProvisionerMessage`` JSON, together with its cooldown key in one
  script, so neither is ever written without the other); then the claims are released.
Work that cannot finish before the tick's deadline is cut, counted, and left for the next
tick. What each slot did is kept for a day in the hash ``Keys.health_slot(slot)`` and the set of
servers it checked in ``Keys.health_slot_checked(slot)``; the next tick reads them back as the
slot's coverage (``SlotCoverage``: planned, checked, cut, claimed elsewhere, never checked), puts
it in its run record (``previous_*`` counters) and warns if the slot checked less than all.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import redis
import redis.asyncio as aioredis
import structlog
from pydantic import ValidationError

from contracts import Keys, TaskName
from contracts.health import HEALTH_INCIDENTS, CheckTarget, HealthCheckBatch, ProbeResult, SlotCoverage
from contracts.platform import HealthReport, HealthStatus, Incident, IncidentOpen, IncidentStatus, Server, ServerStatus
from contracts.provisioner import ProvisionerMessage
from scheduler.logs import get_logger
from scheduler.lua import load_script

from actors.tasks.health_checker.plan import (Memory, OpenIncident, ReportHealth, RequestRecovery, ResolveIncident, ServerPlan,
                            SetFailures, plan)
from actors.tasks.health_checker import affinity
from actors.tasks.health_checker.settings import HealthSettings
from actors.adapters.kit import validation_summary
from actors.adapters.platform.client import PlatformAPIError, PlatformClient
from actors.adapters.provisioner.publisher import ProvisionerPublisher
from actors.runtime.run import TaskRun
from actors.runtime.spec import PartSpec, TaskSpec
from actors.adapters.ssh.probe import MIN_BUDGET_S, SshProbe

log = get_logger(__name__)

MONITORED = (ServerStatus.READY, ServerStatus.IN_USE, ServerStatus.ERROR)
ACTIVE = (IncidentStatus.DETECTED, IncidentStatus.RECOVERING)
STATS_TTL_S = 86_400
#: recent slots whose coverage stays readable (``Keys.HEALTH_SLOTS``)
SLOTS_KEPT = 50
#: a claim outlives the check it guards by the wait for its flush and this margin
CLAIM_MARGIN_S = 3.0
#: results are reported every this many completed checks (each report costs the batch a platform
#: request and a Redis round trip: 10 made a check cost 1.6x a bare SSH client's CPU, 50 keeps
#: reports at most a few a batch) ...
FLUSH_EVERY = 50
#: ... or after this many seconds, whichever comes first: a slow host delays only itself
FLUSH_INTERVAL_S = 2.0
INCIDENT_WRITES_AT_ONCE = 8

# --------------------------------------------------------------------------- the tick


async def run_health_checker(run: TaskRun) -> None:
    deps = run.deps
    settings = deps.settings(HealthSettings)
    _ = deps.probe  # a misconfigured checker fails its tick, loudly, before fanning out
    platform = deps.platform
    servers = await platform.list_servers(statuses=MONITORED, is_managed=True)
    incidents = await platform.list_incidents(status=ACTIVE)
    targets = targets_of(servers, incidents)
    run.count("servers", len(targets))
    run.count("skipped_items", servers.skipped + incidents.skipped + len(servers) - len(targets))
    redis_ = deps.aredis
    # affinity (affinity.py): each server's batch goes to the queue of the live worker holding its connection
    owner_queues, rescue_after_s = await affinity.owners(redis_)
    routed = [(queue, HealthCheckBatch(slot=run.tick.slot, deadline=run.tick.deadline,
                                       correlation_id=run.correlation_id, servers=servers))
              for queue, servers in affinity.routes(targets, owner_queues, settings.health_batch_size)]
    batches = [batch for _, batch in routed]
    stats_key = Keys.health_slot(run.tick.slot)
    await _report_previous_coverage(run, redis_)
    pipe = redis_.pipeline(transaction=False)
    pipe.hset(stats_key, mapping={"servers": len(targets), "batches": len(batches)})
    pipe.expire(stats_key, STATS_TTL_S)
    pipe.zadd(Keys.HEALTH_SLOTS, {str(run.tick.slot): run.tick.slot})
    pipe.zremrangebyrank(Keys.HEALTH_SLOTS, 0, -SLOTS_KEPT - 1)
    if not servers.skipped:  # forget the counters of servers no longer monitored
        gone = {h.decode() for h in await redis_.hkeys(Keys.HEALTH_FAILURES)} - {t.handle for t in targets}
        if gone:
            pipe.hdel(Keys.HEALTH_FAILURES, *gone)
    await run.fence()  # a run that lost its lock writes nothing, fans out nothing
    await pipe.execute()
    stranded = await affinity.take_stranded(redis_, owner_queues.values(), getattr(run.broker, "namespace", "dramatiq"))
    if stranded:  # a dead worker's queue held them: of an earlier slot, their servers are in this one's
        run.count("stranded_batches_dropped", len(stranded))
    await affinity.remember(redis_, (q for q, _ in routed))
    sent = await asyncio.to_thread(affinity.send, run, [(q, b.model_dump(mode="json")) for q, b in routed])
    if owner_queues:
        await asyncio.to_thread(affinity.schedule_rescue, run, rescue_after_s)
        run.count("owners", len(owner_queues))
    run.count("batches", sent)
    log.info("health_checker.fanned_out", servers=len(targets), batches=sent, deadline=run.tick.deadline.isoformat())


async def _report_previous_coverage(run: TaskRun, client: aioredis.Redis) -> None:
    """The slot before this one is over: how much of it was checked goes in this run's record."""
    earlier = await client.zrevrangebyscore(Keys.HEALTH_SLOTS, f"({run.tick.slot}", "-inf", start=0, num=1)
    if not earlier:
        return
    coverage = await slot_coverage(client, int(earlier[0]))
    for name in ("slot", "planned", "checked", "cut", "claimed_elsewhere", "never_checked"):
        run.count(f"previous_{name}", getattr(coverage, name))
    if not coverage.complete:
        run.count("previous_incomplete")
        log.warning("health_checker.slot_incomplete", **coverage.model_dump(),
                    note="servers of that slot went unchecked; they are planned again in this one")


async def slot_coverage(client: aioredis.Redis, slot: int) -> SlotCoverage:
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(Keys.health_slot(slot))
    pipe.scard(Keys.health_slot_checked(slot))
    stats, checked = await pipe.execute()
    return SlotCoverage.of(slot, {k.decode(): int(v) for k, v in stats.items()}, checked)


def targets_of(servers: Iterable[Server], incidents: Iterable[Incident]) -> list[CheckTarget]:
    """What to check of each server; one whose record cannot make a target (a 1 MB host, a
    control character in its user) is logged and left out, never the tick's failure."""
    active: dict[str, dict] = {}
    for incident in sorted(incidents, key=lambda i: i.id):
        if incident.server_handle and incident.incident_type in HEALTH_INCIDENTS:
            active.setdefault(incident.server_handle, {}).setdefault(incident.incident_type, incident.id)
    targets = []
    for s in servers:
        try:
            targets.append(CheckTarget(handle=s.handle, host=s.host, ssh_port=s.ssh_port, ssh_user=s.ssh_user,
                                       ssh_host_keys=s.ssh_host_keys, health_status=s.health_status,
                                       last_health_check=s.last_health_check, incidents=active.get(s.handle, {})))
        except ValidationError as exc:
            log.warning("health_checker.server_skipped", handle=s.handle, error=validation_summary(exc))
    return targets


# --------------------------------------------------------------------------- a batch: observe


async def check_batch(payload: dict, deps) -> None:
    """The ``check`` part: one ``HealthCheckBatch``. An invalid payload is logged and dropped."""
    try:
        batch = HealthCheckBatch.model_validate(payload)
    except ValidationError as exc:
        log.error("health_checker.invalid_batch_dropped", errors=exc.error_count(),
                  first=exc.errors(include_input=False, include_url=False)[0]["msg"])
        return
    structlog.contextvars.bind_contextvars(task=TaskName.HEALTH_CHECKER.value, slot=batch.slot,
                                           correlation_id=batch.correlation_id)
    await BatchCheck(batch, deps.aredis, deps.platform, deps.probe, deps.settings(HealthSettings)).run()


#: what a check came back as when it was not checked here
CUT, ELSEWHERE = "cut", "claimed_elsewhere"


class BatchCheck:
    """One batch: each server claimed right before its check, for about as long as the check
    and its report take (``claim_ttl_ms``), so a worker that dies mid-batch leaves its servers to
    the next slot, not to the next several; results planned and applied as they come, every
    ``FLUSH_EVERY`` checks or ``FLUSH_INTERVAL_S`` seconds, so a slow host delays only itself."""

    def __init__(self, batch: HealthCheckBatch, client: aioredis.Redis, platform: PlatformClient, probe: SshProbe,
                 settings: HealthSettings):
        self.batch, self.client, self.platform, self.probe, self.settings = batch, client, platform, probe, settings
        self.stats: Counter = Counter()
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
                done, pending = await asyncio.wait(pending, timeout=FLUSH_INTERVAL_S,
                                                   return_when=asyncio.FIRST_COMPLETED)
                for finished in done:
                    target, result = finished.result()
                    if isinstance(result, ProbeResult):
                        ready.append((target, result))
                    else:
                        self.stats[result] += 1
                if ready and (len(ready) >= FLUSH_EVERY or not pending
                              or time.monotonic() - last_flush >= FLUSH_INTERVAL_S):
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
            claimed = await self.client.set(Keys.health_claim(target.handle), self.token, nx=True,
                                            px=self.claim_ttl_ms(bound))
            if not claimed:
                return target, ELSEWHERE
            self.claimed.add(target.handle)
            result = await self.probe.check(target, until, have_turn=True)
        return target, CUT if result is None else result

    async def _flush(self, ready: Sequence[tuple[CheckTarget, ProbeResult]]) -> None:
        """Plan and apply the checks that came back, then let go of their servers."""
        targets, results = [t for t, _ in ready], {r.handle: r for _, r in ready}
        plans = plan(targets, results, await self._memories(list(results)), self.batch.slot,
                     self.settings.thresholds())
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
                await self.client.eval(load_script("actors.runtime", "compare_and_delete"), len(handles),
                                       *(Keys.health_claim(h) for h in sorted(handles)), self.token)
            except redis.RedisError as exc:  # the claims expire by themselves, soon
                log.warning("health_checker.claim_release_failed", error=str(exc))

    async def _memories(self, handles: list[str]) -> dict[str, Memory]:
        if not handles:
            return {}
        failures = await self.client.hmget(Keys.HEALTH_FAILURES, handles)
        cooling = await ProvisionerPublisher(self.client).cooling(handles)
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

    async def apply(self, plans: Sequence[ServerPlan], results: dict[str, ProbeResult]) -> None:
        for p in plans:
            self.stats["pending" if p.pending else str(p.status or "stale")] += 1
        changes = [c for p in plans for c in p.changes]
        failures = [c for c in changes if isinstance(c, SetFailures)]
        if failures:
            await self.client.hset(Keys.HEALTH_FAILURES, mapping={c.handle: f"{c.count}:{c.slot}" for c in failures})
        reports = [HealthReport(handle=c.handle, health_status=c.status, checked_at=c.checked_at)
                   for c in changes if isinstance(c, ReportHealth)]
        if reports:
            answer = await self.platform.report_health(reports)
            self.stats["reports"] += answer.updated
            self.stats["reports_stale"] += answer.stale + len(answer.unknown_handles)
        gate = asyncio.Semaphore(INCIDENT_WRITES_AT_ONCE)
        await asyncio.gather(*(self._incident(c, gate) for c in changes
                               if isinstance(c, OpenIncident | ResolveIncident)))
        for change in changes:
            if isinstance(change, RequestRecovery):
                await self._recover(change)
        for p in plans:
            if p.status is HealthStatus.UNHEALTHY and any(isinstance(c, OpenIncident) for c in p.changes):
                log.warning("health_checker.server_unhealthy", handle=p.handle, reasons=list(p.assessment.reasons))

    async def _incident(self, change: OpenIncident | ResolveIncident, gate: asyncio.Semaphore) -> None:
        async with gate:
            try:
                if isinstance(change, OpenIncident):
                    opened = await self.platform.open_incident(IncidentOpen(
                        server_handle=change.handle, incident_type=change.incident_type, details=change.details))
                    self.stats["incidents_opened" if opened.created else "incidents_already_open"] += 1
                    log.warning("health_checker.incident_opened", handle=change.handle,
                                incident_type=change.incident_type.value, incident_id=opened.incident.id,
                                reason=change.details.get("reason"), created=opened.created)
                else:
                    await self.platform.resolve_incident(change.incident_id)
                    self.stats["incidents_resolved"] += 1
                    log.info("health_checker.incident_resolved", handle=change.handle,
                             incident_type=change.incident_type.value, incident_id=change.incident_id)
            except PlatformAPIError as exc:
                if not exc.per_record:
                    raise
                self.stats["writes_refused"] += 1
                log.warning("health_checker.incident_write_refused", handle=change.handle, status=exc.status,
                            incident_type=change.incident_type.value, detail=str(exc.detail)[:300])

    async def _recover(self, change: RequestRecovery) -> None:
        message = ProvisionerMessage(server_handle=change.handle, is_recovery=True,
                                     correlation_id=self.batch.correlation_id)
        sent = await ProvisionerPublisher(self.client).publish(message, self.settings.health_recovery_cooldown_s)
        if sent:
            self.stats["recoveries"] += 1
            log.warning("health_checker.recovery_requested", handle=change.handle, reason=change.reason,
                        request_id=message.request_id)
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


def slot_stats(client: redis.Redis, slot: int) -> dict[str, int]:
    """What the health checks of ``slot`` did so far (``servers``, ``checked``, ``cut``...)."""
    return {k.decode(): int(v) for k, v in client.hgetall(Keys.health_slot(slot)).items()}


SPEC = TaskSpec(TaskName.HEALTH_CHECKER, run_health_checker, time_limit_ms=2 * 60_000, max_retries=3,
                parts=(PartSpec("check", check_batch, time_limit_ms=5 * 60_000, max_retries=3, affinity=True),
                       PartSpec("rescue", affinity.rescue_stranded, time_limit_ms=60_000, max_retries=3)))
