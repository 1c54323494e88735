"""server_sync benchmark: what a sync cycle costs on a 1,000-server Time4VPS account, beside the naive way.

All three run in this process, each against its own copy of the same sandbox world (same seed, same
mutations), its own Time4VPS stand-in and its own platform API, all on loopback:
- ours: the real task function (``run_server_sync``: the list, details only for new and changed
  servers, at most ``TIME4VPS_MAX_DETAILS_PER_RUN`` (default 100) per run, pure plan, diffed writes)
  with a real task lock, on a real Redis (``REDIS_URL`` if set, else an embedded redis-server; only
  this run's keys are touched, and removed afterwards);
- change-only: the list and the details of every server every cycle, but only the fields that
  differ written (change-only / ours isolates **details only on change**);
- naive: the list, the details of every server and every record written in full, every cycle
  (naive / change-only isolates **diffed writes**).

Phases: a cold sync (empty platform; ours reads the details of 100 servers per run, so its first
cycle creates every record and the next 9 fill in the capacity of the rest: shown summed on their own
line; a create whose details are known is followed by one update for what the platform ignores on
create, ``capacity_disk_mb`` and ``os_template``, for every contender), a steady-state cycle (nothing
changed), and a cycle after 10 servers changed (5 new IPs, 5 resizes). Figures: Time4VPS list and
details requests, platform API writes, wall time.

    .venv/bin/python bench/server_sync.py [--servers 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import redis
import redis.asyncio as aioredis
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kit import bench_redis, machine, ratio, run_task_once  # noqa: E402  (bench/kit.py)

from actors.adapters.platform.client import PlatformClient  # noqa: E402
from actors.adapters.time4vps.client import Time4VpsClient  # noqa: E402
from actors.adapters.time4vps.settings import Time4VpsSettings  # noqa: E402
from actors.tasks.deps import Dependencies  # noqa: E402
from actors.tasks.server_sync.plan import labels_for, specs_of  # noqa: E402
from actors.tasks.server_sync.settings import ServerSyncSettings  # noqa: E402
from actors.tasks.server_sync.task import run_server_sync  # noqa: E402
from contracts import PROVISIONER_STREAM, Keys, TaskName  # noqa: E402
from contracts.platform import ServerCreate, ServerStatus, ServerUpdate, server_handle  # noqa: E402
from process.logs import configure_logging  # noqa: E402
from process.settings import Settings
from sandbox.http import ServedApp  # noqa: E402
from sandbox.platform.api import create_app  # noqa: E402
from sandbox.time4vps.app import time4vps_app  # noqa: E402
from sandbox.world import World  # noqa: E402

USER, PASSWORD, KEY = "bench@example.test", "bench-t4v-password", "bench-internal-key"
LIST, DETAILS = "GET /api/server", "GET /api/server/{server_id}"


class Side:
    """One approach's world, Time4VPS stand-in and platform API, and its cost counters."""

    def __init__(self, servers: int):
        self.world = World.generate(seed=42, repos=0, servers=servers)
        self.time4vps, self.platform = time4vps_app(self.world, USER, PASSWORD), create_app(api_key=KEY)
        self.served = [ServedApp(self.time4vps).start(), ServedApp(self.platform).start()]
        self.settings = Time4VpsSettings(
            time4vps_api_url=f"{self.served[0].url}/api", time4vps_username=USER, time4vps_password=SecretStr(PASSWORD)
        )
        self.platform_url = self.served[1].url

    def snapshot(self) -> tuple[int, int, int]:
        requests = self.time4vps.counters.requests
        writes = sum(n for route, n in self.platform.counters.requests.items() if not route.startswith("GET"))
        return requests[LIST], requests[DETAILS], writes

    def mutate(self) -> None:
        """The same 10 changes on either side (the worlds are identical)."""
        servers = sorted(self.world.server_list(), key=lambda s: s.server_id)
        picks = servers[len(servers) // 20 :: len(servers) // 10][:10]
        for n, server in enumerate(picks[:5]):
            self.world.change_server_ip(server.server_id, f"203.0.113.{200 + n}")
        for server in picks[5:]:
            self.world.resize_server(server.server_id, cpu_cores=16, ram_mb=65536, disk_mb=327680)

    def stop(self) -> None:
        for served in self.served:
            served.stop()


# ---- naive: everything, every cycle ----------------------------------------------------------------------


async def peer_cycle(side: Side, client: redis.Redis, *, every_record: bool) -> None:
    """The list and every server's details, every cycle; then every record written in full (naive),
    or only the fields that differ (change-only)."""
    time4vps = Time4VpsClient(side.settings)
    session = time4vps.session(_async_like(client))
    listing = await session.list_servers()
    details = {s.server_id: await session.server_details(s.server_id) for s in listing.servers}
    platform = PlatformClient(side.platform_url, SecretStr(KEY))
    async with platform:
        known = {s.provider_id: s for s in await platform.list_servers()}
        for server in listing.servers:
            pid, found = str(server.server_id), details[server.server_id]
            wanted = {"host": server.ip, "public_ip": server.ip, **(specs_of(found) if found else {})}
            record = known.get(pid)
            if record is None:
                at_create = {k: v for k, v in wanted.items() if k not in ("capacity_disk_mb", "os_template")}
                await platform.create_server(
                    ServerCreate(
                        handle=server_handle(pid),
                        is_managed=True,
                        status=ServerStatus.PENDING_SETUP,
                        labels=labels_for(None, pid),
                        **at_create,
                    )
                )
                if after := {k: v for k, v in wanted.items() if k not in at_create}:
                    await platform.update_server(server_handle(pid), ServerUpdate(**after))
            elif every_record:
                await platform.update_server(
                    record.handle,
                    ServerUpdate(is_managed=True, status=record.status, labels=labels_for(record, pid), **wanted),
                )
            elif changed := {k: v for k, v in wanted.items() if getattr(record, k) != v}:
                await platform.update_server(record.handle, ServerUpdate(**changed))
    await time4vps.aclose()


def _async_like(client: redis.Redis) -> aioredis.Redis:
    kwargs = client.connection_pool.connection_kwargs
    return aioredis.Redis(host=kwargs.get("host", "127.0.0.1"), port=kwargs.get("port", 6379), db=kwargs.get("db", 0))


# ---- the run ---------------------------------------------------------------------------------------------


def measure(side: Side, cycle) -> dict:
    before, started = side.snapshot(), time.perf_counter()
    cycle()
    after = side.snapshot()
    return {
        "list": after[0] - before[0],
        "details": after[1] - before[1],
        "writes": after[2] - before[2],
        "seconds": time.perf_counter() - started,
    }


def summed(rows: list[dict]) -> dict:
    return {key: sum(row[key] for row in rows) for key in ("list", "details", "writes", "seconds")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3, help="whole measurements on fresh worlds; times are medians")
    args = parser.parse_args()
    configure_logging("console", "CRITICAL")
    print(f"server_sync benchmark: {machine()}", flush=True)
    with bench_redis() as (url, client, redis_kind):
        runs = [measure_all(args.servers, url, client) for _ in range(args.runs)]
    counts = [
        [{k: v for k, v in side.items() if k != "seconds"} for _, sides, _ in rows for side in sides.values()]
        for rows in runs
    ]
    assert all(c == counts[0] for c in counts), "every run makes the same requests and writes"
    report(runs, args.servers, redis_kind)


def measure_all(servers: int, url: str, client: redis.Redis) -> list:
    """One measurement of every phase on fresh worlds: [(phase, {contender: figures}, our counters)]."""
    lock_name = f"server_sync-bench-{os.getpid()}"
    sides = {name: Side(servers) for name in ("ours", "change-only", "naive")}
    ours = sides["ours"]
    deps = Dependencies(
        Settings(redis_url=url),
        client,
        platform=PlatformClient(ours.platform_url, SecretStr(KEY)),
        time4vps=Time4VpsClient(ours.settings),
        settings=(ServerSyncSettings(time4vps_manage_all=True),),
    )
    rows, slot = [], 0

    def ours_once(counters: dict) -> dict:
        nonlocal slot
        slot += 1
        return measure(
            ours,
            lambda: counters.update(
                run_task_once(run_server_sync, TaskName.SERVER_SYNC, client, deps, slot, lock_name)
            ),
        )

    def peers() -> dict:
        return {
            name: measure(
                sides[name],
                lambda name=name: asyncio.run(peer_cycle(sides[name], client, every_record=name == "naive")),
            )
            for name in ("change-only", "naive")
        }

    try:
        forget(client, lock_name)
        counters: dict = {}
        rows.append(("cold: first cycle", {"ours": ours_once(counters), **peers()}, dict(counters)))
        follow_ups = []
        while counters.get("details_deferred"):  # the details beyond the per-run cap, 100 a run
            counters = {}
            follow_ups.append(ours_once(counters))
        if follow_ups:
            rows.append((f"cold: next {len(follow_ups)} cycles", {"ours": summed(follow_ups)}, {}))
        for phase in ("steady-state cycle", "after 10 servers changed"):
            if phase.startswith("after"):
                for side in sides.values():
                    side.mutate()
            counters = {}
            rows.append((phase, {"ours": ours_once(counters), **peers()}, dict(counters)))
        fields = ("public_ip", "host", "labels", "capacity_cpu", "capacity_ram_mb", "capacity_disk_mb", "os_template")
        records = [
            {s["provider_id"]: tuple(s[f] for f in fields) for s in side.platform.store.list_servers()}
            for side in sides.values()
        ]
        assert records[0] == records[1] == records[2], "every way must end with the same Server records"
    finally:
        for side in sides.values():
            side.stop()
        forget(client, lock_name)
    return rows


def forget(client: redis.Redis, lock_name: str) -> None:
    """This benchmark's keys only: the task's memory, its lock, the stream and its cooldowns."""
    client.delete(
        Keys.TIME4VPS_SEEN,
        Keys.TIME4VPS_MISSES,
        Keys.TIME4VPS_HELD,
        Keys.TIME4VPS_THROTTLED_UNTIL,
        Keys.lock(lock_name),
        Keys.fence(lock_name),
        PROVISIONER_STREAM,
    )
    for key in client.scan_iter(match="scheduler:provisioner:cooldown:vps-*"):
        client.delete(key)


def report(runs: list, servers: int, redis_kind: str) -> None:
    print(
        f"server_sync, {servers:,}-server Time4VPS account; Redis: {redis_kind}; Time4VPS stand-in and "
        f"platform API on loopback; times: medians of {len(runs)} runs on fresh worlds, min–max"
    )
    print("| phase | contender | list | details | writes | time (s) | peer / ours: details | writes | time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for index, (phase, contenders, _) in enumerate(runs[0]):
        times = {name: sorted(run[index][1][name]["seconds"] for run in runs) for name in contenders}
        median = {name: statistics.median(t) for name, t in times.items()}
        mine = contenders["ours"]
        for name, side in contenders.items():
            ratios = (
                ("", "", "")
                if name == "ours"
                else (
                    ratio(side["details"], mine["details"]),
                    ratio(side["writes"], mine["writes"]),
                    ratio(median[name], median["ours"]),
                )
            )
            spread = f"{median[name]:.2f} ({times[name][0]:.2f}–{times[name][-1]:.2f})"
            print(
                f"| {phase if name == 'ours' else ''} | {name} | {side['list']} | {side['details']} | "
                f"{side['writes']} | {spread} | " + " | ".join(ratios) + " |"
            )
    print(
        "ours, per phase (run counters): "
        + "; ".join(
            f"{phase}: " + ", ".join(f"{k}={v}" for k, v in sorted(c.items()) if v) for phase, _, c in runs[0] if c
        )
    )


if __name__ == "__main__":
    main()
