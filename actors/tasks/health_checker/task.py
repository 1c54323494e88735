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

Each check message is ``check.py``'s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import redis.asyncio as aioredis
from pydantic import ValidationError

from actors.adapters.kit import validation_summary
from actors.adapters.platform.client import PlatformClient, PlatformSettings
from actors.adapters.ssh.settings import SshSettings
from actors.runtime.run import TaskRun
from actors.runtime.spec import PartSpec, TaskSpec
from actors.tasks.health_checker import affinity
from actors.tasks.health_checker.check import STATS_TTL_S, check_batch
from actors.tasks.health_checker.plan import (
    ServerState,
    orphaned,
    plan_departures,
)
from actors.tasks.health_checker.settings import HealthCheckerSettings
from actors.tasks.incidents import IncidentOpener
from actors.tasks.records import RecordWrites
from contracts import Keys, TaskName
from contracts.counters import SKIPPED_ITEMS
from contracts.health import HEALTH_INCIDENTS, CheckTarget, HealthCheckBatch, SlotCoverage
from contracts.platform import Incident, PlatformNeed, ServerHealthUpdate, ServerStatus
from process.logs import get_logger

log = get_logger(__name__)

MONITORED = (ServerStatus.READY, ServerStatus.IN_USE, ServerStatus.ACTIVE)
#: recent slots whose coverage stays readable (``Keys.HEALTH_SLOTS``)
SLOTS_KEPT = 50
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
