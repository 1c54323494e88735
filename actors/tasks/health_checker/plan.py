"""The health model and the health checker's plan: pure functions, no I/O.

``assess`` turns one ``ProbeResult`` into a verdict and, per incident type, whether its
condition is present, absent or unknown (an unreachable server tells nothing about its disks):

- unhealthy: unreachable (refused, timed out, login refused, not responding), a host key that
  does not match (or no trusted key at all), a disk at or above ``disk_unhealthy_pct``, the
  Docker daemon down or not installed;
- degraded: a disk at or above ``disk_degraded_pct``, a container unhealthy, restarting or
  dead, or a check that came back incomplete (unreadable output, a missing mount...);
- healthy: none of these.

``plan_server`` goes from (the server as the platform holds it, the check, what Redis
remembers, the slot) to the changes that make the world agree:

- consecutive failures: an unhealthy verdict counts once per slot (a retried or repeated
  message does not count twice; a result older than the last counted slot is ignored);
  anything else resets the count. Only ``failures_before_unhealthy`` (K) consecutive
  unhealthy checks make the server unhealthy; until then its status is held as it was;
- the health report: for every check newer than the platform's ``last_health_check``;
- incidents: one per (server, type), opened when unhealthiness is confirmed and the
  condition is present, kept while it lasts, resolved once a check shows it absent;
- recovery: a confirmed unhealthy server gets a recovery request unless one is cooling
  down, except for a host key mismatch: reinstalling a machine we cannot authenticate is
  a human's call, not an automaton's.

Applying a plan and planning again from the resulting state yields no changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from contracts.health import HEALTH_INCIDENTS, CheckTarget, DockerState, FindingKind, ProbeResult
from contracts.health import HealthStatus
from contracts.platform import IncidentType

CONNECTION_FINDINGS = frozenset({FindingKind.CONNECT_REFUSED, FindingKind.CONNECT_TIMEOUT,
                                 FindingKind.NETWORK_ERROR, FindingKind.AUTH_FAILED, FindingKind.SSH_ERROR})
HOST_KEY_FINDINGS = frozenset({FindingKind.HOST_KEY_MISMATCH, FindingKind.HOST_KEY_UNKNOWN})


@dataclass(frozen=True)
class Thresholds:
    disk_degraded_pct: int = 85
    disk_unhealthy_pct: int = 95
    #: K: consecutive unhealthy checks before a server is unhealthy
    failures_before_unhealthy: int = 2

    def __post_init__(self):
        if not 0 < self.disk_degraded_pct <= self.disk_unhealthy_pct <= 100:
            raise ValueError("need 0 < disk_degraded_pct <= disk_unhealthy_pct <= 100")
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
    #: for each present condition, what was seen
    details: Mapping[IncidentType, str]


def assess(result: ProbeResult, t: Thresholds) -> Assessment:
    unhealthy: list[str] = []
    degraded: list[str] = []
    conditions = dict.fromkeys(HEALTH_INCIDENTS, Condition.UNKNOWN)
    details: dict[IncidentType, str] = {}

    def present(kind: IncidentType, reason: str) -> None:
        conditions[kind] = Condition.PRESENT
        details[kind] = "; ".join(filter(None, (details.get(kind), reason)))
        unhealthy.append(reason)

    kinds = {f.kind for f in result.findings}
    if kinds & HOST_KEY_FINDINGS:
        for f in result.findings:
            if f.kind in HOST_KEY_FINDINGS:
                present(IncidentType.HOST_KEY_MISMATCH, f.message)
    elif not result.connected:
        for f in result.findings:
            if f.kind in CONNECTION_FINDINGS or f.kind is FindingKind.COMMAND_TIMEOUT:
                present(IncidentType.SERVER_UNREACHABLE, f.message)
        if not unhealthy:
            present(IncidentType.SERVER_UNREACHABLE, "not connected")
        if FindingKind.AUTH_FAILED in kinds:  # authentication comes after the host key check
            conditions[IncidentType.HOST_KEY_MISMATCH] = Condition.ABSENT
    else:
        conditions[IncidentType.HOST_KEY_MISMATCH] = Condition.ABSENT
        conditions[IncidentType.SERVER_UNREACHABLE] = Condition.ABSENT
        for f in result.findings:
            if f.kind is FindingKind.COMMAND_TIMEOUT:
                present(IncidentType.SERVER_UNREACHABLE, f.message)
            elif f.kind not in CONNECTION_FINDINGS:
                degraded.append(f.message)
        if result.disks:
            conditions[IncidentType.RESOURCE_EXHAUSTED] = Condition.ABSENT
        for disk in result.disks:
            usage = f"disk {disk.mount} {disk.capacity_pct}% full"
            if disk.capacity_pct >= t.disk_unhealthy_pct:
                present(IncidentType.RESOURCE_EXHAUSTED, f"{usage} (limit {t.disk_unhealthy_pct}%)")
            elif disk.capacity_pct >= t.disk_degraded_pct:
                degraded.append(f"{usage} (warning at {t.disk_degraded_pct}%)")
        if result.docker is DockerState.RUNNING:
            conditions[IncidentType.SERVICE_DOWN] = Condition.ABSENT
        elif result.docker is DockerState.DOWN:
            present(IncidentType.SERVICE_DOWN, "Docker daemon down: it does not answer")
        elif result.docker is DockerState.NOT_INSTALLED:
            present(IncidentType.SERVICE_DOWN, "Docker not installed: no docker command on the server")
        for c in result.container_issues:
            degraded.append(f"container {c.name} {c.state}: {c.status}")
    verdict = HealthStatus.UNHEALTHY if unhealthy else HealthStatus.DEGRADED if degraded else HealthStatus.HEALTHY
    return Assessment(verdict, tuple(unhealthy + degraded), conditions, details)


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Memory:
    """What Redis remembers of a server between checks."""

    failures: int = 0  # consecutive unhealthy checks
    slot: int | None = None  # the slot whose check ``failures`` last took into account
    recovery_cooling: bool = False  # a recovery request was sent within the cooldown


@dataclass(frozen=True)
class ReportHealth:
    handle: str
    status: HealthStatus
    checked_at: Any  # datetime


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


@dataclass(frozen=True)
class RequestRecovery:
    handle: str
    reason: str


Change = ReportHealth | SetFailures | OpenIncident | ResolveIncident | RequestRecovery


@dataclass(frozen=True)
class ServerPlan:
    handle: str
    status: HealthStatus | None  # None: nothing decided (a stale result)
    assessment: Assessment | None
    #: unhealthy verdict, not yet K times in a row: status held, nothing opened
    pending: bool = False
    changes: tuple[Change, ...] = ()


def plan_server(target: CheckTarget, result: ProbeResult, memory: Memory, slot: int, t: Thresholds) -> ServerPlan:
    if memory.slot is not None and memory.slot > slot:
        return ServerPlan(target.handle, None, None)  # a newer check has been counted already
    a = assess(result, t)
    unhealthy = a.verdict is HealthStatus.UNHEALTHY
    failures = memory.failures + (memory.slot != slot) if unhealthy else 0
    confirmed = unhealthy and failures >= t.failures_before_unhealthy
    status = HealthStatus.UNHEALTHY if confirmed else target.health_status if unhealthy else a.verdict
    changes: list[Change] = []
    if failures != memory.failures:
        changes.append(SetFailures(target.handle, failures, slot))
    if target.last_health_check is None or result.checked_at > target.last_health_check:
        changes.append(ReportHealth(target.handle, status, result.checked_at))
    for kind in HEALTH_INCIDENTS:
        active = target.incidents.get(kind)
        if a.conditions[kind] is Condition.PRESENT and confirmed and active is None:
            changes.append(OpenIncident(target.handle, kind, incident_details(a, kind, result, slot, failures)))
        elif a.conditions[kind] is Condition.ABSENT and active is not None:
            changes.append(ResolveIncident(target.handle, kind, active))
    impostor_possible = a.conditions[IncidentType.HOST_KEY_MISMATCH] is Condition.PRESENT
    if confirmed and not memory.recovery_cooling and not impostor_possible:
        changes.append(RequestRecovery(target.handle, "; ".join(a.reasons[:3])))
    return ServerPlan(target.handle, status, a, pending=unhealthy and not confirmed, changes=tuple(changes))


def plan(targets: Sequence[CheckTarget], results: Mapping[str, ProbeResult], memories: Mapping[str, Memory],
         slot: int, t: Thresholds) -> list[ServerPlan]:
    """One ``ServerPlan`` per target that was checked (a target without a result was cut)."""
    return [plan_server(target, results[target.handle], memories.get(target.handle, Memory()), slot, t)
            for target in targets if target.handle in results]


def incident_details(a: Assessment, kind: IncidentType, result: ProbeResult, slot: int, failures: int) -> dict:
    return {
        "source": "health_checker",
        "reason": a.details.get(kind, ""),
        "checked_at": result.checked_at.isoformat(),
        "slot": slot,
        "consecutive_failures": failures,
        "findings": [f.model_dump(mode="json") for f in result.findings[:10]],
    }
