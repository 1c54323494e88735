"""server_sync end to end: tick -> worker -> actor -> the Time4VPS stand-in and the platform API on
loopback, configured the production way (the environment). What is checked is what an operator
sees: the Server records, provisioner:queue, incidents, run records and their cost per cycle."""

from __future__ import annotations

import json
import threading

import pytest

from actors.tasks import TASKS
from actors.tasks.server_sync import SPEC
from contracts import RunOutcome
from tests.support import running_worker, runs, wait_until
from tests.tasks.server_sync.stack import KEY, PASSWORD, TASK
from ticker.loop import Ticker
from ticker.slots import Interval


def test_the_task_is_registered():
    assert TASKS[TASK] is SPEC


def test_the_account_is_kept_in_sync_through_its_changes_at_zero_steady_state_cost(stack, settings, rendered_logs):
    world = stack.world
    hostile = "ubuntu'; DROP TABLE servers;-- $(reboot) `id` <b>\u202e"
    world.server_list()[6].os = hostile  # data, never a command: stored verbatim
    world.server_list()[7].label = "<script>alert(1)</script> ; rm -rf / 🙂\u200b"
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps()):
        cold, cost = stack.cycle()
        assert cold.outcome is RunOutcome.SUCCEEDED and cold.counters["creates"] == 12
        assert cost == {"list": 1, "details": 12, "writes": 24}, "a create, and the fields it cannot set"
        records = stack.servers()
        for server in world.server_list():
            record = records[str(server.server_id)]
            assert (record["handle"], record["status"], record["is_managed"]) == (
                f"vps-{server.server_id}",
                "pending_setup",
                True,
            )
            assert record["labels"] == {"provider": "time4vps", "provider_id": str(server.server_id)}
            assert (record["public_ip"], record["host"]) == (server.public_ip, server.public_ip)
            assert (record["capacity_cpu"], record["capacity_ram_mb"], record["capacity_disk_mb"]) == (
                server.cpu_cores,
                server.ram_mb,
                server.disk_mb,
            )
            assert record["os_template"] == (server.os or None)
        assert sorted(stack.announced()) == sorted(f"vps-{s}" for s in world.servers)
        assert records[str(world.server_list()[6].server_id)]["os_template"] == hostile

        steady, cost = stack.cycle()
        assert cost == {"list": 1, "details": 0, "writes": 0}, "an unchanged account costs one list request"

        first, second, third = world.server_list()[:3]
        added = world.add_server()
        world.change_server_ip(first.server_id, "203.0.113.200")
        world.resize_server(second.server_id, cpu_cores=16, ram_mb=65536, disk_mb=327680)
        world.remove_server(third.server_id)
        changed, cost = stack.cycle()
        assert cost == {"list": 1, "details": 3, "writes": 4}, "details of the new and the changed servers only"
        records = stack.servers()
        assert records[str(added.server_id)]["status"] == "pending_setup"
        assert (records[str(first.server_id)]["public_ip"], records[str(first.server_id)]["host"]) == (
            "203.0.113.200",
            "203.0.113.200",
        )
        assert (records[str(second.server_id)]["capacity_cpu"], records[str(second.server_id)]["capacity_disk_mb"]) == (
            16,
            327680,
        )
        assert records[str(third.server_id)]["status"] == "pending_setup", "one listing without it: not yet"
        assert stack.announced().count(f"vps-{added.server_id}") == 1

        gone, cost = stack.cycle()  # the second complete listing without it (TIME4VPS_MISSING_AFTER=2)
        assert stack.servers()[str(third.server_id)]["status"] == "missing" and gone.counters["missing"] == 1
        assert cost["writes"] == 1 and stack.cycle()[1]["writes"] == 0, "missing is said once"

        world.servers[third.server_id] = third  # back, as it was
        back, cost = stack.cycle()
        assert stack.servers()[str(third.server_id)]["status"] == "pending_setup" and back.counters["restored"] == 1

        final, cost = stack.cycle()
        assert (final.outcome, cost) == (RunOutcome.SUCCEEDED, {"list": 1, "details": 0, "writes": 0})
    assert len(stack.servers()) == 13
    assert len(stack.announced()) == 13, "each waiting server once within the cooldown"
    lines = [json.loads(line) for line in rendered_logs().splitlines() if line.startswith("{")]
    alerts = [line for line in lines if line["event"] == "server_sync.server_missing"]
    assert [(a["handle"], a["alert"], a["level"], a["task"]) for a in alerts] == [
        (f"vps-{third.server_id}", True, "error", "server_sync")
    ]
    everything = rendered_logs()
    assert PASSWORD not in everything and KEY not in everything, "no secret in any log line"


def test_allowlist_changes_both_ways(stack, settings, monkeypatch):
    one, two, three = (s.server_id for s in stack.world.server_list()[:3])
    monkeypatch.delenv("TIME4VPS_MANAGE_ALL")
    monkeypatch.setenv("TIME4VPS_MANAGED_SERVER_IDS", f"{one},{two}")
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps()):
        stack.cycle()
    records = stack.servers()
    assert {pid for pid, r in records.items() if r["is_managed"]} == {str(one), str(two)}
    assert {r["status"] for pid, r in records.items() if not r["is_managed"]} == {"reserved"}
    assert sorted(stack.announced()) == sorted([f"vps-{one}", f"vps-{two}"])

    # the operator changes the list (a config change restarts the workers): two leaves, three joins
    monkeypatch.setenv("TIME4VPS_MANAGED_SERVER_IDS", f"{one}, {three}")
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps()):
        record, cost = stack.cycle()
        assert (record.counters["managed"], record.counters["unmanaged"], cost["writes"]) == (1, 1, 2)
        assert record.counters["announced"] == 1 and record.counters["announce_cooling"] == 1
        assert stack.cycle()[1]["writes"] == 0
    records = stack.servers()
    assert (records[str(two)]["status"], records[str(two)]["is_managed"]) == ("reserved", False)
    assert (records[str(three)]["status"], records[str(three)]["is_managed"]) == ("pending_setup", True)
    assert sorted(stack.announced()) == sorted([f"vps-{one}", f"vps-{two}", f"vps-{three}"])

    monkeypatch.setenv("TIME4VPS_MANAGED_SERVER_IDS", "")  # unset or empty: fail-closed, manages none
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps()):
        stack.cycle()
    assert not any(r["is_managed"] for r in stack.servers().values()) and len(stack.announced()) == 3


def test_a_create_whose_answer_is_lost_after_it_committed_makes_one_record_announced_once(stack, settings):
    """The platform commits each create, then its answer is lost (504): the client looks the handle
    up before posting again, and the run announces what the platform holds."""
    stack.platform.faults.update(lost_rate=1.0, methods="POST")
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps()):
        record, _ = stack.cycle()
        assert stack.platform.counters.faults["lost"] == 12
        assert stack.platform.counters.requests["POST /api/servers/"] == 12, "no create posted twice"
        assert record.outcome is RunOutcome.SUCCEEDED and record.counters["creates"] == 12
        stack.platform.faults.update(lost_rate=0.0)
        again, cost = stack.cycle()
    assert len(stack.platform.store.list_servers()) == 12 and len(stack.servers()) == 12
    assert sorted(stack.announced()) == sorted(f"vps-{s}" for s in stack.world.servers)
    assert cost["writes"] == 0 and not again.counters["announced"]


@pytest.mark.slow
def test_an_outage_opens_one_incident_changes_nothing_and_its_end_resolves_it(stack, settings):
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps()):
        stack.cycle()
        before = stack.servers()
        stack.world.change_server_ip(stack.world.server_list()[0].server_id, "203.0.113.9")
        stack.time4vps.faults.update(error_rate=1.0)
        for _ in range(3):
            failed, cost = stack.cycle()
            assert failed.outcome is RunOutcome.FAILED and "Time4VPS unavailable" in failed.error
            assert cost["writes"] == 0
        assert stack.servers() == before, "no Server record changes during an outage"
        [incident] = stack.incidents()
        assert incident["server_handle"] is None and incident["details"]["reason"] == "unavailable"

        stack.time4vps.faults.update(error_rate=0.0)
        ok, cost = stack.cycle()
        assert ok.outcome is RunOutcome.SUCCEEDED and ok.counters["outages_resolved"] == 1
        assert stack.incidents() == [] and len(stack.incidents(active=False)) == 1
        assert cost["writes"] == 1, "the change made during the outage, once it ended"


def test_refused_credentials_open_the_incident_with_the_reason_and_are_not_retried(stack, settings, captured_logs):
    stack.time4vps.ip_allowed = False
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps()):
        record, cost = stack.cycle()
    assert record.outcome is RunOutcome.FAILED and "allow this host's outgoing IP" in record.error
    assert cost == {"list": 1, "details": 0, "writes": 0}, "a configuration error is not retried"
    [incident] = stack.incidents()
    assert incident["details"]["reason"] == "ipnotallowed" and stack.servers() == {}
    [line] = [e for e in captured_logs if e["event"] == "server_sync.credentials_refused"]
    assert line["log_level"] == "error" and "Time4VPS client area" in line["fix"]


def test_the_real_ticker_drives_the_sync(stack, settings):
    ticker = Ticker(stack.client, {TASK: Interval(1)}, release="e2e")
    thread = threading.Thread(target=ticker.run, daemon=True)
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps()):
        thread.start()
        try:
            wait_until(
                lambda: len([r for r in runs(stack.client, TASK) if r.outcome is RunOutcome.SUCCEEDED]) >= 3, timeout=20
            )
        finally:
            ticker.stop.set()
            thread.join(5)
    done = [r for r in runs(stack.client, TASK) if r.outcome is RunOutcome.SUCCEEDED]
    assert done[0].counters["creates"] == 12 and len(stack.servers()) == 12
    assert all(r.counters["list_requests"] == 1 and not r.counters.get("details_requests") for r in done[1:])
