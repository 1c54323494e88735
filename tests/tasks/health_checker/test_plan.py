"""The health model and the plan: the verdicts, the K-consecutive rule, incidents, recovery, and
the property that applying a plan and planning again yields no changes."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.tasks.health_checker.plan import (Condition, Memory, OpenIncident, ReportHealth, RequestRecovery, ResolveIncident,
                                 SetFailures, Thresholds, assess, plan, plan_server)
from contracts.health import (HEALTH_INCIDENTS, CheckTarget, ContainerIssue, DiskUsage, DockerState, Finding,
                              FindingKind, ProbeResult)
from contracts.platform import HealthStatus, IncidentType

T = Thresholds()  # 85 / 95 / K=2
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
H, U, D = HealthStatus.HEALTHY, HealthStatus.UNHEALTHY, HealthStatus.DEGRADED
UNREACHABLE, HOST_KEY = IncidentType.SERVER_UNREACHABLE, IncidentType.HOST_KEY_MISMATCH
DISK, DOCKER = IncidentType.RESOURCE_EXHAUSTED, IncidentType.SERVICE_DOWN


def disk(pct: int, mount: str = "/") -> DiskUsage:
    return DiskUsage(mount=mount, size_kb=1000, used_kb=pct * 10, available_kb=1000 - pct * 10, capacity_pct=pct)


def result(*, connected=True, findings=(), disks=(40,), docker=DockerState.RUNNING, issues=(), at=NOW) -> ProbeResult:
    return ProbeResult(handle="vps-1", checked_at=at, connected=connected, findings=list(findings),
                       disks=[disk(p) for p in disks] if connected else [],
                       docker=docker if connected else DockerState.UNKNOWN, container_issues=list(issues))


def finding(kind: FindingKind, message: str = "seen") -> Finding:
    return Finding(kind=kind, message=message)


def refused() -> ProbeResult:
    return result(connected=False, findings=[finding(FindingKind.CONNECT_REFUSED, "connection refused")])


def target(status=HealthStatus.UNKNOWN, last=None, incidents=None) -> CheckTarget:
    return CheckTarget(handle="vps-1", host="10.0.0.1", health_status=status, last_health_check=last,
                       incidents=incidents or {})


def of(changes, kind):
    return [c for c in changes if isinstance(c, kind)]


# --------------------------------------------------------------------------- assess


@pytest.mark.parametrize("probe, verdict, present", [
    (result(), H, set()),
    (result(disks=(84,)), H, set()),
    (result(disks=(85,)), D, set()),
    (result(disks=(40, 94)), D, set()),
    (result(disks=(95,)), U, {DISK}),
    (result(disks=(100, 97)), U, {DISK}),
    (result(docker=DockerState.DOWN), U, {DOCKER}),
    (result(docker=DockerState.NOT_INSTALLED), U, {DOCKER}),
    (result(issues=[ContainerIssue(name="web", state="running", status="Up 1 hour (unhealthy)")]), D, set()),
    (result(issues=[ContainerIssue(name="job", state="restarting", status="Restarting (1)")]), D, set()),
    (result(findings=[finding(FindingKind.UNPARSABLE_OUTPUT)], disks=()), D, set()),
    (result(findings=[finding(FindingKind.MOUNT_MISSING)]), D, set()),
    (result(findings=[finding(FindingKind.COMMAND_TIMEOUT)], disks=(), docker=DockerState.UNKNOWN), U, {UNREACHABLE}),
    (refused(), U, {UNREACHABLE}),
    (result(connected=False, findings=[finding(FindingKind.CONNECT_TIMEOUT)]), U, {UNREACHABLE}),
    (result(connected=False, findings=[finding(FindingKind.AUTH_FAILED)]), U, {UNREACHABLE}),
    (result(connected=False, findings=[finding(FindingKind.HOST_KEY_MISMATCH)]), U, {HOST_KEY}),
    (result(connected=False, findings=[finding(FindingKind.HOST_KEY_UNKNOWN)]), U, {HOST_KEY}),
    (result(disks=(99,), docker=DockerState.DOWN), U, {DISK, DOCKER}),
])
def test_the_verdict_and_which_incident_conditions_are_present(probe, verdict, present):
    a = assess(probe, T)
    assert a.verdict is verdict
    assert {k for k, c in a.conditions.items() if c is Condition.PRESENT} == present
    assert all(a.details[k] for k in present) and (verdict is H) == (a.reasons == ())


def test_what_an_unreachable_server_tells_nothing_about_stays_unknown():
    a = assess(refused(), T)
    assert [a.conditions[k] for k in (HOST_KEY, DISK, DOCKER)] == [Condition.UNKNOWN] * 3
    auth = assess(result(connected=False, findings=[finding(FindingKind.AUTH_FAILED)]), T)
    assert auth.conditions[HOST_KEY] is Condition.ABSENT  # the key was verified before the login failed
    mismatch = assess(result(connected=False, findings=[finding(FindingKind.HOST_KEY_MISMATCH)]), T)
    assert [mismatch.conditions[k] for k in (UNREACHABLE, DISK, DOCKER)] == [Condition.UNKNOWN] * 3
    half = assess(result(findings=[finding(FindingKind.UNPARSABLE_OUTPUT)], disks=(), docker=DockerState.UNKNOWN), T)
    assert half.conditions[DISK] is Condition.UNKNOWN and half.conditions[UNREACHABLE] is Condition.ABSENT


def test_thresholds_are_configurable_and_checked():
    assert assess(result(disks=(70,)), Thresholds(60, 70, 2)).verdict is U
    with pytest.raises(ValueError):
        Thresholds(90, 80, 2)
    with pytest.raises(ValueError):
        Thresholds(85, 95, 0)


# --------------------------------------------------------------------------- the plan, case by case


def test_one_failed_check_opens_nothing_and_holds_the_status():
    p = plan_server(target(H, NOW - timedelta(minutes=2)), refused(), Memory(), slot=10, t=T)
    assert p.pending and p.status is H
    assert p.changes == (SetFailures("vps-1", 1, 10), ReportHealth("vps-1", H, NOW))


def test_the_kth_consecutive_failure_makes_it_unhealthy_opens_an_incident_and_asks_for_recovery():
    p = plan_server(target(H, NOW - timedelta(minutes=2)), refused(), Memory(1, 10), slot=11, t=T)
    assert not p.pending and p.status is U
    assert of(p.changes, SetFailures) == [SetFailures("vps-1", 2, 11)]
    assert of(p.changes, ReportHealth) == [ReportHealth("vps-1", U, NOW)]
    [opened] = of(p.changes, OpenIncident)
    assert opened.incident_type is UNREACHABLE and opened.details["reason"] == "connection refused"
    assert opened.details["consecutive_failures"] == 2 and opened.details["slot"] == 11
    assert of(p.changes, RequestRecovery) == [RequestRecovery("vps-1", "connection refused")]


def test_while_it_lasts_the_incident_is_kept_and_recovery_waits_for_the_cooldown():
    ongoing = target(U, NOW - timedelta(minutes=2), {UNREACHABLE: 7})
    p = plan_server(ongoing, refused(), Memory(2, 11, recovery_cooling=True), slot=12, t=T)
    assert p.changes == (SetFailures("vps-1", 3, 12), ReportHealth("vps-1", U, NOW))
    cooled = plan_server(ongoing, refused(), Memory(3, 12), slot=13, t=T)
    assert of(cooled.changes, RequestRecovery) and not of(cooled.changes, OpenIncident)


def test_healthy_again_resolves_every_incident_and_resets_the_count():
    sick = target(U, NOW - timedelta(minutes=2), {UNREACHABLE: 7, DISK: 8})
    p = plan_server(sick, result(), Memory(4, 12, recovery_cooling=True), slot=13, t=T)
    assert p.status is H
    assert of(p.changes, SetFailures) == [SetFailures("vps-1", 0, 13)]
    assert sorted(c.incident_id for c in of(p.changes, ResolveIncident)) == [7, 8]
    assert not of(p.changes, OpenIncident) and not of(p.changes, RequestRecovery)


def test_degraded_resolves_what_is_gone_but_is_not_a_failure():
    p = plan_server(target(U, None, {DOCKER: 3}), result(disks=(90,)), Memory(3, 5), slot=6, t=T)
    assert p.status is D and of(p.changes, SetFailures) == [SetFailures("vps-1", 0, 6)]
    assert [c.incident_id for c in of(p.changes, ResolveIncident)] == [3]


def test_an_incident_whose_condition_is_unknown_is_kept():
    # the disk was full; now the server does not answer at all: nobody knows about the disk
    p = plan_server(target(U, None, {DISK: 4}), refused(), Memory(5, 8), slot=9, t=T)
    assert not of(p.changes, ResolveIncident)
    assert [c.incident_type for c in of(p.changes, OpenIncident)] == [UNREACHABLE]


def test_a_host_key_mismatch_opens_its_incident_but_never_asks_for_recovery():
    mismatch = result(connected=False, findings=[finding(FindingKind.HOST_KEY_MISMATCH, "presented SHA256:x")])
    p = plan_server(target(), mismatch, Memory(1, 1), slot=2, t=T)
    assert [c.incident_type for c in of(p.changes, OpenIncident)] == [HOST_KEY]
    assert of(p.changes, RequestRecovery) == []


def test_a_retried_message_for_the_same_slot_does_not_count_twice():
    first = plan_server(target(), refused(), Memory(), slot=20, t=T)
    again = plan_server(target(), refused(), Memory(1, 20), slot=20, t=T)
    assert of(first.changes, SetFailures) == [SetFailures("vps-1", 1, 20)] and of(again.changes, SetFailures) == []
    assert again.pending


def test_a_result_older_than_the_counted_slot_changes_nothing():
    p = plan_server(target(), refused(), Memory(1, 30), slot=29, t=T)
    assert p.changes == () and p.status is None


def test_no_report_when_the_platform_already_holds_a_newer_check():
    p = plan_server(target(H, NOW + timedelta(seconds=1)), result(), Memory(), slot=1, t=T)
    assert of(p.changes, ReportHealth) == []


def test_with_k_equal_one_the_first_failure_counts():
    p = plan_server(target(), result(docker=DockerState.DOWN), Memory(), slot=1, t=Thresholds(85, 95, 1))
    assert p.status is U and [c.incident_type for c in of(p.changes, OpenIncident)] == [DOCKER]


def test_plan_covers_checked_targets_only():
    plans = plan([target(), CheckTarget(handle="vps-2", host="10.0.0.2")], {"vps-1": result()}, {}, slot=1, t=T)
    assert [p.handle for p in plans] == ["vps-1"]


# --------------------------------------------------------------------------- properties


def simulate(t: CheckTarget, m: Memory, changes) -> tuple[CheckTarget, Memory]:
    """What the apply step does to the platform's records and to Redis, as pure data."""
    incidents = dict(t.incidents)
    status, last = t.health_status, t.last_health_check
    for c in changes:
        if isinstance(c, SetFailures):
            m = dataclasses.replace(m, failures=c.count, slot=c.slot)
        elif isinstance(c, ReportHealth) and (last is None or c.checked_at > last):  # the platform's stale rule
            status, last = c.status, c.checked_at
        elif isinstance(c, OpenIncident):
            incidents.setdefault(c.incident_type, 1000 + len(incidents))  # the platform dedupes
        elif isinstance(c, ResolveIncident):
            incidents.pop(c.incident_type, None)
        elif isinstance(c, RequestRecovery):
            m = dataclasses.replace(m, recovery_cooling=True)
    return t.model_copy(update={"health_status": status, "last_health_check": last, "incidents": incidents}), m


connection_kinds = st.sampled_from([FindingKind.CONNECT_REFUSED, FindingKind.CONNECT_TIMEOUT, FindingKind.AUTH_FAILED,
                                    FindingKind.NETWORK_ERROR, FindingKind.HOST_KEY_MISMATCH,
                                    FindingKind.HOST_KEY_UNKNOWN])
answer_kinds = st.sampled_from([FindingKind.COMMAND_TIMEOUT, FindingKind.UNPARSABLE_OUTPUT, FindingKind.MOUNT_MISSING,
                                FindingKind.OUTPUT_TOO_LARGE, FindingKind.DOCKER_DENIED, FindingKind.COMMAND_FAILED])
issues = st.lists(st.builds(ContainerIssue, name=st.sampled_from(["web", "db"]),
                            state=st.sampled_from(["running", "restarting", "dead"]), status=st.just("Up")), max_size=2)


@st.composite
def probe_results(draw):
    at = NOW + timedelta(seconds=draw(st.integers(-300, 300)))
    if not draw(st.booleans()):
        return result(connected=False, findings=[finding(draw(connection_kinds))], at=at)
    return result(findings=[finding(k) for k in draw(st.lists(answer_kinds, max_size=2))],
                  disks=draw(st.lists(st.integers(0, 100), max_size=2)), docker=draw(st.sampled_from(DockerState)),
                  issues=draw(issues), at=at)


targets = st.builds(
    lambda status, offset, kinds: target(status, None if offset is None else NOW + timedelta(seconds=offset),
                                         {k: i + 1 for i, k in enumerate(kinds)}),
    st.sampled_from(HealthStatus), st.none() | st.integers(-600, 600), st.sets(st.sampled_from(HEALTH_INCIDENTS)))
memories = st.builds(Memory, st.integers(0, 5), st.none() | st.integers(95, 101), st.booleans())
thresholds = st.builds(lambda d, gap, k: Thresholds(d, min(100, d + gap), k),
                       st.integers(1, 100), st.integers(0, 20), st.integers(1, 4))


@settings(max_examples=800, deadline=None)
@given(t=targets, probe=probe_results(), m=memories, slot=st.integers(95, 101), th=thresholds)
def test_applying_a_plan_then_planning_again_changes_nothing(t, probe, m, slot, th):
    first = plan_server(t, probe, m, slot, th)
    t2, m2 = simulate(t, m, first.changes)
    second = plan_server(t2, probe, m2, slot, th)
    assert second.changes == ()
    # and the rules hold on the way
    for c in of(first.changes, OpenIncident):
        assert first.status is U and c.incident_type not in t.incidents
    if of(first.changes, RequestRecovery):
        assert first.status is U and not m.recovery_cooling and HOST_KEY not in {
            k for k, v in first.assessment.conditions.items() if v is Condition.PRESENT}


@settings(max_examples=300, deadline=None)
@given(k=st.integers(1, 4), verdicts=st.lists(st.booleans(), min_size=1, max_size=12))
def test_unhealthy_exactly_after_k_consecutive_failures_and_one_incident_per_episode(k, verdicts):
    th = Thresholds(85, 95, k)
    t, m, opened, run = target(), Memory(), 0, 0
    for slot, failing in enumerate(verdicts, start=1):
        probe = refused() if failing else result()
        probe = probe.model_copy(update={"checked_at": NOW + timedelta(minutes=slot)})
        p = plan_server(t, probe, m, slot, th)
        run = run + 1 if failing else 0
        assert (p.status is U) == (run >= k)
        opened += len(of(p.changes, OpenIncident))
        t, m = simulate(t, m, p.changes)
        assert (UNREACHABLE in t.incidents) == (run >= k)
    episodes = sum(1 for failing, group in itertools.groupby(verdicts) if failing and len(list(group)) >= k)
    assert opened == episodes
