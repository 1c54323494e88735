"""The health model and the health checker's plan: pure functions, no I/O.

``assess`` turns one ``ProbeResult`` into a verdict and, per incident type, whether its
condition is present, absent or unknown (an unreachable server tells nothing about its disks):

- unhealthy: unreachable (refused, timed out, login refused, not responding), a host key that
  does not match (or no trusted key at all), a disk at or above ``disk_unhealthy_pct``, RAM at or
  above ``ram_unhealthy_pct``, the Docker daemon down or not installed;
- degraded: a disk or RAM at or above its ``*_degraded_pct``, a container unhealthy, restarting
  or dead, or a check that came back incomplete (unreadable output, a missing mount...);
- healthy: none of these.

The incident types are the platform's: ``server_unreachable`` (a changed or unknown host key is
one too, with ``cause`` in its details), ``resource_exhausted`` (disk, RAM), ``service_down``
(Docker).

``plan_server`` goes from (the server as the platform listed it, the check, what Redis
remembers, the slot) to the changes that make the world agree:

- consecutive failures: an unhealthy verdict counts once per slot (a retried or repeated
  message does not count twice; a result older than the last counted slot is ignored);
  anything else resets the count. Only ``failures_before_unhealthy`` (K) consecutive
  unhealthy checks make the server unhealthy; until then it is ``pending``;
- the server's health on the platform (``RecordHealth``): for a check the server answered (not
  unreachable, not timed out) newer than the platform's ``last_health_check`` — its metric
  columns, that ``last_health_check`` (the platform reads it as "last observed reachable") and
  one metrics-history entry. An unreachable server gets neither (there is nothing to record);
- incidents: opened when unhealthiness is confirmed, the condition is present, and no incident
  of that type is active for the server (ours or anyone's: the platform does not deduplicate);
  resolved — only the scheduler's own (``details.opened_by = "scheduler"``) — once a check shows
  the condition absent;
- recovery: a confirmed unhealthy server gets a recovery request unless one is cooling down,
  except when its host key is in question: reinstalling a machine we cannot authenticate is a
  human's call, not an automaton's.

``plan_departures`` (issue 19): an incident the scheduler opened whose server left monitoring
(``missing``, ``decommissioned``, ``reserved``, unmanaged) or is gone from the platform is
resolved, with the reason in its details; an incident someone else opened is never touched.

Applying a plan and planning again from the resulting state yields no changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from contracts.health import HEALTH_INCIDENTS, CheckTarget, DockerState, FindingKind, HealthStatus, ProbeResult
from contracts.platform import OPENED_BY, OPENED_BY_SCHEDULER, Incident, IncidentType, ServerHealthUpdate

CONNECTION_FINDINGS = frozenset(
    {
        FindingKind.CONNECT_REFUSED,
        FindingKind.CONNECT_TIMEOUT,
        FindingKind.NETWORK_ERROR,
        FindingKind.AUTH_FAILED,
        FindingKind.SSH_ERROR,
    }
)
HOST_KEY_FINDINGS = frozenset({FindingKind.HOST_KEY_MISMATCH, FindingKind.HOST_KEY_UNKNOWN})
#: what ``details["source"]`` says of the incidents this task opens
SOURCE = "health_checker"


@dataclass(frozen=True)
class Thresholds:
    disk_degraded_pct: int = 85
    disk_unhealthy_pct: int = 95
    ram_degraded_pct: int = 90
    ram_unhealthy_pct: int = 95
    #: K: consecutive unhealthy checks before a server is unhealthy
    failures_before_unhealthy: int = 2

    def __post_init__(self):
        if not 0 < self.disk_degraded_pct <= self.disk_unhealthy_pct <= 100:
            raise ValueError("need 0 < disk_degraded_pct <= disk_unhealthy_pct <= 100")
        if not 0 < self.ram_degraded_pct <= self.ram_unhealthy_pct <= 100:
            raise ValueError("need 0 < ram_degraded_pct <= ram_unhealthy_pct <= 100")
        if self.failures_before_unhealthy < 1:
            raise ValueError("failures_before_unhealthy must be at least 1")


class Condition(StrEnum):
    PRESENT = "present"
    ABSENT = "absent"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Assessment:
    verdict: HealthStatus  # healthy | degraded | unhealthy
    #: why, for humans: the unhealthy reasons first
    reasons: tuple[str, ...]
    conditions: Mapping[IncidentType, Condition]
    #: for each present condition, what was seen (for humans)
    details: Mapping[IncidentType, str]
    #: for each present condition, the same as data: ``cause`` of an unreachable server, the
    #: ``resources`` exhausted ({resource, usage_pct, threshold_pct[, mount]})
    facts: Mapping[IncidentType, dict] = field(default_factory=dict)
    #: the host key did not match, or none is trusted: nothing may act on the machine
    host_key_in_question: bool = False


def assess(result: ProbeResult, t: Thresholds) -> Assessment:
    unhealthy: list[str] = []
    degraded: list[str] = []
    conditions = dict.fromkeys(HEALTH_INCIDENTS, Condition.UNKNOWN)
    details: dict[IncidentType, str] = {}
    facts: dict[IncidentType, dict] = {}

    def present(kind: IncidentType, reason: str, **fact: Any) -> None:
        conditions[kind] = Condition.PRESENT
        details[kind] = "; ".join(filter(None, (details.get(kind), reason)))
        if kind is IncidentType.RESOURCE_EXHAUSTED:
            facts.setdefault(kind, {"resources": []})["resources"].append(fact)
        else:
            facts.setdefault(kind, fact)
        unhealthy.append(reason)

    kinds = {f.kind for f in result.findings}
    unreachable = IncidentType.SERVER_UNREACHABLE
    host_key = bool(kinds & HOST_KEY_FINDINGS)
    if host_key:
        for f in result.findings:
            if f.kind in HOST_KEY_FINDINGS:
                present(unreachable, f.message, cause=f.kind.value)
    elif not result.connected:
        for f in result.findings:
            if f.kind in CONNECTION_FINDINGS or f.kind is FindingKind.COMMAND_TIMEOUT:
                present(unreachable, f.message, cause=f.kind.value)
        if not unhealthy:
            present(unreachable, "not connected", cause="not_connected")
    else:
        conditions[unreachable] = Condition.ABSENT
        for f in result.findings:
            if f.kind is FindingKind.COMMAND_TIMEOUT:
                present(unreachable, f.message, cause=f.kind.value)
            elif f.kind not in CONNECTION_FINDINGS:
                degraded.append(f.message)
        exhausted = IncidentType.RESOURCE_EXHAUSTED
        if result.disks and result.memory is not None:  # both read: an absence can be told
            conditions[exhausted] = Condition.ABSENT
        for disk in result.disks:
            usage = f"disk {disk.mount} {disk.capacity_pct}% full"
            if disk.capacity_pct >= t.disk_unhealthy_pct:
                present(
                    exhausted,
                    f"{usage} (limit {t.disk_unhealthy_pct}%)",
                    resource="disk",
                    mount=disk.mount,
                    usage_pct=disk.capacity_pct,
                    threshold_pct=t.disk_unhealthy_pct,
                )
            elif disk.capacity_pct >= t.disk_degraded_pct:
                degraded.append(f"{usage} (warning at {t.disk_degraded_pct}%)")
        if result.memory is not None:
            ram = result.memory.used_pct
            if ram >= t.ram_unhealthy_pct:
                present(
                    exhausted,
                    f"RAM {ram}% used (limit {t.ram_unhealthy_pct}%)",
                    resource="ram",
                    usage_pct=ram,
                    threshold_pct=t.ram_unhealthy_pct,
                )
            elif ram >= t.ram_degraded_pct:
                degraded.append(f"RAM {ram}% used (warning at {t.ram_degraded_pct}%)")
        down = IncidentType.SERVICE_DOWN
        if result.docker is DockerState.RUNNING:
            conditions[down] = Condition.ABSENT
        elif result.docker is DockerState.DOWN:
            present(down, "Docker daemon down: it does not answer", service="docker", cause="daemon_down")
        elif result.docker is DockerState.NOT_INSTALLED:
            present(
                down, "Docker not installed: no docker command on the server", service="docker", cause="not_installed"
            )
        for c in result.container_issues:
            degraded.append(f"container {c.name} {c.state}: {c.status}")
    verdict = HealthStatus.UNHEALTHY if unhealthy else HealthStatus.DEGRADED if degraded else HealthStatus.HEALTHY
    return Assessment(verdict, tuple(unhealthy + degraded), conditions, details, facts, host_key)


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Memory:
    """What Redis remembers of a server between checks."""

    failures: int = 0  # consecutive unhealthy checks
    slot: int | None = None  # the slot whose check ``failures`` last took into account
    recovery_cooling: bool = False  # a recovery request was sent within the cooldown


@dataclass(frozen=True)
class RecordHealth:
    """``PATCH /api/servers/{handle}`` with ``update``, then one metrics-history entry."""

    handle: str
    checked_at: datetime
    update: ServerHealthUpdate = field(compare=False, hash=False)
    history: dict = field(compare=False, hash=False)


@dataclass(frozen=True)
class SetFailures:
    handle: str
    count: int
    slot: int


@dataclass(frozen=True)
class OpenIncident:
    handle: str
    incident_type: IncidentType
    details: dict = field(compare=False, hash=False)


@dataclass(frozen=True)
class ResolveIncident:
    handle: str
    incident_type: IncidentType
    incident_id: int
    #: why, written into the incident's details; None: the condition is gone (details left as they are)
    reason: str | None = None
    details: dict | None = field(default=None, compare=False, hash=False)


@dataclass(frozen=True)
class RequestRecovery:
    handle: str
    reason: str


Change = RecordHealth | SetFailures | OpenIncident | ResolveIncident | RequestRecovery


@dataclass(frozen=True)
class ServerPlan:
    handle: str
    status: HealthStatus | None  # None: nothing decided (a stale result, or unhealthy not yet K times)
    assessment: Assessment | None
    #: unhealthy verdict, not yet K times in a row: nothing opened
    pending: bool = False
    changes: tuple[Change, ...] = ()


def plan_server(target: CheckTarget, result: ProbeResult, memory: Memory, slot: int, t: Thresholds) -> ServerPlan:
    if memory.slot is not None and memory.slot > slot:
        return ServerPlan(target.handle, None, None)  # a newer check has been counted already
    a = assess(result, t)
    unhealthy = a.verdict is HealthStatus.UNHEALTHY
    failures = memory.failures + (memory.slot != slot) if unhealthy else 0
    confirmed = unhealthy and failures >= t.failures_before_unhealthy
    status = HealthStatus.UNHEALTHY if confirmed else None if unhealthy else a.verdict
    changes: list[Change] = []
    if failures != memory.failures:
        changes.append(SetFailures(target.handle, failures, slot))
    answered = a.conditions[IncidentType.SERVER_UNREACHABLE] is Condition.ABSENT  # connected, and the script answered
    if answered and (target.last_health_check is None or result.checked_at > target.last_health_check):
        changes.append(RecordHealth(target.handle, result.checked_at, health_update(result), history_entry(result, a)))
    for kind in HEALTH_INCIDENTS:
        ours = target.incidents.get(kind, [])
        if a.conditions[kind] is Condition.PRESENT and confirmed and not ours and kind not in target.foreign_incidents:
            changes.append(OpenIncident(target.handle, kind, incident_details(a, kind, result, slot, failures)))
        elif a.conditions[kind] is Condition.ABSENT:
            changes += [ResolveIncident(target.handle, kind, incident_id) for incident_id in ours]
    if confirmed and not memory.recovery_cooling and not a.host_key_in_question:
        changes.append(RequestRecovery(target.handle, "; ".join(a.reasons[:3])))
    return ServerPlan(target.handle, status, a, pending=unhealthy and not confirmed, changes=tuple(changes))


def plan(
    targets: Sequence[CheckTarget],
    results: Mapping[str, ProbeResult],
    memories: Mapping[str, Memory],
    slot: int,
    t: Thresholds,
) -> list[ServerPlan]:
    """One ``ServerPlan`` per target that was checked (a target without a result was cut)."""
    return [
        plan_server(target, results[target.handle], memories.get(target.handle, Memory()), slot, t)
        for target in targets
        if target.handle in results
    ]


def incident_details(a: Assessment, kind: IncidentType, result: ProbeResult, slot: int, failures: int) -> dict:
    """What an incident the scheduler opens says: ``opened_by`` (the mark of ours), the reason,
    and the facts (``cause``; ``resource``, ``usage_pct``, ``threshold_pct`` as the platform's
    own checker writes them, for the first resource exhausted, and every one in ``resources``)."""
    facts = dict(a.facts.get(kind, {}))
    if kind is IncidentType.RESOURCE_EXHAUSTED and facts.get("resources"):
        first = facts["resources"][0]
        facts.update(resource=first["resource"], usage_pct=first["usage_pct"], threshold_pct=first["threshold_pct"])
    return {
        OPENED_BY: OPENED_BY_SCHEDULER,
        "source": SOURCE,
        "reason": a.details.get(kind, ""),
        **facts,
        "checked_at": result.checked_at.isoformat(),
        "slot": slot,
        "consecutive_failures": failures,
        "findings": [f.model_dump(mode="json") for f in result.findings[:10]],
    }


# --------------------------------------------------------------------------- what the platform stores


def _used_disk_mb(result: ProbeResult) -> int | None:
    """The root filesystem's size less what is available (as the platform's checker counts it)."""
    root = next((d for d in result.disks if d.mount == "/"), None)
    return None if root is None else max(0, root.size_kb - root.available_kb) // 1024


def health_update(result: ProbeResult) -> ServerHealthUpdate:
    """The Server record's columns a check that reached the server can fill: what was read."""
    values: dict[str, Any] = {"last_health_check": result.checked_at}
    if result.load is not None:
        values.update(load_avg_1m=result.load.m1, load_avg_5m=result.load.m5, load_avg_15m=result.load.m15)
    if result.uptime_s is not None:
        values["uptime_seconds"] = round(result.uptime_s)
    if result.docker is DockerState.RUNNING:
        values.update(container_count_running=result.containers_running, container_count_total=result.containers_total)
    elif result.docker in (DockerState.DOWN, DockerState.NOT_INSTALLED):
        values.update(container_count_running=0, container_count_total=0)
    if (disk := _used_disk_mb(result)) is not None:
        values["used_disk_mb"] = disk
    if result.memory is not None:
        values["used_ram_mb"] = result.memory.used_kb // 1024
    return ServerHealthUpdate(**values)


def history_entry(result: ProbeResult, a: Assessment) -> dict[str, Any]:
    """One metrics-history snapshot: the platform's own checker's keys where they overlap
    (``ram_used_bytes``, ``disk_total_bytes``, ``load_avg_1m``...), then ours (the verdict, every
    disk checked, the Docker daemon's state)."""
    root = next((d for d in result.disks if d.mount == "/"), None)
    entry: dict[str, Any] = {
        "source": SOURCE,
        "checked_at": result.checked_at.isoformat(),
        "health": a.verdict.value,
        "load_avg_1m": result.load.m1 if result.load else None,
        "load_avg_5m": result.load.m5 if result.load else None,
        "load_avg_15m": result.load.m15 if result.load else None,
        "uptime_seconds": result.uptime_s,
        "ram_used_bytes": result.memory.used_kb * 1024 if result.memory else None,
        "ram_total_bytes": result.memory.total_kb * 1024 if result.memory else None,
        "disk_used_bytes": (root.size_kb - root.available_kb) * 1024 if root else None,
        "disk_total_bytes": root.size_kb * 1024 if root else None,
        "docker": result.docker.value,
        "container_count_running": result.containers_running,
        "container_count_total": result.containers_total,
        "disks": [
            {
                "mount": d.mount,
                "capacity_pct": d.capacity_pct,
                "size_kb": d.size_kb,
                "used_kb": d.used_kb,
                "available_kb": d.available_kb,
            }
            for d in result.disks
        ],
        "duration_ms": result.duration_ms,
    }
    return entry


# --------------------------------------------------------------------------- leaving monitoring (issue 19)


#: statuses that take a server out of monitoring for good, as far as its open incidents go
DEPARTED_STATUSES = frozenset({"missing", "decommissioned", "reserved"})


@dataclass(frozen=True)
class ServerState:
    """What decides whether a server left monitoring: its status and whether it is managed."""

    status: str
    is_managed: bool


def departure(state: ServerState | None) -> str | None:
    """Why a server is no longer monitored, or None if it may come back to it by itself
    (provisioning, error, maintenance...: its incidents stay open)."""
    if state is None:
        return "server deleted: the platform no longer has it"
    if state.status in DEPARTED_STATUSES:
        return f"server {state.status}: no longer monitored"
    if not state.is_managed:
        return "server unmanaged: no longer monitored"
    return None


def orphaned(incidents: Iterable[Incident], monitored: set[str]) -> list[Incident]:
    """The scheduler's active health incidents whose server is not among the monitored ones."""
    return [
        i
        for i in incidents
        if i.active
        and i.opened_by_scheduler
        and i.incident_type in HEALTH_INCIDENTS
        and i.server_handle is not None
        and i.server_handle not in monitored
    ]


def plan_departures(
    incidents: Iterable[Incident], monitored: set[str], states: Mapping[str, ServerState | None]
) -> list[ResolveIncident]:
    """Resolve each of the scheduler's incidents whose server left monitoring (``states`` holds
    what the platform said of each orphan's server: None when it is gone). Someone else's
    incident is never in it, whatever its server."""
    changes = []
    for incident in orphaned(incidents, monitored):
        handle = incident.server_handle
        if handle not in states:
            continue  # not looked up: decided at a later run
        reason = departure(states[handle])
        if reason is not None:
            details = {**incident.details, "resolution": reason, "resolved_by": OPENED_BY_SCHEDULER}
            changes.append(ResolveIncident(handle, incident.incident_type, incident.id, reason, details))
    return changes
