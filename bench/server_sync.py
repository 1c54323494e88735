"""server_sync benchmark: what a sync cycle costs on a 1,000-server Time4VPS account, beside the naive way.

Both run in this process, each against its own copy of the same sandbox world (same seed, same
mutations), its own Time4VPS stand-in and its own platform API, all on loopback:
- ours: the real task function (``run_server_sync``: the list, details only for new and changed
  servers, at most ``TIME4VPS_MAX_DETAILS_PER_RUN`` (default 100) per run, pure plan, diffed writes)
  with a real task lock, on a real Redis (``REDIS_URL`` if set, else an embedded redis-server; only
  this run's keys are touched, and removed afterwards);
- naive: the list, then the details of every server, then every record written in full, every cycle.

Phases: a cold sync (empty platform; ours reads the details of 100 servers per run, so its first
cycle creates every record and the next 9 fill in the specs of the rest: shown summed on their own
line), a steady-state cycle (nothing changed), and a cycle after 10 servers changed (5 new IPs,
5 resizes). Figures: Time4VPS list and details requests, platform API writes, wall time.

    .venv/bin/python bench/server_sync.py [--servers 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import redis
import redis.asyncio as aioredis
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kit import ratio, run_task_once  # noqa: E402  (bench/kit.py)

from actors.adapters.platform.client import PlatformClient  # noqa: E402
from actors.adapters.time4vps.client import Time4VpsClient  # noqa: E402
from actors.adapters.time4vps.settings import Time4VpsSettings  # noqa: E402
from actors.tasks.deps import Dependencies  # noqa: E402
from actors.tasks.server_sync.plan import specs_of  # noqa: E402
from actors.tasks.server_sync.settings import ServerSyncSettings  # noqa: E402
from actors.tasks.server_sync.task import run_server_sync  # noqa: E402
from contracts import PROVISIONER_STREAM, Keys, TaskName  # noqa: E402
from contracts.platform import ServerCreate, ServerStatus, ServerUpdate, server_handle  # noqa: E402
from sandbox.http import ServedApp  # noqa: E402
from sandbox.platform_api import create_app  # noqa: E402
from sandbox.time4vps import time4vps_app  # noqa: E402
from sandbox.world import World  # noqa: E402
from scheduler.embedded import EmbeddedRedis  # noqa: E402
from scheduler.logs import configure_logging  # noqa: E402

USER, PASSWORD, KEY = "bench@example.test", "bench-t4v-password", "bench-internal-key"
LIST, DETAILS = "GET /api/server", "GET /api/server/{server_id}"


class Side:
    """One approach's world, Time4VPS stand-in and platform API, and its cost counters."""

    def __init__(self, servers: int):
        self.world = World.generate(seed=42, repos=0, servers=servers)
        self.time4vps, self.platform = time4vps_app(self.world, USER, PASSWORD), create_app(api_key=KEY)
        self.served = [ServedApp(self.time4vps).start(), ServedApp(self.platform).start()]
        self.settings = Time4VpsSettings(time4vps_api_url=f"{self.served[0].url}/api", time4vps_username=USER,
                                         time4vps_password=SecretStr(PASSWORD))
        self.platform_url = self.served[1].url

    def snapshot(self) -> tuple[int, int, int]:
        requests = self.time4vps.counters.requests
        writes = sum(n for route, n in self.platform.counters.requests.items() if not route.startswith("GET"))
        return requests[LIST], requests[DETAILS], writes

    def mutate(self) -> None:
        """The same 10 changes on either side (the worlds are identical)."""
        servers = sorted(self.world.server_list(), key=lambda s: s.server_id)
        picks = servers[len(servers) // 20::len(servers) // 10][:10]
        for n, server in enumerate(picks[:5]):
            self.world.change_server_ip(server.server_id, f"203.0.113.{200 + n}")
        for server in picks[5:]:
            self.world.resize_server(server.server_id, cpu_cores=16, ram_mb=65536, disk_mb=327680)

    def stop(self) -> None:
        for served in self.served:
            served.stop()


# ---- naive: everything, every cycle ----------------------------------------------------------------------

async def naive_cycle(side: Side, client: redis.Redis) -> None:
    time4vps = Time4VpsClient(side.settings)
    session = time4vps.session(_async_like(client))
    listing = await session.list_servers()
    details = {s.server_id: await session.server_details(s.server_id) for s in listing.servers}
    platform = PlatformClient(side.platform_url, SecretStr(KEY))
    async with platform:
        known = {s.provider_id: s for s in await platform.list_servers()}
        for server in listing.servers:  # no diff: every record is written in full, every cycle
            pid, found = str(server.server_id), details[server.server_id]
            specs = specs_of(found) if found else None
            record = known.get(pid)
            if record is None:
                await platform.create_server(ServerCreate(
                    handle=server_handle(pid), provider_id=pid, host=server.ip, public_ip=server.ip,
                    is_managed=True, status=ServerStatus.PENDING_SETUP, **({"specs": specs} if specs else {})))
            else:
                await platform.update_server(record.handle, ServerUpdate(
                    host=server.ip, public_ip=server.ip, is_managed=True, status=record.status,
                    **({"specs": specs} if specs else {})))
    await time4vps.aclose()


def _async_like(client: redis.Redis) -> aioredis.Redis:
    kwargs = client.connection_pool.connection_kwargs
    return aioredis.Redis(host=kwargs.get("host", "127.0.0.1"), port=kwargs.get("port", 6379), db=kwargs.get("db", 0))


# ---- the run ---------------------------------------------------------------------------------------------

def measure(side: Side, cycle) -> dict:
    before, started = side.snapshot(), time.perf_counter()
    cycle()
    after = side.snapshot()
    return {"list": after[0] - before[0], "details": after[1] - before[1], "writes": after[2] - before[2],
            "seconds": time.perf_counter() - started}


def summed(rows: list[dict]) -> dict:
    return {key: sum(row[key] for row in rows) for key in ("list", "details", "writes", "seconds")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", type=int, default=1000)
    args = parser.parse_args()
    configure_logging("console", "CRITICAL")
    embedded = None
    url = os.environ.get("REDIS_URL")
    if not url:
        embedded = EmbeddedRedis().start()
        url = embedded.url
    client = redis.Redis.from_url(url)
    lock_name = f"server_sync-bench-{os.getpid()}"
    ours, naive = Side(args.servers), Side(args.servers)
    sync_settings = ServerSyncSettings(time4vps_managed_server_ids="*")
    deps = Dependencies(url, client, platform=PlatformClient(ours.platform_url, SecretStr(KEY)),
                        time4vps=Time4VpsClient(ours.settings), settings=(sync_settings,))
    rows, slot = [], 0

    def ours_once(counters: dict) -> dict:
        nonlocal slot
        slot += 1
        return measure(ours, lambda: counters.update(run_task_once(
            run_server_sync, TaskName.SERVER_SYNC, client, deps, slot, lock_name)))

    try:
        for key in (Keys.TIME4VPS_SEEN, Keys.TIME4VPS_MISSES, Keys.TIME4VPS_HELD, Keys.TIME4VPS_THROTTLED_UNTIL):
            client.delete(key)
        counters: dict = {}
        first = ours_once(counters)
        peer = measure(naive, lambda: asyncio.run(naive_cycle(naive, client)))
        rows.append(("cold: first cycle", first, peer, dict(counters)))
        follow_ups = []
        while counters.get("details_deferred"):  # the details beyond the per-run cap, 100 a run
            counters = {}
            follow_ups.append(ours_once(counters))
        if follow_ups:
            rows.append((f"cold: next {len(follow_ups)} cycles, summed", summed(follow_ups), None, {}))
        for phase in ("steady-state cycle", "after 10 servers changed"):
            if phase.startswith("after"):
                ours.mutate()
                naive.mutate()
            counters = {}
            mine = ours_once(counters)
            peer = measure(naive, lambda: asyncio.run(naive_cycle(naive, client)))
            rows.append((phase, mine, peer, dict(counters)))
        same = {s["provider_id"]: (s["public_ip"], s["specs"]) for s in ours.platform.store.list_servers()}
        twin = {s["provider_id"]: (s["public_ip"], s["specs"]) for s in naive.platform.store.list_servers()}
        assert same == twin, "both ways must end with the same Server records"
    finally:
        ours.stop()
        naive.stop()
        for key in (Keys.TIME4VPS_SEEN, Keys.TIME4VPS_MISSES, Keys.TIME4VPS_HELD, Keys.TIME4VPS_THROTTLED_UNTIL,
                    Keys.lock(lock_name), Keys.fence(lock_name), PROVISIONER_STREAM):
            client.delete(key)
        for key in client.scan_iter(match="scheduler:provisioner:cooldown:vps-*"):
            client.delete(key)
        client.close()
        if embedded:
            embedded.close()
    report(rows, args.servers, "embedded redis-server" if embedded else "REDIS_URL")


def report(rows, servers: int, redis_kind: str) -> None:
    print(f"server_sync, {servers:,}-server Time4VPS account; Redis: {redis_kind}; Time4VPS stand-in and "
          "platform API on loopback")
    cols = f"{'list':>6}{'details':>9}{'writes':>8}{'time s':>8}"
    print(f"{'':<27}{'ours':-^31}  |{'naive':-^31}  |{'naive / ours':-^31}")
    print(f"{'phase':<27}{cols}  |{cols}  |{cols.replace('time s', '  time')}")

    def cells(side: dict) -> str:
        return f"{side['list']:>6}{side['details']:>9}{side['writes']:>8}{side['seconds']:>8.2f}"

    for phase, mine, peer, _ in rows:
        if peer is None:
            print(f"{phase:<27}{cells(mine)}  |{'(done in its one cold cycle)':^31}  |")
            continue
        ratios = (f"{ratio(peer['list'], mine['list']):>6}{ratio(peer['details'], mine['details']):>9}"
                  f"{ratio(peer['writes'], mine['writes']):>8}{ratio(peer['seconds'], mine['seconds']):>8}")
        print(f"{phase:<27}{cells(mine)}  |{cells(peer)}  |{ratios}")
    print("ours, per phase (run counters): " + "; ".join(
        f"{phase}: " + ", ".join(f"{k}={v}" for k, v in sorted(c.items()) if v) for phase, _, _, c in rows if c))


if __name__ == "__main__":
    main()
