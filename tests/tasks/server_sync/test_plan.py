"""server_sync's plan: the rules one by one, and as properties over random accounts. Plans are
applied with the task's own ``apply_plan`` against in-memory fakes (``fakes.py``)."""

from __future__ import annotations

import asyncio
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.adapters.provisioner.publisher import ProvisionerPublisher
from actors.tasks.server_sync.memory import SyncMemory
from actors.tasks.server_sync.plan import (
    PROVIDER_STATUSES,
    Allowlist,
    Memory,
    Observed,
    Rules,
    details_wanted,
    plan_sync,
)
from contracts import Keys
from contracts.platform import Server, ServerStatus
from tests.fake_platform import T0, FakePlatform
from tests.support import wait_until_async
from tests.tasks.server_sync.fakes import Cycle, details, item

SPECS = {"capacity_cpu": 2, "capacity_ram_mb": 4096, "capacity_disk_mb": 40960, "os_template": "debian-12-x86_64"}

ALL = Rules(Allowlist(everything=True))
NONE = Rules(Allowlist())


def run(coro):
    return asyncio.run(coro)


async def cooled(cycle: Cycle) -> None:
    """Returns once every cooldown the cycles wrote has expired in Redis (the event, not a guess at
    how long it takes)."""
    client = cycle.redis()
    await wait_until_async(lambda: _no_cooldown(client), timeout=5)


async def _no_cooldown(client) -> bool:
    return not await client.keys(Keys.provisioner_cooldown("*"))


def record(
    pid: int,
    status: ServerStatus = ServerStatus.READY,
    *,
    managed: bool = True,
    ip: str = "192.0.2.10",
    host: str | None = None,
    provider: str | None = "time4vps",
    **fields,
) -> Server:
    labels = {"provider_id": str(pid), **({"provider": provider} if provider else {})}
    return Server(
        handle=f"vps-{pid}",
        provider_id=str(pid),
        host=host or ip,
        public_ip=ip,
        labels=labels,
        is_managed=managed,
        status=status,
        created_at=T0,
        updated_at=T0,
        **{**SPECS, **fields},
    )


def platform_of(*records: Server) -> Cycle:
    return Cycle(FakePlatform({r.handle: r for r in records}))


# ---- the allowlist ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "manage_all", "manages_1", "manages_2"),
    [
        (None, False, False, False),
        ("", False, False, False),
        ("  ", False, False, False),
        ("", True, True, True),
        (None, True, True, True),
        ("1", False, True, False),
        ("1, 3,", False, True, False),
        ("001,2", False, True, True),
    ],
)
def test_the_allowlist_is_fail_closed(text, manage_all, manages_1, manages_2):
    allowlist = Allowlist.parse(text, manage_all)
    assert (allowlist.manages("1"), allowlist.manages("2")) == (manages_1, manages_2)


@pytest.mark.parametrize("text", ["all", "5;6", "-5", "0", "1e3", "١٢"])
def test_an_allowlist_that_is_not_positive_ids_is_refused(text):
    with pytest.raises(ValueError, match="Time4VPS server ids"):
        Allowlist.parse(text)


@pytest.mark.parametrize("text", ["*", " * ", "*,5"])
def test_a_star_is_refused_as_the_platform_refuses_it_and_the_error_says_what_to_set(text):
    with pytest.raises(ValueError, match="TIME4VPS_MANAGE_ALL=true"):
        Allowlist.parse(text)


def test_manage_all_with_a_list_is_refused_as_ambiguous():
    with pytest.raises(ValueError, match="leave TIME4VPS_MANAGED_SERVER_IDS empty"):
        Allowlist.parse("1,2", manage_all=True)


# ---- new servers -----------------------------------------------------------------------------------


def test_a_new_managed_server_is_pending_setup_labelled_and_announced_once_within_the_cooldown():
    cycle = Cycle()
    listing, provider = [item(7, ip="192.0.2.7")], {"7": details(cores=4, ram=8192, disk_mb=81920)}
    _, first = run(cycle(listing, provider, ALL))
    new = cycle.record(7)
    assert (new.handle, new.status, new.is_managed, new.host, new.public_ip) == (
        "vps-7",
        ServerStatus.PENDING_SETUP,
        True,
        "192.0.2.7",
        "192.0.2.7",
    )
    assert new.labels == {"provider": "time4vps", "provider_id": "7"} and new.provider_id == "7"
    assert (new.capacity_cpu, new.capacity_ram_mb, new.capacity_disk_mb, new.os_template) == (
        4,
        8192,
        81920,
        "debian-12-x86_64",
    )
    [created] = cycle.platform.creates
    assert "capacity_disk_mb" not in created.model_fields_set, "the platform ignores it on create"
    assert cycle.platform.patches == [("vps-7", {"capacity_disk_mb": 81920, "os_template": "debian-12-x86_64"})]
    assert (first.counters["creates"], first.counters["announced"]) == (1, 1)
    for _ in range(3):  # still waiting, but within its cooldown: nothing more
        _, again = run(cycle(listing, provider, ALL))
        assert cycle.platform.writes == 2 and not again.counters["announced"]
        assert again.counters["announce_cooling"] == 1
    assert run(cycle.announced()) == ["vps-7"]


def test_a_server_waiting_in_pending_setup_is_announced_again_after_its_cooldown_until_it_moves_on():
    cycle = Cycle(cooldown_s=0.05)
    listing, provider = [item(7)], {"7": details()}
    run(cycle(listing, provider, ALL))
    run(cooled(cycle))  # past the cooldown: the provisioner has not picked it up
    _, again = run(cycle(listing, provider, ALL))
    assert again.counters["announced"] == 1 and run(cycle.announced()) == ["vps-7", "vps-7"]
    cycle.platform.servers["vps-7"] = cycle.record(7).model_copy(update={"status": ServerStatus.PROVISIONING})
    run(cooled(cycle))
    _, moved = run(cycle(listing, provider, ALL))
    assert not moved.counters["announced"] and len(run(cycle.announced())) == 2


def test_a_waiting_server_someone_else_created_is_announced_and_an_unmanaged_one_is_not():
    cycle = platform_of(
        record(1, ServerStatus.PENDING_SETUP, provider=None),
        record(2, ServerStatus.PENDING_SETUP, managed=False).model_copy(
            update={"handle": "manual", "labels": {"provider": "hetzner"}, "provider_id": None}
        ),
    )
    _, counters = run(cycle([item(1)], {}, ALL))
    assert run(cycle.announced()) == ["vps-1"] and counters.counters["announced"] == 1


class FailingPublisher(ProvisionerPublisher):
    """Fails the first publish (Redis gone between the create and the publish)."""

    failures = 1

    async def publish(self, message, cooldown_s):
        if FailingPublisher.failures:
            FailingPublisher.failures -= 1
            raise ConnectionError("injected: Redis went away before the publish")
        return await super().publish(message, cooldown_s)


def test_a_fault_between_the_create_and_the_publish_ends_with_exactly_one_announcement_next_run():
    FailingPublisher.failures = 1
    cycle = Cycle(publisher=FailingPublisher)
    listing, provider = [item(7)], {"7": details()}
    with pytest.raises(ConnectionError):
        run(cycle(listing, provider, ALL))
    assert cycle.record(7).status is ServerStatus.PENDING_SETUP and run(cycle.announced()) == []
    _, second = run(cycle(listing, provider, ALL))
    assert second.counters["announced"] == 1 and not second.counters["creates"]
    for _ in range(2):
        run(cycle(listing, provider, ALL))
    assert run(cycle.announced()) == ["vps-7"], "exactly one, within the cooldown"


def test_a_create_whose_answer_was_lost_is_announced_by_the_next_run_and_not_created_again():
    cycle = Cycle()
    cycle.platform.lose_answers = 1
    listing, provider = [item(7)], {"7": details()}
    _, first = run(cycle(listing, provider, ALL))
    assert first.counters["records_failed"] == 1 and run(cycle.announced()) == []
    _, second = run(cycle(listing, provider, ALL))
    assert len(cycle.platform.creates) == 1 and second.counters["announced"] == 1
    assert run(cycle.announced()) == ["vps-7"]


def test_a_new_unmanaged_server_is_reserved_and_never_announced():
    cycle = Cycle()
    run(cycle([item(7)], {"7": details()}, NONE))
    assert (cycle.record(7).status, cycle.record(7).is_managed) == (ServerStatus.RESERVED, False)
    assert run(cycle.announced()) == []


def test_a_new_server_without_an_address_is_rejected_and_the_rest_go_on():
    cycle = Cycle()
    plan, counters = run(cycle([item(1, ip=None), item(2)], {}, ALL))
    assert plan.rejected == ("1",) and counters.counters["rejected"] == 1
    assert [r.provider_id for r in cycle.platform.servers.values()] == ["2"]


def test_an_existing_record_keeps_its_handle():
    cycle = platform_of(record(7).model_copy(update={"handle": "legacy-name"}))
    run(cycle([item(7, ip="192.0.2.99")], {}, ALL))
    assert list(cycle.platform.servers) == ["legacy-name"] and cycle.record(7).public_ip == "192.0.2.99"


# ---- drift -----------------------------------------------------------------------------------------


def test_an_ip_change_moves_public_ip_and_the_host_that_followed_it_in_one_patch():
    cycle = platform_of(record(1), record(2, host="10.0.0.2"))
    run(cycle([item(1, ip="192.0.2.50"), item(2, ip="192.0.2.51")], {}, ALL))
    assert cycle.platform.patches == [
        ("vps-1", {"public_ip": "192.0.2.50", "host": "192.0.2.50"}),
        ("vps-2", {"public_ip": "192.0.2.51"}),
    ]
    assert cycle.record(2).host == "10.0.0.2", "a host pointed elsewhere is the operator's"


def test_a_resize_patches_only_the_capacity_that_changed_and_an_unchanged_server_costs_nothing():
    cycle = platform_of(record(1), record(2))
    provider = {"1": details(cores=8, ram=16384, disk_mb=40960), "2": details()}
    _, counters = run(cycle([item(1), item(2)], provider, ALL))
    assert cycle.platform.patches == [("vps-1", {"capacity_cpu": 8, "capacity_ram_mb": 16384})]
    assert counters.counters["specs_changed"] == 1
    assert run(cycle([item(1), item(2)], provider, ALL))[0].empty


def test_a_record_without_the_provider_name_or_any_label_is_adopted_by_its_natural_key():
    unnamed = record(1, provider=None)  # as the platform's own sync writes it: labels.provider_id only
    bare = record(2).model_copy(update={"labels": {"team": "ops"}, "provider_id": None})  # made by hand
    cycle = platform_of(unnamed, bare)
    _, counters = run(cycle([item(1), item(2)], {}, ALL))
    assert cycle.platform.patches == [
        ("vps-1", {"labels": {"provider": "time4vps", "provider_id": "1"}}),
        ("vps-2", {"labels": {"team": "ops", "provider": "time4vps", "provider_id": "2"}}),
    ]
    assert not cycle.platform.creates and counters.counters["labelled"] == 2
    assert run(cycle([item(1), item(2)], {}, ALL))[0].empty


def test_an_unnamed_record_whose_id_is_not_a_time4vps_id_is_someone_elses_and_never_touched():
    """As found on the shared platform: another tool's records, labels.provider_id 'hc-ok-1' and no
    provider name. They are not ours: never marked missing, never relabelled."""
    theirs = record(1, provider=None).model_copy(
        update={"handle": "hc-ok-1", "labels": {"provider_id": "hc-ok-1", "ssh_port": 42022}, "provider_id": "hc-ok-1"}
    )
    cycle = platform_of(theirs)
    for _ in range(4):
        plan, counters = run(cycle([item(2)], {"2": details()}, Rules(Allowlist(everything=True), missing_after=1)))
        assert counters.counters["other_provider_records"] == 1
    assert cycle.platform.servers["hc-ok-1"] == theirs


def test_records_of_other_providers_are_never_touched():
    other = record(1, provider="hetzner", ip="198.51.100.1")
    cycle = platform_of(other)
    for _ in range(4):
        plan, counters = run(cycle([item(2)], {"2": details()}, Rules(Allowlist(everything=True), missing_after=1)))
        assert counters.counters["other_provider_records"] == 1
    assert cycle.platform.servers["vps-1"] == other and cycle.record(2).provider == "time4vps"


# ---- the provider's statuses -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider_status", "imposed"),
    [
        ("Suspended", ServerStatus.UNREACHABLE),
        ("Terminated", ServerStatus.DECOMMISSIONED),
        ("Cancelled", ServerStatus.DECOMMISSIONED),
        ("Pending", ServerStatus.DISCOVERED),
        ("fraud", ServerStatus.UNREACHABLE),
    ],
)
def test_a_provider_status_imposes_its_platform_status_and_active_gives_the_old_one_back(provider_status, imposed):
    assert PROVIDER_STATUSES[provider_status.lower()] is imposed
    cycle = platform_of(record(1, ServerStatus.IN_USE))
    run(cycle([item(1, synch="2026-01-05 09:00:00")], {"1": details(provider_status)}, ALL))
    assert cycle.record(1).status is imposed
    assert run(cycle([item(1, synch="2026-01-05 09:00:00")], {"1": details(provider_status)}, ALL))[0].empty
    _, back = run(cycle([item(1, synch="2026-01-05 10:00:00")], {"1": details("Active")}, ALL))
    assert cycle.record(1).status is ServerStatus.IN_USE
    assert run(cycle.announced()) == [], "a provisioned server is never announced again"


def test_an_unknown_provider_status_is_reported_and_leaves_the_status_alone():
    cycle = platform_of(record(1, ServerStatus.READY))
    plan, counters = run(cycle([item(1)], {"1": details("Hibernating", cores=4)}, ALL))
    assert plan.unknown_statuses == (("1", "Hibernating"),) and counters.counters["unknown_status"] == 1
    assert cycle.record(1).status is ServerStatus.READY and cycle.record(1).capacity_cpu == 4


# ---- absence ---------------------------------------------------------------------------------------


def test_missing_after_k_complete_listings_then_back_with_the_status_it_had():
    cycle = platform_of(record(1, ServerStatus.IN_USE), record(2))
    rules = Rules(Allowlist(everything=True), missing_after=3)
    for _ in range(2):
        run(cycle([item(2)], {}, rules))
    run(cycle([item(2)], {}, rules, complete=False))  # an incomplete listing counts nothing
    assert cycle.record(1).status is ServerStatus.IN_USE
    _, gone = run(cycle([item(2)], {}, rules))
    assert cycle.record(1).status is ServerStatus.MISSING and gone.counters["missing"] == 1
    for _ in range(2):
        plan, _ = run(cycle([item(2)], {}, rules))
        assert plan.empty, "missing is said once"
    _, back = run(cycle([item(1), item(2)], {"1": details()}, rules))
    assert cycle.record(1).status is ServerStatus.IN_USE and back.counters["restored"] == 1
    assert run(cycle([item(1), item(2)], {}, rules))[0].empty


def test_listing_a_server_resets_its_absence_count():
    cycle = platform_of(record(1))
    rules = Rules(Allowlist(everything=True), missing_after=2)
    run(cycle([], {}, rules))
    run(cycle([item(1)], {}, rules))
    run(cycle([], {}, rules))
    assert cycle.record(1).status is ServerStatus.READY


def test_a_decommissioned_server_that_leaves_the_listing_is_not_missing():
    cycle = platform_of(record(1, ServerStatus.DECOMMISSIONED))
    for _ in range(4):
        assert run(cycle([], {}, Rules(Allowlist(everything=True), missing_after=1)))[0].empty


# ---- the allowlist changes -------------------------------------------------------------------------


def test_taken_off_the_allowlist_a_server_is_unmanaged_and_nothing_more_is_published():
    cycle = Cycle()
    run(cycle([item(1), item(2)], {"1": details(), "2": details()}, ALL))
    cycle.platform.servers["vps-2"] = cycle.record(2).model_copy(update={"status": ServerStatus.READY})  # provisioned
    _, counters = run(cycle([item(1), item(2)], {}, NONE))
    assert (cycle.record(1).status, cycle.record(1).is_managed) == (ServerStatus.RESERVED, False)
    assert (cycle.record(2).status, cycle.record(2).is_managed) == (ServerStatus.READY, False)
    assert counters.counters["unmanaged"] == 2 and not counters.counters["announced"]
    assert sorted(run(cycle.announced())) == ["vps-1", "vps-2"], "only the first announcements"


def test_put_on_the_allowlist_a_never_provisioned_server_is_pending_setup_and_announced_once():
    cycle = Cycle()
    run(cycle([item(1), item(2)], {"1": details(), "2": details()}, NONE))
    rules = Rules(Allowlist(frozenset({"1"})))
    _, counters = run(cycle([item(1), item(2)], {}, rules))
    assert (cycle.record(1).status, cycle.record(1).is_managed) == (ServerStatus.PENDING_SETUP, True)
    assert cycle.record(2).status is ServerStatus.RESERVED
    assert (counters.counters["managed"], counters.counters["announced"]) == (1, 1)
    assert run(cycle([item(1), item(2)], {}, rules))[0].empty
    assert run(cycle.announced()) == ["vps-1"]


# ---- details ---------------------------------------------------------------------------------------


def test_details_are_wanted_for_new_missing_and_changed_servers_only_new_first():
    records = [record(1), record(2), record(3, ServerStatus.MISSING)]
    listing = [item(2, synch="2026-01-05 10:00:00"), item(1), item(3), item(4), item(4)]
    seen = {"1": "2026-01-05T09:00:00", "2": "2026-01-05T09:00:00", "3": "2026-01-05T09:00:00"}
    assert details_wanted(listing, records, seen) == ["4", "2", "3"]


def test_details_beyond_the_cap_follow_at_later_runs_and_a_refused_write_is_asked_again():
    cycle = Cycle(FakePlatform(refuse={"vps-3"}))
    listing = [item(n) for n in range(1, 6)]
    provider = {str(n): details(cores=n) for n in range(1, 6)}
    run(cycle(listing, provider, ALL, max_details=2))
    assert [cycle.record(n).capacity_cpu for n in (1, 2, 4, 5)] == [1, 2, 1, 1], "the platform's default"
    observed = run(cycle.observe(listing, provider, max_details=2))
    assert list(observed.details) == ["3", "4"], "a server without a record (refused) first"
    run(cycle(listing, provider, ALL, max_details=2))
    assert list(run(cycle.observe(listing, provider)).details) == ["3", "5"]
    cycle.platform.refuse.clear()
    run(cycle(listing, provider, ALL, max_details=2))
    assert [cycle.record(n).capacity_cpu for n in range(1, 6)] == [1, 2, 3, 4, 5]
    assert list(run(cycle.observe(listing, provider)).details) == []


# ---- properties ------------------------------------------------------------------------------------

STATUSES = st.sampled_from(list(ServerStatus))
PROVIDER_STATUS = st.sampled_from(["Active", "Suspended", "Terminated", "Pending", "Hibernating", None])
IPS = st.sampled_from(["192.0.2.1", "192.0.2.2", "2001:db8::1", None])


@st.composite
def accounts(draw):
    """(listing, details, records, memory, rules): a random account against random records."""
    pids = draw(st.lists(st.integers(1, 9), max_size=7, unique=True))
    listed = draw(st.lists(st.sampled_from(pids), unique=True)) if pids else []
    listing = [
        item(p, ip=draw(IPS), synch=draw(st.sampled_from(["2026-01-05 09:00:00", "2026-01-06 09:00:00"])))
        for p in listed
    ]
    provider = {}
    for p in listed:
        if draw(st.booleans()):
            provider[str(p)] = details(draw(PROVIDER_STATUS) or "Active", cores=draw(st.integers(1, 4)))
    records = [
        record(
            p,
            draw(STATUSES),
            managed=draw(st.booleans()),
            ip=draw(IPS) or "192.0.2.9",
            host=draw(st.sampled_from([None, "10.0.0.1"])),
        )
        for p in pids
        if draw(st.booleans())
    ]
    records.append(record(99, provider="other"))
    memory = Memory(
        misses={str(p): draw(st.integers(1, 3)) for p in pids if draw(st.booleans())},
        held={str(p): draw(STATUSES) for p in pids if draw(st.booleans())},
    )
    rules = Rules(
        draw(
            st.sampled_from([Allowlist(), Allowlist(everything=True), Allowlist(frozenset(str(p) for p in pids[::2]))])
        ),
        missing_after=draw(st.integers(1, 3)),
    )
    return listing, provider, records, memory, draw(st.booleans()), rules


@settings(
    max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", 150)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(accounts())
def test_apply_then_plan_again_changes_nothing(account):
    listing, provider, records, memory, complete, rules = account

    async def go():
        cycle = Cycle(FakePlatform({r.handle: r for r in records}))
        await SyncMemory(cycle.redis()).write({}, memory.misses, memory.held)
        observed = await cycle.observe(listing, provider, complete=complete)
        await cycle.apply(plan_sync(observed, rules))
        again = await cycle.replan(observed, rules)
        listed_ids = {str(i.server_id) for i in listing}
        # Planning again changes nothing for a listed server; an absent one may only count one more
        # complete listing without it (each plan is one more listing) ...
        assert not again.creates and not again.seen and not (set(again.held) & listed_ids), again
        assert all(u.events == ("missing",) for u in again.updates), again
        # ... until the counts reach their end: then the same observation plans nothing at all.
        for _ in range(rules.missing_after):
            await cycle.apply(again)
            again = await cycle.replan(observed, rules)
        assert again.empty, again
        for server in cycle.platform.servers.values():
            if server.provider != "time4vps":
                assert server == record(99, provider="other")
                continue
            assert server.provider_id and server.labels["provider_id"] == server.provider_id
            listed = server.provider_id in {str(i.server_id) for i in listing}
            if listed:
                assert server.is_managed == rules.allowlist.manages(server.provider_id)
                assert server.status is not ServerStatus.MISSING
            if not server.is_managed and listed:
                assert server.status is not ServerStatus.PENDING_SETUP
        announced = await cycle.announced()
        waiting = {
            r.handle for r in cycle.platform.servers.values() if r.is_managed and r.status is ServerStatus.PENDING_SETUP
        }
        assert len(announced) == len(set(announced)), "once each within the cooldown"
        assert waiting <= set(announced), "every server left waiting is announced"
        for handle in announced:  # and nothing else (a server may have moved on since)
            assert handle in waiting or any(r.handle == handle and r.is_managed for r in records), (handle, waiting)

    run(go())


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sets(st.integers(1, 5)), st.sampled_from(["Active", "Suspended", "Hibernating"]), st.booleans()),
        min_size=1,
        max_size=6,
    ),
    st.booleans(),
)
def test_over_any_history_every_cycle_announces_exactly_the_servers_left_waiting_and_not_cooling(history, cooling):
    """Level-triggered: with no cooldown between cycles, each cycle announces every managed server it
    leaves in pending_setup; with one longer than the history, each such server exactly once."""

    async def go():
        cycle = Cycle(cooldown_s=3600 if cooling else 0.001)
        rules = Rules(Allowlist(frozenset({"1", "2", "3"})), missing_after=2)
        expected: list[str] = []
        for present, provider_status, fresh in history:
            listing = [
                item(p, synch="2026-01-06 09:00:00" if fresh else "2026-01-05 09:00:00") for p in sorted(present)
            ]
            await cycle(listing, {str(p): details(provider_status) for p in present}, rules)
            waiting = sorted(
                r.handle
                for r in cycle.platform.servers.values()
                if r.is_managed and r.status is ServerStatus.PENDING_SETUP
            )
            expected += [h for h in waiting if not (cooling and h in expected)]
            assert all(
                r.status is not ServerStatus.PENDING_SETUP
                for r in cycle.platform.servers.values()
                if not rules.allowlist.manages(r.provider_id)
            )
            if not cooling:
                await cooled(cycle)
        assert await cycle.announced() == expected

    run(go())


def test_an_observation_without_records_or_servers_plans_nothing():
    assert plan_sync(Observed([], True, []), ALL).empty
