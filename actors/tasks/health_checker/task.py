"""health_checker: the SSH health of the fleet -> the platform's server metrics, metrics history
and incidents; recovery requests on ``provisioner:queue``.

The **tick** (one at a time, under the task lock) lists the monitored servers (managed; status
ready, in_use or active: one request per status, the platform's filters being scalars) and the
active incidents (``GET /api/incidents/active``, once), resolves the scheduler's incidents whose
server left monitoring (``plan.plan_departures``: one ``GET /api/servers/{handle}`` per such
server to tell why), prunes the metrics history past ``HEALTH_HISTORY_RETENTION_H`` (one
``DELETE`` an hour at most, whoever runs the tick), and fans out one ``check`` message per
``HEALTH_BATCH_SIZE`` servers (``HealthCheckBatch``: the servers, the tick's slot and deadline),
so more workers check more servers at once.

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
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import redis
import redis.asyncio as aioredis
import structlog
from pydantic import ValidationError

from actors.adapters.kit import validation_summary
from actors.adapters.platform.client import PlatformClient, PlatformSettings
from actors.adapters.provisioner.publisher import ProvisionerPublisher
from actors.adapters.ssh.probe import MIN_BUDGET_S, SshProbe
from actors.adapters.ssh.settings import SshSettings
from actors.runtime.run import TaskRun
from actors.runtime.spec import PartSpec, TaskSpec
from actors.tasks.health_checker import affinity
from actors.tasks.health_checker.plan import (
    Memory,
    OpenIncident,
    RecordHealth,
    RequestRecovery,
    ResolveIncident,
    ServerPlan,
    ServerState,
    SetFailures,
    orphaned,
    plan,
    plan_departures,
)
from actors.tasks.health_checker.settings import HealthCheckerSettings
from actors.tasks.incidents import IncidentOpener, Outcome
from actors.tasks.records import RecordWrites
from contracts import Keys, TaskName
from contracts.counters import SKIPPED_ITEMS
from contracts.health import HEALTH_INCIDENTS, CheckTarget, HealthCheckBatch, ProbeResult, SlotCoverage
from contracts.platform import Incident, IncidentCreate, PlatformNeed, ServerHealthUpdate, ServerStatus
from contracts.provisioner import ProvisionerMessage
from process.logs import get_logger
from process.lua import load_script

log = get_logger(__name__)

MONITORED = (ServerStatus.READY, ServerStatus.IN_USE, ServerStatus.ACTIVE)
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
#: platform writes of one batch in flight at once
WRITES_AT_ONCE = 16
#: the metrics history is pruned at most once in this many seconds, by whichever tick comes first
PRUNE_EVERY_S = 3600

#: the Server record's metric columns the checker writes
HEALTH_COLUMNS = tuple(name for name in ServerHealthUpdate.model_fields if name != "last_health_check")

# --------------------------------------------------------------------------- the tick


async def run_health_checker(run: TaskRun) -> None:
    deps = run.deps
    settings = deps.settings(HealthCheckerSettings)
    _ = deps.probe  # a misconfigured checker fails its tick, loudly, before fanning out
    platform = deps.platform
    servers = await platform.list_servers(statuses=MONITORED, is_managed=True)
    incidents = await platform.list_active_incidents()
    targets = targets_of(servers, incidents, deps.settings(SshSettings).ssh_port)
    run.count("servers", len(targets))
    run.count(SKIPPED_ITEMS, servers.skipped + incidents.skipped + len(servers) - len(targets))
    redis_ = deps.aredis
    # affinity (affinity.py): each server's batch goes to the queue of the live worker holding its connection
    owner_queues, rescue_after_s = await affinity.owners(redis_)
    routed = [
        (
            queue,
            HealthCheckBatch(
                slot=run.tick.slot, deadline=run.tick.deadline, correlation_id=run.correlation_id, servers=chunk
            ),
        )
        for queue, chunk in affinity.routes(targets, owner_queues, settings.health_batch_size)
    ]
    batches = [batch for _, batch in routed]
    stats_key = Keys.health_slot(run.tick.slot)
    await _report_previous_coverage(run, redis_)
    pipe = redis_.pipeline(transaction=False)
    pipe.hset(stats_key, mapping={"servers": len(targets), "batches": len(batches)})
    pipe.expire(stats_key, STATS_TTL_S)
    pipe.zadd(Keys.HEALTH_SLOTS, {str(run.tick.slot): run.tick.slot})
    pipe.zremrangebyrank(Keys.HEALTH_SLOTS, 0, -SLOTS_KEPT - 1)
    if not servers.skipped:  # forget the counters and verdicts of servers no longer monitored
        for key in (Keys.HEALTH_FAILURES, Keys.HEALTH_VERDICTS):
            gone = {h.decode() for h in await redis_.hkeys(key)} - {t.handle for t in targets}
            if gone:
                pipe.hdel(key, *gone)
    await run.fence()  # a run that lost its lock writes nothing, fans out nothing
    await pipe.execute()
    # before the fan-out: once this worker's own checks start, they hold the loop's Redis connections
    # (the tick failed with "No connection available" at 3,000 servers when these came after it)
    await _resolve_departures(run, platform, redis_, incidents, {s.handle for s in servers})
    await _prune_history(run, platform, redis_, settings.health_history_retention_h)
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


async def _resolve_departures(
    run: TaskRun, platform: PlatformClient, client: aioredis.Redis, incidents: Iterable[Incident], monitored: set[str]
) -> None:
    """Issue 19: the scheduler's incidents whose server left monitoring are resolved, with why."""
    incidents = list(incidents)
    handles = sorted({i.server_handle for i in orphaned(incidents, monitored)})
    states: dict[str, ServerState | None] = {}
    for handle in handles:
        try:
            server = await platform.get_server_health(handle)
        except Exception as exc:  # noqa: BLE001  looked up again at the next run
            log.warning("health_checker.departure_unknown", handle=handle, error=str(exc)[:200])
            continue
        states[handle] = None if server is None else ServerState(server.status, server.is_managed)
    writes, opener = RecordWrites(run, "health_checker"), IncidentOpener(platform, client)
    for change in plan_departures(incidents, monitored, states):
        if await writes.write(
            lambda c=change: platform.resolve_incident(c.incident_id, details=c.details),
            "resolve_incident",
            handle=change.handle,
            incident_id=change.incident_id,
        ):
            await opener.release(change.handle, change.incident_type.value)
            run.count("incidents_resolved_departed")
            log.info(
                "health_checker.incident_resolved",
                handle=change.handle,
                incident_id=change.incident_id,
                incident_type=change.incident_type.value,
                reason=change.reason,
            )


async def _prune_history(run: TaskRun, platform: PlatformClient, client: aioredis.Redis, retention_h: int) -> None:
    """The platform keeps the metrics history; pruning it is its writers' job: once an hour at most."""
    if not await client.set(Keys.HEALTH_HISTORY_PRUNED, "1", nx=True, ex=PRUNE_EVERY_S):
        return
    await run.fence()
    try:
        pruned = await platform.prune_metrics_history(retention_h)
    except Exception as exc:  # noqa: BLE001  tried again at the next tick
        await client.delete(Keys.HEALTH_HISTORY_PRUNED)
        log.warning("health_checker.history_not_pruned", error=str(exc)[:200])
        return
    run.count("history_pruned", pruned.deleted)
    log.info("health_checker.history_pruned", deleted=pruned.deleted, retention_hours=retention_h)


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
        log.warning(
            "health_checker.slot_incomplete",
            **coverage.model_dump(),
            note="servers of that slot went unchecked; they are planned again in this one",
        )


async def slot_coverage(client: aioredis.Redis, slot: int) -> SlotCoverage:
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(Keys.health_slot(slot))
    pipe.scard(Keys.health_slot_checked(slot))
    stats, checked = await pipe.execute()
    return SlotCoverage.of(slot, {k.decode(): int(v) for k, v in stats.items()}, checked)


def ssh_port_of(labels: object, default: int) -> int:
    """``labels.ssh_port`` (an integer, or digits) when the record has one, else ``default``;
    ValueError for one that is no port."""
    value = labels.get("ssh_port") if isinstance(labels, dict) else None
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise ValueError("labels.ssh_port is not a port number")
    port = int(value)
    if not 1 <= port <= 65535:
        raise ValueError("labels.ssh_port is out of range")
    return port


def targets_of(servers: Iterable, incidents: Iterable[Incident], default_port: int = 22) -> list[CheckTarget]:
    """What to check of each server; one whose record cannot make a target (a 1 MB host, a
    control character in its user, a port label that is no port) is logged and left out, never
    the tick's failure."""
    ours: dict[str, dict] = {}
    foreign: dict[str, set] = {}
    for incident in sorted(incidents, key=lambda i: i.id):
        if incident.active and incident.server_handle and incident.incident_type in HEALTH_INCIDENTS:
            if incident.opened_by_scheduler:
                ours.setdefault(incident.server_handle, {}).setdefault(incident.incident_type, []).append(incident.id)
            else:
                foreign.setdefault(incident.server_handle, set()).add(incident.incident_type)
    targets = []
    for s in servers:
        try:
            targets.append(
                CheckTarget(
                    handle=s.handle,
                    host=s.host,
                    ssh_port=ssh_port_of(s.labels, default_port),
                    ssh_user=s.ssh_user,
                    last_health_check=s.last_health_check,
                    incidents=ours.get(s.handle, {}),
                    foreign_incidents=sorted(foreign.get(s.handle, ())),
                )
            )
        except ValidationError as exc:
            log.warning("health_checker.server_skipped", handle=s.handle, error=validation_summary(exc))
        except ValueError as exc:
            log.warning("health_checker.server_skipped", handle=s.handle, error=str(exc))
    return targets


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
PLATFORM_NEEDS = (
    PlatformNeed(
        "get", "/api/servers/", ("handle", "host", "ssh_user", "labels", "status", "is_managed", "last_health_check")
    ),
    PlatformNeed("get", "/api/servers/{handle}", ("status", "is_managed")),
    PlatformNeed("patch", "/api/servers/{handle}", ("last_health_check", *HEALTH_COLUMNS)),
    PlatformNeed("post", "/api/servers/{handle}/metrics-history", ("metrics",)),
    PlatformNeed("delete", "/api/servers/metrics-history"),
    PlatformNeed("get", "/api/incidents/active", ("id", "server_handle", "incident_type", "status", "details")),
    PlatformNeed("get", "/api/incidents/", ("id", "server_handle", "incident_type", "status")),
    PlatformNeed("post", "/api/incidents/", ("server_handle", "incident_type", "details")),
    PlatformNeed("patch", "/api/incidents/{incident_id}", ("status", "resolved_at", "details")),
)


def threads_for_checks(deps) -> int:
    """Each batch in flight holds one actor thread while its checks run on the event loop, so
    HEALTH_SSH_CONCURRENCY is only reached with enough threads: one per batch it takes, and two
    spare for the other tasks."""
    ssh, rules = deps.settings(SshSettings), deps.settings(HealthCheckerSettings)
    return -(-ssh.health_ssh_concurrency // rules.health_batch_size) + 2


SPEC = TaskSpec(
    TaskName.HEALTH_CHECKER,
    run_health_checker,
    time_limit_ms=2 * 60_000,
    max_retries=3,
    settings=HealthCheckerSettings,
    adapters=(PlatformSettings, SshSettings),
    credentials=(PlatformSettings.CREDENTIALS, SshSettings.CREDENTIALS),
    parts=(
        PartSpec("check", check_batch, time_limit_ms=5 * 60_000, max_retries=3, affinity=True),
        PartSpec("rescue", affinity.rescue_stranded, time_limit_ms=60_000, max_retries=3),
    ),
    platform_needs=PLATFORM_NEEDS,
    threads_needed=threads_for_checks,
)
