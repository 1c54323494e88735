"""The health model and the plan: the verdicts, the K-consecutive rule, incidents (ours, and
someone else's that we leave alone), what is written to the platform, recovery, servers leaving
monitoring, and the property that applying a plan and planning again yields no changes."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.tasks.health_checker.plan import (
    Condition,
    Memory,
    OpenIncident,
    RecordHealth,
    RequestRecovery,
    ResolveIncident,
    ServerState,
    SetFailures,
    Thresholds,
    assess,
    departure,
    health_update,
    history_entry,
    plan,
    plan_departures,
    plan_server,
)
from contracts.health import (
    HEALTH_INCIDENTS,
    CheckTarget,
    ContainerIssue,
    DiskUsage,
    DockerState,
    Finding,
    FindingKind,
    HealthStatus,
    LoadAverage,
    MemoryUsage,
    ProbeResult,
)
from contracts.platform import Incident, IncidentType

T = Thresholds()  # disk 85 / 95, RAM 90 / 95, K=2
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
H, U, D = HealthStatus.HEALTHY, HealthStatus.UNHEALTHY, HealthStatus.DEGRADED
UNREACHABLE, DISK, DOCKER = IncidentType.SERVER_UNREACHABLE, IncidentType.RESOURCE_EXHAUSTED, IncidentType.SERVICE_DOWN
assert IncidentType.SERVER_UNREACHABLE in HEALTH_INCIDENTS and len(HEALTH_INCIDENTS) == 3


def disk(pct: int, mount: str = "/") -> DiskUsage:
    return DiskUsage(mount=mount, size_kb=1000, used_kb=pct * 10, available_kb=1000 - pct * 10, capacity_pct=pct)


def result(
    *, connected=True, findings=(), disks=(40,), docker=DockerState.RUNNING, issues=(), at=NOW, ram: int | None = 30
) -> ProbeResult:
    return ProbeResult(
        handle="vps-1",
        checked_at=at,
        connected=connected,
        findings=list(findings),
        disks=[disk(p) for p in disks] if connected else [],
        docker=docker if connected else DockerState.UNKNOWN,
        container_issues=list(issues),
        memory=MemoryUsage(total_kb=1000, available_kb=1000 - ram * 10) if connected and ram is not None else None,
        load=LoadAverage(m1=0.5, m5=0.25, m15=0.125) if connected else None,
        uptime_s=3600.4 if connected else None,
        containers_total=2 if connected else 0,
        containers_running=1 if connected else 0,
    )


def finding(kind: FindingKind, message: str = "seen") -> Finding:
    return Finding(kind=kind, message=message)


def refused() -> ProbeResult:
    return result(connected=False, findings=[finding(FindingKind.CONNECT_REFUSED, "connection refused")])


def target(last=None, incidents=None, foreign=()) -> CheckTarget:
    """``incidents``: type -> an id or a list of ids of ours; ``foreign``: types someone else has open."""
    ours = {k: v if isinstance(v, list) else [v] for k, v in (incidents or {}).items()}
    return CheckTarget(
        handle="vps-1", host="10.0.0.1", last_health_check=last, incidents=ours, foreign_incidents=list(foreign)
    )


def recorded(checked_at=NOW) -> RecordHealth:
    return RecordHealth("vps-1", checked_at, None, None)


def of(changes, kind):
    return [c for c in changes if isinstance(c, kind)]


# --------------------------------------------------------------------------- assess


@pytest.mark.parametrize(
    "probe, verdict, present",
    [
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
        (
            result(findings=[finding(FindingKind.COMMAND_TIMEOUT)], disks=(), docker=DockerState.UNKNOWN),
            U,
            {UNREACHABLE},
        ),
        (refused(), U, {UNREACHABLE}),
        (result(connected=False, findings=[finding(FindingKind.CONNECT_TIMEOUT)]), U, {UNREACHABLE}),
        (result(connected=False, findings=[finding(FindingKind.AUTH_FAILED)]), U, {UNREACHABLE}),
        (result(connected=False, findings=[finding(FindingKind.HOST_KEY_MISMATCH)]), U, {UNREACHABLE}),
        (result(connected=False, findings=[finding(FindingKind.HOST_KEY_UNKNOWN)]), U, {UNREACHABLE}),
        (result(disks=(99,), docker=DockerState.DOWN), U, {DISK, DOCKER}),
        (result(ram=89), H, set()),
        (result(ram=90), D, set()),
        (result(ram=95), U, {DISK}),
        (result(disks=(96,), ram=99), U, {DISK}),
    ],
)
def test_the_verdict_and_which_incident_conditions_are_present(probe, verdict, present):
    a = assess(probe, T)
    assert a.verdict is verdict
    assert {k for k, c in a.conditions.items() if c is Condition.PRESENT} == present
    assert all(a.details[k] for k in present) and (verdict is H) == (a.reasons == ())


def test_what_an_unreachable_server_tells_nothing_about_stays_unknown():
    a = assess(refused(), T)
    assert [a.conditions[k] for k in (DISK, DOCKER)] == [Condition.UNKNOWN] * 2
    mismatch = assess(result(connected=False, findings=[finding(FindingKind.HOST_KEY_MISMATCH)]), T)
    assert [mismatch.conditions[k] for k in (DISK, DOCKER)] == [Condition.UNKNOWN] * 2
    half = assess(result(findings=[finding(FindingKind.UNPARSABLE_OUTPUT)], disks=(), docker=DockerState.UNKNOWN), T)
    assert half.conditions[DISK] is Condition.UNKNOWN and half.conditions[UNREACHABLE] is Condition.ABSENT
    no_ram = assess(result(ram=None), T)  # the disks are fine, RAM unread: a RAM incident must not be resolved
    assert no_ram.conditions[DISK] is Condition.UNKNOWN


def test_a_changed_host_key_is_server_unreachable_with_its_cause_and_no_one_may_act_on_it():
    mismatch = assess(result(connected=False, findings=[finding(FindingKind.HOST_KEY_MISMATCH, "presented X")]), T)
    assert mismatch.conditions[UNREACHABLE] is Condition.PRESENT and mismatch.host_key_in_question
    assert (
        mismatch.facts[UNREACHABLE] == {"cause": "host_key_mismatch"} and "presented X" in mismatch.details[UNREACHABLE]
    )
    assert not assess(refused(), T).host_key_in_question
    assert assess(refused(), T).facts[UNREACHABLE] == {"cause": "connect_refused"}


def test_thresholds_are_configurable_and_checked():
    assert assess(result(disks=(70,)), Thresholds(60, 70, 90, 95, 2)).verdict is U
    assert assess(result(ram=70), Thresholds(85, 95, 60, 70, 2)).verdict is U
    for bad in ((90, 80, 90, 95, 2), (85, 95, 96, 95, 2), (85, 95, 90, 95, 0)):
        with pytest.raises(ValueError):
            Thresholds(*bad)


# --------------------------------------------------------------------------- the plan, case by case


def test_one_failed_check_opens_nothing_and_records_nothing_on_the_platform():
    p = plan_server(target(NOW - timedelta(minutes=2)), refused(), Memory(), slot=10, t=T)
    assert p.pending and p.status is None
    assert p.changes == (SetFailures("vps-1", 1, 10),), "unreachable: no metrics, last_health_check stays"


def test_the_kth_consecutive_failure_makes_it_unhealthy_opens_an_incident_and_asks_for_recovery():
    p = plan_server(target(NOW - timedelta(minutes=2)), refused(), Memory(1, 10), slot=11, t=T)
    assert not p.pending and p.status is U
    assert of(p.changes, SetFailures) == [SetFailures("vps-1", 2, 11)] and of(p.changes, RecordHealth) == []
    [opened] = of(p.changes, OpenIncident)
    assert opened.incident_type is UNREACHABLE and opened.details["reason"] == "connection refused"
    assert opened.details["consecutive_failures"] == 2 and opened.details["slot"] == 11
    assert opened.details["opened_by"] == "scheduler" and opened.details["cause"] == "connect_refused"
    assert of(p.changes, RequestRecovery) == [RequestRecovery("vps-1", "connection refused")]


def test_while_it_lasts_the_incident_is_kept_and_recovery_waits_for_the_cooldown():
    ongoing = target(NOW - timedelta(minutes=2), {UNREACHABLE: 7})
    p = plan_server(ongoing, refused(), Memory(2, 11, recovery_cooling=True), slot=12, t=T)
    assert p.changes == (SetFailures("vps-1", 3, 12),)
    cooled = plan_server(ongoing, refused(), Memory(3, 12), slot=13, t=T)
    assert of(cooled.changes, RequestRecovery) and not of(cooled.changes, OpenIncident)


def test_healthy_again_resolves_every_incident_of_ours_and_resets_the_count():
    sick = target(NOW - timedelta(minutes=2), {UNREACHABLE: [7, 9], DISK: 8})  # 7 and 9: a duplicate from before
    p = plan_server(sick, result(), Memory(4, 12, recovery_cooling=True), slot=13, t=T)
    assert p.status is H
    assert of(p.changes, SetFailures) == [SetFailures("vps-1", 0, 13)]
    assert sorted(c.incident_id for c in of(p.changes, ResolveIncident)) == [7, 8, 9]
    assert of(p.changes, RecordHealth) == [recorded()]
    assert not of(p.changes, OpenIncident) and not of(p.changes, RequestRecovery)


def test_someone_elses_incident_is_neither_duplicated_nor_resolved():
    # the platform's own checker (or a human) has a server_unreachable open for this server
    down = plan_server(target(None, foreign=[UNREACHABLE]), refused(), Memory(1, 1), slot=2, t=T)
    assert down.status is U and of(down.changes, OpenIncident) == []
    back = plan_server(target(None, foreign=[UNREACHABLE]), result(), Memory(2, 2), slot=3, t=T)
    assert of(back.changes, ResolveIncident) == []


def test_degraded_resolves_what_is_gone_but_is_not_a_failure():
    p = plan_server(target(None, {DOCKER: 3}), result(disks=(90,)), Memory(3, 5), slot=6, t=T)
    assert p.status is D and of(p.changes, SetFailures) == [SetFailures("vps-1", 0, 6)]
    assert [c.incident_id for c in of(p.changes, ResolveIncident)] == [3]


def test_an_incident_whose_condition_is_unknown_is_kept():
    # the disk was full; now the server does not answer at all: nobody knows about the disk
    p = plan_server(target(None, {DISK: 4}), refused(), Memory(5, 8), slot=9, t=T)
    assert not of(p.changes, ResolveIncident)
    assert [c.incident_type for c in of(p.changes, OpenIncident)] == [UNREACHABLE]


def test_a_host_key_mismatch_opens_server_unreachable_but_never_asks_for_recovery():
    mismatch = result(connected=False, findings=[finding(FindingKind.HOST_KEY_MISMATCH, "presented SHA256:x")])
    p = plan_server(target(), mismatch, Memory(1, 1), slot=2, t=T)
    [opened] = of(p.changes, OpenIncident)
    assert opened.incident_type is UNREACHABLE and opened.details["cause"] == "host_key_mismatch"
    assert "presented SHA256:x" in opened.details["reason"]
    assert of(p.changes, RequestRecovery) == []


def test_resource_exhausted_names_the_resources_as_the_platforms_checker_does():
    p = plan_server(target(), result(disks=(97,), ram=96), Memory(1, 1), slot=2, t=T)
    [opened] = of(p.changes, OpenIncident)
    assert (opened.details["resource"], opened.details["usage_pct"], opened.details["threshold_pct"]) == (
        "disk",
        97,
        95,
    )
    assert [r["resource"] for r in opened.details["resources"]] == ["disk", "ram"]


def test_what_a_check_that_reached_the_server_writes_to_the_platform():
    root = DiskUsage(
        mount="/", size_kb=10 * 1024 * 1024, used_kb=4 * 1024 * 1024, available_kb=5 * 1024 * 1024, capacity_pct=45
    )
    probe = result().model_copy(
        update={"disks": [root], "memory": MemoryUsage(total_kb=4 * 1024 * 1024, available_kb=3 * 1024 * 1024)}
    )
    update = health_update(probe).changes()
    assert datetime.fromisoformat(update.pop("last_health_check").replace("Z", "+00:00")) == NOW
    assert update == {
        "load_avg_1m": 0.5,
        "load_avg_5m": 0.25,
        "load_avg_15m": 0.125,
        "uptime_seconds": 3600,
        "container_count_running": 1,
        "container_count_total": 2,
        "used_disk_mb": 5 * 1024,
        "used_ram_mb": 1024,
    }, "disk: size less available, as the platform's"
    down = health_update(result(docker=DockerState.DOWN, ram=None)).changes()
    assert (down["container_count_running"], down["container_count_total"]) == (0, 0) and "used_ram_mb" not in down
    entry = history_entry(probe, assess(probe, T))
    assert entry["health"] == "healthy" and entry["load_avg_1m"] == 0.5
    assert (entry["ram_used_bytes"], entry["disk_used_bytes"]) == (1024**3, 5 * 1024**3)
    assert entry["disks"][0]["mount"] == "/" and entry["source"] == "health_checker"


def test_a_retried_message_for_the_same_slot_does_not_count_twice():
    first = plan_server(target(), refused(), Memory(), slot=20, t=T)
    again = plan_server(target(), refused(), Memory(1, 20), slot=20, t=T)
    assert of(first.changes, SetFailures) == [SetFailures("vps-1", 1, 20)] and of(again.changes, SetFailures) == []
    assert again.pending


def test_a_result_older_than_the_counted_slot_changes_nothing():
    p = plan_server(target(), refused(), Memory(1, 30), slot=29, t=T)
    assert p.changes == () and p.status is None


def test_no_write_when_the_platform_already_holds_a_newer_check():
    p = plan_server(target(NOW + timedelta(seconds=1)), result(), Memory(), slot=1, t=T)
    assert of(p.changes, RecordHealth) == []


def test_with_k_equal_one_the_first_failure_counts():
    p = plan_server(target(), result(docker=DockerState.DOWN), Memory(), slot=1, t=Thresholds(85, 95, 90, 95, 1))
    assert p.status is U and [c.incident_type for c in of(p.changes, OpenIncident)] == [DOCKER]


def test_plan_covers_checked_targets_only():
    plans = plan([target(), CheckTarget(handle="vps-2", host="10.0.0.2")], {"vps-1": result()}, {}, slot=1, t=T)
    assert [p.handle for p in plans] == ["vps-1"]


# --------------------------------------------------------------------------- properties


def simulate(t: CheckTarget, m: Memory, changes) -> tuple[CheckTarget, Memory]:
    """What the apply step does to the platform's records and to Redis, as pure data."""
    incidents = {k: list(v) for k, v in t.incidents.items()}
    last = t.last_health_check
    for c in changes:
        if isinstance(c, SetFailures):
            m = dataclasses.replace(m, failures=c.count, slot=c.slot)
        elif isinstance(c, RecordHealth):
            last = c.checked_at  # the platform keeps what it is sent
        elif isinstance(c, OpenIncident):
            incidents.setdefault(c.incident_type, []).append(1000 + sum(map(len, incidents.values())))
        elif isinstance(c, ResolveIncident):
            incidents[c.incident_type].remove(c.incident_id)
            if not incidents[c.incident_type]:
                del incidents[c.incident_type]
        elif isinstance(c, RequestRecovery):
            m = dataclasses.replace(m, recovery_cooling=True)
    return t.model_copy(update={"last_health_check": last, "incidents": incidents}), m


connection_kinds = st.sampled_from(
    [
        FindingKind.CONNECT_REFUSED,
        FindingKind.CONNECT_TIMEOUT,
        FindingKind.AUTH_FAILED,
        FindingKind.NETWORK_ERROR,
        FindingKind.HOST_KEY_MISMATCH,
        FindingKind.HOST_KEY_UNKNOWN,
    ]
)
answer_kinds = st.sampled_from(
    [
        FindingKind.COMMAND_TIMEOUT,
        FindingKind.UNPARSABLE_OUTPUT,
        FindingKind.MOUNT_MISSING,
        FindingKind.OUTPUT_TOO_LARGE,
        FindingKind.DOCKER_DENIED,
        FindingKind.COMMAND_FAILED,
    ]
)
issues = st.lists(
    st.builds(
        ContainerIssue,
        name=st.sampled_from(["web", "db"]),
        state=st.sampled_from(["running", "restarting", "dead"]),
        status=st.just("Up"),
    ),
    max_size=2,
)


@st.composite
def probe_results(draw):
    at = NOW + timedelta(seconds=draw(st.integers(-300, 300)))
    if not draw(st.booleans()):
        return result(connected=False, findings=[finding(draw(connection_kinds))], at=at)
    return result(
        findings=[finding(k) for k in draw(st.lists(answer_kinds, max_size=2))],
        disks=draw(st.lists(st.integers(0, 100), max_size=2)),
        docker=draw(st.sampled_from(DockerState)),
        issues=draw(issues),
        at=at,
        ram=draw(st.none() | st.integers(0, 100)),
    )


targets = st.builds(
    lambda offset, kinds, dupes, foreign: target(
        None if offset is None else NOW + timedelta(seconds=offset),
        {k: list(range(10 * i + 1, 10 * i + 2 + dupes)) for i, k in enumerate(kinds)},
        sorted(foreign),
    ),
    st.none() | st.integers(-600, 600),
    st.sets(st.sampled_from(HEALTH_INCIDENTS)),
    st.integers(0, 1),
    st.sets(st.sampled_from(HEALTH_INCIDENTS)),
)
memories = st.builds(Memory, st.integers(0, 5), st.none() | st.integers(95, 101), st.booleans())
thresholds = st.builds(
    lambda d, gap, r, k: Thresholds(d, min(100, d + gap), r, min(100, r + gap), k),
    st.integers(1, 100),
    st.integers(0, 20),
    st.integers(1, 100),
    st.integers(1, 4),
)


@settings(max_examples=800, deadline=None)
@given(t=targets, probe=probe_results(), m=memories, slot=st.integers(95, 101), th=thresholds)
def test_applying_a_plan_then_planning_again_changes_nothing(t, probe, m, slot, th):
    first = plan_server(t, probe, m, slot, th)
    t2, m2 = simulate(t, m, first.changes)
    second = plan_server(t2, probe, m2, slot, th)
    assert second.changes == ()
    # and the rules hold on the way
    for c in of(first.changes, OpenIncident):
        assert first.status is U and c.incident_type not in t.incidents and c.incident_type not in t.foreign_incidents
        assert c.details["opened_by"] == "scheduler"
    for c in of(first.changes, ResolveIncident):
        assert c.incident_id in t.incidents[c.incident_type], "only ours are resolved"
    if of(first.changes, RequestRecovery):
        assert first.status is U and not m.recovery_cooling and not first.assessment.host_key_in_question
    if of(first.changes, RecordHealth):
        assert probe.connected


@settings(max_examples=300, deadline=None)
@given(k=st.integers(1, 4), verdicts=st.lists(st.booleans(), min_size=1, max_size=12))
def test_unhealthy_exactly_after_k_consecutive_failures_and_one_incident_per_episode(k, verdicts):
    th = Thresholds(85, 95, 90, 95, k)
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


# --------------------------------------------------------------------------- leaving monitoring (issue 19)


def incident(id_: int, handle: str | None, kind=UNREACHABLE, ours=True, status="detected") -> Incident:
    return Incident(
        id=id_,
        server_handle=handle,
        incident_type=kind,
        status=status,
        details={"opened_by": "scheduler", "reason": "r"} if ours else {"reason": "theirs"},
        detected_at=NOW,
        created_at=NOW,
    )


@pytest.mark.parametrize(
    "state, reason",
    [
        (None, "server deleted"),
        (ServerState("missing", True), "server missing"),
        (ServerState("decommissioned", True), "server decommissioned"),
        (ServerState("reserved", False), "server reserved"),
        (ServerState("ready", False), "server unmanaged"),
        (ServerState("provisioning", True), None),
        (ServerState("error", True), None),
        (ServerState("maintenance", True), None),
    ],
)
def test_why_a_server_left_monitoring(state, reason):
    said = departure(state)
    assert (said is None) if reason is None else said.startswith(reason)


def test_the_schedulers_incidents_of_departed_servers_are_resolved_with_the_reason_and_no_one_elses():
    incidents = [
        incident(1, "vps-gone"),
        incident(2, "vps-gone", DISK),
        incident(3, "vps-gone", ours=False),
        incident(4, "vps-watched"),
        incident(5, "vps-busy"),
        incident(6, None, IncidentType.PROVIDER_API_UNAVAILABLE),
        incident(7, "vps-gone", IncidentType.PROVISIONING_FAILED),
        incident(8, "vps-later"),
    ]
    states = {"vps-gone": ServerState("decommissioned", True), "vps-busy": ServerState("provisioning", True)}
    changes = plan_departures(incidents, {"vps-watched"}, states)
    assert [(c.incident_id, c.reason) for c in changes] == [
        (1, "server decommissioned: no longer monitored"),
        (2, "server decommissioned: no longer monitored"),
    ]
    assert changes[0].details == {
        "opened_by": "scheduler",
        "reason": "r",
        "resolution": changes[0].reason,
        "resolved_by": "scheduler",
    }, "the details kept, the reason added"


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["vps-1", "vps-2", "vps-3"]),
            st.sampled_from(list(IncidentType)),
            st.booleans(),
            st.sampled_from(["detected", "recovering", "resolved"]),
        ),
        max_size=8,
    ),
    monitored=st.sets(st.sampled_from(["vps-1", "vps-2", "vps-3"])),
    states=st.dictionaries(
        st.sampled_from(["vps-1", "vps-2", "vps-3"]),
        st.none()
        | st.builds(
            ServerState, st.sampled_from(["ready", "missing", "reserved", "error", "decommissioned"]), st.booleans()
        ),
    ),
)
def test_departures_touch_only_our_active_health_incidents_of_servers_out_of_monitoring(rows, monitored, states):
    incidents = [incident(i, h, k, ours, s) for i, (h, k, ours, s) in enumerate(rows, start=1)]
    changes = plan_departures(incidents, monitored, states)
    by_id = {i.id: i for i in incidents}
    for c in changes:
        i = by_id[c.incident_id]
        assert i.opened_by_scheduler and i.active and i.incident_type in HEALTH_INCIDENTS
        assert i.server_handle not in monitored and departure(states[i.server_handle]) == c.reason is not None
    resolved = {c.incident_id for c in changes}
    remaining = [i for i in incidents if i.id not in resolved]
    assert plan_departures(remaining, monitored, states) == [], "applied, then planned again: nothing"
