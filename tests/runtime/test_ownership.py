"""Rendezvous ownership (actors.runtime.ownership): even shares, minimal movement, one answer everywhere."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.runtime.ownership import assign, owner_of

SERVERS = [f"vps-{i}" for i in range(10_000)]
WORKERS = [f"worker-host-{i}:{1000 + i}:{i:06x}" for i in range(4)]


def test_two_and_four_workers_share_a_fleet_evenly():
    for count in (2, 4):
        shares = [len(s) for s in assign(SERVERS, WORKERS[:count]).values()]
        assert sum(shares) == len(SERVERS)
        assert max(shares) <= 1.2 * min(shares), shares


def test_a_worker_leaving_moves_only_its_own_servers_spread_over_the_others():
    before = assign(SERVERS, WORKERS)
    gone = WORKERS[1]
    after = assign(SERVERS, [w for w in WORKERS if w != gone])
    for worker in after:
        assert set(before[worker]) <= set(after[worker])  # survivors keep all they had
    moved = {server: w for w, servers in after.items() for server in servers if server in set(before[gone])}
    assert len(moved) == len(before[gone])
    taken = [sum(1 for w in moved.values() if w == worker) for worker in after]
    assert max(taken) <= 1.3 * min(taken)


def test_a_worker_joining_takes_about_a_fair_share_from_each():
    before = assign(SERVERS, WORKERS[:3])
    after = assign(SERVERS, WORKERS)
    joined = set(after[WORKERS[3]])
    assert 0.8 * len(SERVERS) / 4 <= len(joined) <= 1.2 * len(SERVERS) / 4
    for worker in WORKERS[:3]:
        assert set(after[worker]) == set(before[worker]) - joined  # nothing moved between stayers


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=6, unique=True), st.text(max_size=30))
def test_the_owner_does_not_depend_on_the_order_of_the_live_set(owners, item):
    assert owner_of(item, owners) == owner_of(item, list(reversed(owners)))
    assert item in assign([item], owners)[owner_of(item, owners)]


def test_another_process_computes_the_same_owners():
    code = (
        "from actors.runtime.ownership import owner_of;"
        f"print(','.join(owner_of(f'vps-{{i}}', {WORKERS!r}) for i in range(200)))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
        cwd=".",
    )
    assert other.stdout.strip() == ",".join(owner_of(f"vps-{i}", WORKERS) for i in range(200))
