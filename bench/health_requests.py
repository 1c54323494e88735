"""health_checker's platform API requests per cycle, beside the platform's own checker.

The platform's own health checker (codegen_orchestrator ``services/scheduler/src/tasks/
health_checker.py`` at 4d764651, read, not copied) does per cycle: one ``GET /api/servers/``; for
each managed server ready / in_use / active that answers, a read of its active
``server_unreachable`` incidents, one ``PATCH /api/servers/{handle}`` and one ``POST
…/metrics-history`` (plus, for a resource over its threshold, a read of its active
``resource_exhausted`` incidents and a create when there is none); for one that does not answer, the
same read and a create when there is none. ``platform_checker_cycle`` below issues exactly that
pattern of requests against the same stand-in (it does not check anything: which servers answer is
taken from the sandbox world), so both sides are counted by the same counters.

Ours is the real worker process (``python -m actors``) on the sandbox: the fleet over SSH, the
platform API stand-in, a real Redis. Phases: a cold cycle (the first: incidents of the unhealthy
servers are opened at the K-th check, so two cycles), steady cycles, then a cycle after 10 servers
went down. Counts are exact; the machine only changes the times.

    .venv/bin/python bench/health_requests.py                 # 200 servers, 5 % unhealthy (~1 min)
    .venv/bin/python bench/health_requests.py --servers 1000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after the project: bench/ticker.py is not the ticker

from kit import bench_redis, machine  # noqa: E402

from contracts import RUNS_STREAM, Keys, RunRecord, TaskName, Tick, TickReason  # noqa: E402
from sandbox.running import Sandbox  # noqa: E402
from sandbox.ssh.hoststate import HostState, SshMode  # noqa: E402
from sandbox.world import World  # noqa: E402
from ticker.emit import TickEmitter  # noqa: E402

PY = sys.executable
CHECKABLE = ("ready", "in_use", "active")


def answers(state: HostState) -> bool:
    return state.mode not in (SshMode.UNREACHABLE, SshMode.WRONG_HOST_KEY)


def over_threshold(state: HostState) -> list[str]:
    """The resources the platform's checker would find over its thresholds (90 % RAM, 90 % disk as its
    config ships; the exact values only decide which servers take the extra read)."""
    found = []
    if state.mem_used_pct > 90:
        found.append("ram")
    if state.disks.get("/", 0) > 90:
        found.append("disk")
    return found


def platform_checker_cycle(base_url: str, key: str, world: World) -> None:
    """The request pattern of the platform's own checker for one cycle (see the module docstring)."""
    headers = {"X-Internal-Key": key}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as http:
        servers = http.get("/api/servers/").json()
        hosts = {s.ssh_host: s.host for s in world.server_list()}
        for server in servers:
            if not server["is_managed"] or server["status"] not in CHECKABLE:
                continue
            handle, state = server["handle"], hosts.get(server["host"], HostState())
            unreachable = http.get(
                "/api/incidents/",
                params={"server_handle": handle, "status": "detected", "incident_type": "server_unreachable"},
            ).json()
            if not answers(state):
                if not unreachable:
                    http.post(
                        "/api/incidents/",
                        json={
                            "server_handle": handle,
                            "incident_type": "server_unreachable",
                            "details": {"reason": "bench: the platform's pattern"},
                        },
                    )
                continue
            for incident in unreachable:
                http.patch(
                    f"/api/incidents/{incident['id']}",
                    json={"status": "resolved", "resolved_at": datetime.now(UTC).isoformat()},
                )
            http.patch(f"/api/servers/{handle}", json={"last_health_check": datetime.now(UTC).isoformat()})
            http.post(f"/api/servers/{handle}/metrics-history", json={"metrics": {"bench": True}})
            for resource in over_threshold(state):
                found = http.get(
                    "/api/incidents/",
                    params={"server_handle": handle, "status": "detected", "incident_type": "resource_exhausted"},
                ).json()
                if not found:
                    http.post(
                        "/api/incidents/",
                        json={
                            "server_handle": handle,
                            "incident_type": "resource_exhausted",
                            "details": {"resource": resource},
                        },
                    )


def start_worker(env: dict, client: redis.Redis, log: Path) -> subprocess.Popen:
    since = time.time() * 1000
    worker = subprocess.Popen(
        [PY, "-m", "actors"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "wb")
    )
    deadline = time.monotonic() + 60
    while client.zcount("dramatiq:__heartbeats__", since, "+inf") < 1:
        if time.monotonic() > deadline or worker.poll() is not None:
            raise SystemExit(f"the worker did not start; see {log}")
        time.sleep(0.1)
    return worker


def our_cycle(client: redis.Redis, slot: int, deadline_s: float = 120) -> dict:
    now = datetime.now(UTC)
    tick = Tick(
        task=TaskName.HEALTH_CHECKER,
        slot=slot,
        scheduled_at=now,
        deadline=now + timedelta(seconds=deadline_s),
        reason=TickReason.MANUAL,
        emitted_by="bench",
    )
    TickEmitter(client).enqueue(tick)
    started, batches = time.monotonic(), None
    while time.monotonic() - started < deadline_s + 60:
        if batches is None:
            for _, fields in client.xrange(RUNS_STREAM):
                record = RunRecord.model_validate_json(fields[b"data"])
                if record.slot == slot:
                    if record.error:
                        raise SystemExit(f"the tick failed: {record.error}")
                    batches = record.counters["batches"]
        stats = {k.decode(): int(v) for k, v in client.hgetall(Keys.health_slot(slot)).items()}
        if batches is not None and stats.get("batches_done", 0) + stats.get("batches_failed", 0) >= batches:
            return stats
        time.sleep(0.05)
    raise SystemExit(f"slot {slot} did not finish")


def split(counts: Counter) -> tuple[int, int]:
    reads = sum(n for route, n in counts.items() if route.startswith("GET "))
    return reads, sum(counts.values()) - reads


def measure(sandbox: Sandbox, cycle) -> Counter:
    before = Counter(sandbox.platform.counters.requests)
    cycle()
    after = Counter(sandbox.platform.counters.requests)
    return Counter({k: after[k] - before[k] for k in after if after[k] - before[k]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=200)
    parser.add_argument("--unhealthy", type=float, default=0.05, help="share of hosts unreachable / full / Docker down")
    parser.add_argument("--steady", type=int, default=3, help="steady cycles measured (the median is printed)")
    args = parser.parse_args()
    print(f"health_requests: {args.servers} servers; {machine()}", flush=True)
    share = args.unhealthy / 3
    world = World.generate(
        seed=5,
        servers=args.servers,
        repos=0,
        host_states={"unreachable": share, "disk_full": share, "docker_down": share},
    )
    rows: list[tuple[str, str, Counter]] = []
    with bench_redis() as (url, client, redis_kind), Sandbox(world) as sandbox:
        url = url if "REDIS_URL" in __import__("os").environ else url.rsplit("/", 1)[0] + "/12"
        client = redis.Redis.from_url(url)
        client.flushdb()
        sandbox.seed_platform_servers()
        env = {
            **sandbox.env(),
            "PYTHONPATH": str(ROOT),
            "REDIS_URL": url,
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "WARNING",
            "WORKER_THREADS": "4",
            "HEALTH_CONNECT_TIMEOUT_S": "3",
            "HEALTH_COMMAND_TIMEOUT_S": "5",
            **{f"SCHEDULE_{t.value.upper()}": "off" for t in TaskName if t is not TaskName.HEALTH_CHECKER},
        }
        log = Path(sandbox.fleet.directory) / "worker.log"
        worker = start_worker(env, client, log)
        slot = 2_000_000
        try:
            for label in ("cold 1", "cold 2 (incidents opened)") + tuple(f"steady {i}" for i in range(args.steady)):
                slot += 1
                rows.append(("ours", label, measure(sandbox, lambda s=slot: our_cycle(client, s))))
            down = [s for s in world.server_list() if answers(s.host)][:10]
            for server in down:
                sandbox.fleet.set_mode(server.ssh_host, SshMode.UNREACHABLE)
                world.set_host_state(server.server_id, HostState(mode=SshMode.UNREACHABLE))
            for label in ("10 went down, 1", "10 went down, 2 (opened)"):
                slot += 1
                rows.append(("ours", label, measure(sandbox, lambda s=slot: our_cycle(client, s))))
        finally:
            worker.terminate()
            worker.wait(15)
        for server in down:  # the same world for the platform's pattern, from a fresh incident table
            sandbox.fleet.set_mode(server.ssh_host, SshMode.NORMAL)
            world.set_host_state(server.server_id, HostState())
        sandbox.platform.store.execute_sql("DELETE FROM incidents")
        platform_cycle = lambda: platform_checker_cycle(sandbox.url("platform"), sandbox.api_key, world)  # noqa: E731
        for label in ("cold 1", "cold 2 (incidents opened)") + tuple(f"steady {i}" for i in range(args.steady)):
            rows.append(("the platform's checker", label, measure(sandbox, platform_cycle)))
        for server in down:
            world.set_host_state(server.server_id, HostState(mode=SshMode.UNREACHABLE))
        for label in ("10 went down, 1", "10 went down, 2 (opened)"):
            rows.append(("the platform's checker", label, measure(sandbox, platform_cycle)))
        client.close()
    print(f"\nRedis: {redis_kind}. Requests to the platform API per cycle (reads / writes):\n")
    print("| side | cycle | requests | reads | writes | per server |")
    print("|---|---|---|---|---|---|")
    for side, label, counts in rows:
        reads, writes = split(counts)
        print(f"| {side} | {label} | {reads + writes} | {reads} | {writes} | {(reads + writes) / args.servers:.2f} |")
    print("\nby route, steady cycle:")
    for side in ("ours", "the platform's checker"):
        counts = next(c for s, label, c in rows if s == side and label.startswith("steady"))
        print(f"  {side}: " + ", ".join(f"{route} {n}" for route, n in sorted(counts.items())))


if __name__ == "__main__":
    main()
