"""Injected faults, then convergence: 20 % of the Time4VPS stand-in's and the platform API's answers
fail (503s and bodies cut short) for 5 cycles while the account changes, then none. Within 2 clean
cycles the records match the world, the platform's store holds no invalid row, and the next cycle
writes nothing.

``cycles_with_faults`` is written so that a shared chaos harness can take it over: N cycles with
faults on, then clean cycles, then the records checked against the world and invalid rows counted.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from pydantic import ValidationError

from actors.tasks.server_sync import SPEC
from contracts import RunOutcome
from contracts.platform import Server

from tests.support import running_worker
from tests.tasks.server_sync.stack import Stack


@dataclass
class Convergence:
    outcomes: list[RunOutcome]
    #: after each clean cycle: how many world servers' records differ from the world
    differences: list[int]
    invalid_rows: int
    writes_after: int  # writes of one more cycle once converged


def differences(stack: Stack, removed: set[int]) -> int:
    """World servers whose record is absent or differs; removed servers whose record is not ``missing``."""
    records, wrong = stack.records(), 0
    for server in stack.world.server_list():
        record = records.get(str(server.server_id))
        wanted = {"public_ip": server.public_ip, "host": server.public_ip, "status": "pending_setup",
                  "is_managed": True, "specs": {"cpu_cores": server.cpu_cores, "ram_mb": server.ram_mb,
                                                "disk_gb": server.disk_mb // 1024, "os": server.os}}
        wrong += record is None or any(record[k] != v for k, v in wanted.items())
    wrong += sum(records.get(str(pid), {}).get("status") != "missing" for pid in removed)
    return wrong


def invalid_rows(stack: Stack) -> int:
    """Rows of the platform's store that are not a valid ``Server``."""
    bad = 0
    for row in stack.platform.store.execute_sql("SELECT * FROM servers"):
        try:
            Server.model_validate(stack.platform.store.get_server(row["handle"]))
        except ValidationError:
            bad += 1
    return bad


def cycles_with_faults(stack: Stack, *, faulty: int, clean: int, rate: float,
                       change: Callable[[int], None] = lambda cycle: None,
                       removed: set[int] = frozenset()) -> Convergence:
    apps = (stack.time4vps, stack.platform)
    outcomes = []
    for number in range(faulty):
        for app in apps:  # half the faults refuse to answer, half answer a body cut short
            app.faults.update(error_rate=rate / 2, malformed_rate=rate / 2)
        change(number)
        outcomes.append(stack.cycle()[0].outcome)
    for app in apps:
        app.faults.update(error_rate=0.0, malformed_rate=0.0)
    found = []
    for _ in range(clean):
        outcomes.append(stack.cycle()[0].outcome)
        found.append(differences(stack, set(removed)))
    return Convergence(outcomes, found, invalid_rows(stack), stack.cycle()[1]["writes"])


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_twenty_percent_faults_for_five_cycles_then_two_clean_cycles_converge(stack, settings, seed):
    world, rng = stack.world, random.Random(seed)
    for app in (stack.time4vps, stack.platform):
        app.faults.update(seed=seed)  # the faults land on the same requests every time
    servers = world.server_list()
    removed = {servers[-1].server_id}

    def change(cycle: int) -> None:
        if cycle == 0:
            world.remove_server(servers[-1].server_id)
        world.add_server()
        target = rng.choice(world.server_list())
        world.change_server_ip(target.server_id, f"203.0.113.{100 + cycle}")
        world.resize_server(rng.choice(world.server_list()).server_id, cpu_cores=8, ram_mb=16384, disk_mb=163840)

    with running_worker(stack.client, [SPEC], settings, deps=stack.deps()):
        assert stack.cycle()[0].outcome is RunOutcome.SUCCEEDED  # the account as it was, synced
        result = cycles_with_faults(stack, faulty=5, clean=2, rate=0.2, change=change, removed=removed)
    assert result.differences[-1] == 0, result
    assert result.invalid_rows == 0 and result.writes_after == 0, result
    assert result.outcomes[-2:] == [RunOutcome.SUCCEEDED] * 2
    assert sum(stack.time4vps.counters.faults.values()) and sum(stack.platform.counters.faults.values()), \
        "faults were injected on both sides"
