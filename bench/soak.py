"""The soak (issue 19, item 7): the whole service for minutes on a bad day, then its invariants.

All five tasks, two tickers and two workers (``python -m ticker``, ``python -m actors``, real
processes) on the sandbox (``sandbox.running.Sandbox``, in this process) with its world changing
every cycle; 20 % faults on every HTTP stand-in (10 % 503s, 5 % bodies cut short, 5 % answers
lost after the write committed) and about 20 % of the monitored SSH hosts failing at any time
(unreachable, a wrong host key, Docker down, a full disk), changing every cycle; tickers and a
worker SIGKILLed and restarted at random, both tickers down together once (a new startup epoch),
and one restart of the Redis server (an embedded one of its own, ``process.embedded``, with
its append-only file, as after a failover to a replica that kept the data).

Then the faults stop, the world stands still and the processes are left alone; once the incident
claims taken under faults have lapsed, two clean cycles of every task run, and the invariants are
checked:

1. the platform's records equal the world (Servers, Repositories and their projects, RAG documents,
   open incidents);
2. one startup tick per startup epoch (``TICKER_EPOCH``), and more than one epoch;
3. exactly one announcement on ``provisioner:queue`` per server that entered ``pending_setup``;
4. no duplicate records (servers, repositories, projects, RAG documents, active incidents);
5. no open incident for a healthy or unmonitored server;
6. no lock or claim outliving its bound (sampled every second: a TTL within its bound, never none;
   a lock of a killed holder gone within the lock's TTL of the kill);
7. the witness worker's RSS within 10 % of its value after the first minute.

The witness is one of the two workers that is never SIGKILLed, so that a process lives long
enough for its memory to mean something; the other worker and both tickers are killed at random
(the other worker about one kill in three). Every health check stays on loopback: a monitored
server whose ``host`` is outside 127.0.0.0/8 stops the soak at once (servers that server_sync
creates carry documentation addresses and stay ``pending_setup``, never checked).

    .venv/bin/python bench/soak.py                    # 10 minutes (600 s of chaos, then convergence)
    .venv/bin/python bench/soak.py --seconds 90       # what tests/chaos/test_soak.py runs

Exit status 0 when every invariant holds; the figures and each invariant's evidence are printed.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/ is on the path, the project is not
    sys.path.insert(0, str(ROOT))

from process.noise import quiet_asyncssh_dsa  # noqa: E402

quiet_asyncssh_dsa()  # before anything imports asyncssh: process/noise.py

import psutil  # noqa: E402
import redis  # noqa: E402

from actors.runtime.lock import parse_holder  # noqa: E402
from actors.tasks import incidents as incident_opener  # noqa: E402
from actors.tasks.github_sync.plan import project_id_of  # noqa: E402
from actors.tasks.health_checker.check import CLAIM_MARGIN_S, FLUSH_INTERVAL_S  # noqa: E402
from actors.tasks.rag_summarizer.settings import RagSummarizerSettings  # noqa: E402
from actors.tasks.rag_summarizer.text import decode  # noqa: E402
from contracts import (  # noqa: E402
    PROVISIONER_STREAM,
    RUNS_STREAM,
    TICKS_STREAM,
    Keys,
    RunOutcome,
    RunRecord,
    TaskName,
    Tick,
    TickReason,
)
from contracts.health import SlotCoverage  # noqa: E402
from contracts.platform import content_hash  # noqa: E402
from process.clock import redis_now  # noqa: E402
from process.embedded import EmbeddedRedis  # noqa: E402
from sandbox.github.payloads import HTML  # noqa: E402
from sandbox.running import Sandbox  # noqa: E402
from sandbox.ssh.hoststate import HostState, SshMode  # noqa: E402
from sandbox.world import World  # noqa: E402
from tests.tasks.health_checker.support import slot_stats  # noqa: E402  (the test suite's reader of a slot's counters)

PERIODIC = (TaskName.GITHUB_SYNC, TaskName.SERVER_SYNC, TaskName.HEALTH_CHECKER, TaskName.RAG_SUMMARIZER)
STAND_INS = ("platform", "github", "time4vps", "embeddings")
#: 20 % of every HTTP stand-in's answers are faults, of three kinds
FAULT_RATES = {"error_rate": 0.10, "malformed_rate": 0.05, "lost_rate": 0.05}
#: the share of the monitored SSH hosts in a failing state after each world change
HOST_FAULT_SHARE = 0.2
MONITORED = ("ready", "in_use", "active")
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")

LOCK_TTL_MS = 5_000
HEARTBEAT_S = 1  # a killed process's heartbeat is gone after 3 s, so "both tickers down" is short
CONNECT_S, COMMAND_S, CLOSE_GRACE_S = 2.0, 3.0, 2.0  # CLOSE_GRACE_S: the SSH adapter's, as in test_worker_killed
HEALTH_CLAIM_BOUND_MS = int((CONNECT_S + COMMAND_S + CLOSE_GRACE_S + FLUSH_INTERVAL_S + CLAIM_MARGIN_S) * 1000)
RSS_BASE_AGE_S = 60.0
RSS_GROWTH_ALLOWED = 0.10
DOCS = RagSummarizerSettings().documents


# ------------------------------------------------------------------------------- the processes


class Fleet:
    """The four processes of the soak by name; each (re)started with the same environment, its
    output appended to ``<log_dir>/<name>.log``."""

    COMMANDS = {"ticker-a": "ticker", "ticker-b": "ticker", "worker-witness": "actors", "worker-b": "actors"}

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env, self.log_dir = env, log_dir
        self.processes: dict[str, subprocess.Popen] = {}
        self.started_at: dict[int, float] = {}  # pid -> monotonic start
        self.killed_at: dict[int, float] = {}  # pid -> monotonic time of its SIGKILL
        self.kills: Counter = Counter()
        self.lock = threading.Lock()

    def start(self, name: str) -> subprocess.Popen:
        with open(self.log_dir / f"{name}.log", "ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", self.COMMANDS[name]],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        with self.lock:
            self.processes[name] = process
            self.started_at[process.pid] = time.monotonic()
        return process

    def kill(self, name: str) -> None:
        with self.lock:
            process = self.processes[name]
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            self.killed_at[process.pid] = time.monotonic()
            self.kills[name.rsplit("-", 1)[0] if name.startswith("ticker") else name] += 1
        process.wait()

    def alive(self, name: str) -> bool:
        with self.lock:
            process = self.processes.get(name)
        return process is not None and process.poll() is None

    def pids(self, prefix: str) -> list[int]:
        with self.lock:
            return [p.pid for n, p in self.processes.items() if n.startswith(prefix) and p.poll() is None]

    def stop_all(self) -> None:
        with self.lock:
            running = [p for p in self.processes.values() if p.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        for process in running:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def the_dead(self) -> list[str]:
        """Every process that exited without being killed here (a finding), each said once."""
        with self.lock:
            dead = [(n, p) for n, p in self.processes.items() if p.poll() is not None and p.pid not in self.killed_at]
        for _, process in dead:
            self.killed_at[process.pid] = time.monotonic()  # its locks are bounded from now on, as a kill's
        return [
            f"{name} (pid {process.pid}) exited with status {process.returncode}; see {name}.log"
            for name, process in dead
        ]

    def restart_the_dead(self) -> list[str]:
        dead = self.the_dead()
        for death in dead:
            self.start(death.split(" ", 1)[0])
        return dead


def environment(sandbox: Sandbox, redis_url: str, interval: str) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"RELEASE_ID", "HEROKU_RELEASE_VERSION", "SOURCE_VERSION", "HEROKU_SLUG_COMMIT"}
        and not k.startswith(("SCHEDULE_", "HEALTH_", "TIME4VPS_", "GITHUB_", "PLATFORM_"))
    }
    return {
        **base,
        **sandbox.env(),
        "PYTHONPATH": str(ROOT),
        "REDIS_URL": redis_url,
        "LOG_FORMAT": "json",
        **{f"SCHEDULE_{t.value.upper()}": interval for t in PERIODIC},
        "SCHEDULE_PROVISIONER_TRIGGER": "startup",
        "HEARTBEAT_INTERVAL_S": str(HEARTBEAT_S),
        "LOCK_TTL_MS": str(LOCK_TTL_MS),
        "TIME4VPS_MANAGE_ALL": "true",
        "TIME4VPS_MISSING_AFTER": "2",
        "GITHUB_MISSING_AFTER": "1",
        "GITHUB_ARCHIVE_AFTER": "0",
        "HEALTH_BATCH_SIZE": "4",
        "HEALTH_SSH_CONCURRENCY": "4",
        "HEALTH_CONNECT_TIMEOUT_S": str(CONNECT_S),
        "HEALTH_COMMAND_TIMEOUT_S": str(COMMAND_S),
    }


# ------------------------------------------------------------------------------- the world


class WorldChanges:
    """One change of the world per cycle: repositories come, go, are renamed, archived, edited
    (their documents too); a server is ordered now and then, one leaves the account now and then
    (never below half of those there at the start), addresses and plans change; and the monitored
    hosts' states are drawn again, about ``HOST_FAULT_SHARE`` of them failing."""

    def __init__(self, sandbox: Sandbox, seed: int, seeded: set[int]):
        self.sandbox, self.world, self.seeded = sandbox, sandbox.world, seeded
        self.rng = random.Random(f"soak-world:{seed}")
        self.cycles = 0
        self.done: Counter = Counter()

    def __call__(self) -> None:
        world, rng, cycle = self.world, self.rng, self.cycles
        self.cycles += 1
        live = world.org_repos()
        world.add_repo()
        self.done["repo added"] += 1
        for repo in rng.sample(live, min(len(live), 2)):
            action = rng.choice(("rename", "describe", "archive", "delete", "visibility", "document"))
            if action == "rename":
                world.rename_repo(repo.id, f"{repo.name.split('-v')[0]}-v{cycle}")
            elif action == "describe":
                world.edit_description(repo.id, f"changed in cycle {cycle}")
            elif action == "archive":
                world.archive_repo(repo.id, not repo.archived)
            elif action == "delete" and len(live) > 6:
                world.delete_repo(repo.id)
            elif action == "visibility":
                world.set_visibility(repo.id, "private" if repo.visibility == "public" else "public")
            else:
                world.edit_file(repo.id, "docs/architecture.md", f"# Architecture\n\nRevised in cycle {cycle}.\n")
            self.done[f"repo {action}"] += 1
        servers = world.server_list()
        if rng.random() < 0.5:
            world.add_server()
            self.done["server ordered"] += 1
        seeded_left = [s for s in servers if s.server_id in self.seeded]
        if rng.random() < 0.2 and len(seeded_left) > len(self.seeded) // 2:
            world.remove_server(rng.choice(servers).server_id)
            self.done["server removed"] += 1
        elif rng.random() < 0.3 and cycle < 50:
            world.change_server_ip(rng.choice(servers).server_id, f"203.0.113.{200 + cycle}")
            self.done["server new address"] += 1
        elif rng.random() < 0.3:
            world.resize_server(rng.choice(servers).server_id, cpu_cores=8, ram_mb=16384, disk_mb=163840)
            self.done["server resized"] += 1
        for server in world.server_list():
            if server.server_id in self.seeded:
                world.set_host_state(server.server_id, self._host_state())
        self.sandbox.sync_fleet()

    def _host_state(self) -> HostState:
        rng = self.rng
        if rng.random() >= HOST_FAULT_SHARE:
            return HostState(disks={"/": rng.randrange(15, 70)})
        kind = rng.choice(("unreachable", "wrong_host_key", "docker_down", "disk_full"))
        self.done[f"host {kind}"] += 1
        if kind == "unreachable":
            return HostState(mode=SshMode.UNREACHABLE)
        if kind == "wrong_host_key":
            return HostState(mode=SshMode.WRONG_HOST_KEY)
        if kind == "docker_down":
            return HostState.docker_down()
        return HostState.disk_nearly_full(99)


# ------------------------------------------------------------------------------- watching


def with_redis(call: Callable[[], object], default=None):
    """A read that tolerates the Redis restart (the client reconnects on its next call)."""
    try:
        return call()
    except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
        return default


@dataclass
class Watch:
    """What the sampler saw, every second, for the whole soak."""

    violations: list[str] = field(default_factory=list)
    samples: int = 0
    lock_ttls: dict[str, int] = field(default_factory=dict)  # the largest PTTL seen per kind of key
    rss: dict[int, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))  # pid -> (age s, bytes)
    off_loopback: list[str] = field(default_factory=list)


BOUNDS_MS = {
    "scheduler:lock:": LOCK_TTL_MS,
    "scheduler:incident:claim:": incident_opener.CLAIM_MS,
    "scheduler:health:claim:": HEALTH_CLAIM_BOUND_MS,
}


def on_loopback(host: str | None) -> bool:
    try:
        return ipaddress.ip_address(host or "") in LOOPBACK
    except ValueError:  # a name: it could resolve anywhere
        return False


def sample(client: redis.Redis, fleet: Fleet, sandbox: Sandbox, watch: Watch) -> None:
    now = time.monotonic()
    for prefix, bound in BOUNDS_MS.items():
        for key in with_redis(lambda prefix=prefix: list(client.scan_iter(f"{prefix}*", count=500)), []):
            ttl = with_redis(lambda key=key: client.pttl(key), -2)
            name = key.decode()
            if ttl == -1:
                watch.violations.append(f"{name}: no TTL at all")
            elif ttl > bound:
                watch.violations.append(f"{name}: PTTL {ttl} ms over its bound of {bound} ms")
            watch.lock_ttls[prefix] = max(watch.lock_ttls.get(prefix, 0), ttl)
            if prefix == "scheduler:lock:" and ttl > 0:
                holder = parse_holder(with_redis(lambda key=key: client.get(key)))
                pid = int(str((holder or {}).get("owner", ":0")).rsplit(":", 1)[-1] or 0)
                killed = fleet.killed_at.get(pid)
                if killed is not None and now - killed > LOCK_TTL_MS / 1000 + 1.0:
                    watch.violations.append(f"{name}: still held by pid {pid}, SIGKILLed {now - killed:.1f} s ago")
    for pid in fleet.pids("worker-witness"):
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            rss = process.memory_info().rss + sum(c.memory_info().rss for c in process.children(recursive=True))
            watch.rss[pid].append((now - fleet.started_at[pid], rss))
    for record in sandbox.platform.store.list_servers():
        if record["status"] in MONITORED and not on_loopback(record["host"]):
            watch.off_loopback.append(f"{record['handle']} {record['status']} at {record['host']}")
    watch.samples += 1


# ------------------------------------------------------------------------------- reading Redis


def run_records(client: redis.Redis) -> list[RunRecord]:
    return [RunRecord.model_validate_json(f[b"data"]) for _, f in client.xrange(RUNS_STREAM)]


def audited_ticks(client: redis.Redis) -> list[Tick]:
    return [Tick.model_validate_json(f[b"data"]) for _, f in client.xrange(TICKS_STREAM)]


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = with_redis(predicate)
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


def claims_and_lapse(client: redis.Redis) -> dict[bytes, float]:
    """Every incident claim held now, and when (``time.monotonic()``) its TTL runs out."""
    now = time.monotonic()
    claims = {key: client.pttl(key) for key in client.scan_iter("scheduler:incident:claim:*")}
    return {key: now + max(ttl, 0) / 1000 for key, ttl in claims.items()}


def cycle_done(client: redis.Redis, task: TaskName, since: float) -> RunRecord | None:
    """A succeeded run of ``task`` for a slot that began at or after ``since`` (the Redis clock),
    with, for health_checker, every batch it fanned out reported and every server it planned
    checked: a server left to a killed worker's claim (``claimed_elsewhere``) or cut is not
    checked in that cycle, and K consecutive checks are what confirm an incident."""
    for record in run_records(client):
        if record.task is task and record.slot >= since and record.outcome is RunOutcome.SUCCEEDED:
            if task is not TaskName.HEALTH_CHECKER or health_slot_complete(client, record):
                return record
    return None


def health_slot_complete(client: redis.Redis, record: RunRecord) -> bool:
    stats = slot_stats(client, record.slot)
    coverage = SlotCoverage.of(record.slot, stats, client.scard(Keys.health_slot_checked(record.slot)))
    return stats.get("batches_done", 0) >= record.counters.get("batches", 0) and coverage.complete


# ------------------------------------------------------------------------------- the invariants


def mismatches(expected: dict, actual: dict) -> list[str]:
    found = [f"{key}: missing" for key in expected if key not in actual]
    for key, fields in expected.items():
        if key in actual:
            found += [
                f"{key}.{name}: {actual[key].get(name)!r} != {value!r}"
                for name, value in fields.items()
                if actual[key].get(name) != value
            ]
    return found


def servers_vs_world(world: World, store, seeded: set[int]) -> list[str]:
    records = {r["provider_id"]: r for r in store.list_servers() if r["labels"].get("provider") == "time4vps"}
    expected = {}
    for s in world.server_list():
        ours = s.server_id in seeded
        expected[str(s.server_id)] = {
            "public_ip": s.public_ip,
            "host": s.ssh_host if ours else s.public_ip,
            "status": "ready" if ours else "pending_setup",
            "is_managed": True,
            "capacity_cpu": s.cpu_cores,
            "capacity_ram_mb": s.ram_mb,
            "capacity_disk_mb": s.disk_mb,
            "os_template": s.os or None,
        }
    expected |= {pid: {"status": "missing"} for pid in records if pid not in expected}
    return mismatches(expected, records)


def repositories_vs_world(world: World, store) -> list[str]:
    rows = store.all_repositories()
    projects = {p["id"]: p for p in store.list_projects()}
    orphans = [f"project {pid}: no repository" for pid in set(projects) - {r["project_id"] for r in rows}]
    actual = {
        r["provider_repo_id"]: {**r, "project_status": projects.get(r["project_id"], {}).get("status")} for r in rows
    }
    expected = {}
    for repo in world.repos.values():
        if repo.owner == world.org and not repo.deleted:
            expected[repo.id] = {
                "name": repo.name,
                "git_url": f"{HTML}/{world.org}/{repo.name}.git",
                "visibility": "public" if repo.visibility == "public" else "private",
                "project_id": str(project_id_of(repo.id)),
                "project_status": "draft",
            }
        elif repo.id in actual:
            expected[repo.id] = {"project_status": "archived"}
    return orphans + mismatches(expected, actual)


def documents_vs_world(world: World, store) -> list[str]:
    """Every document of a repository whose project is indexed is on the platform as the repository
    has it, under ``<org>/<repo>:<path>``; every other document of its project is emptied (no chunk),
    and so is every document of an archived project (a repository gone from the organisation)."""
    found = []
    projects = {p["id"]: p["status"] for p in store.list_projects()}
    for repo in world.repos.values():
        project = str(project_id_of(repo.id))
        if project not in projects:
            continue
        held = {row["source_id"]: row for row in store.rag_documents(project)}
        live = repo.owner == world.org and not repo.deleted
        expected = (
            {}
            if projects[project] == "archived" or not live
            else {
                f"{world.org}/{repo.name}:{path}": content_hash(
                    decode(data.encode() if isinstance(data, str) else data) or ""
                )
                for path, data in repo.files.items()
                if DOCS.wanted(path)
            }
        )
        for sid, digest in expected.items():
            if sid not in held:
                found.append(f"{sid}: not on the platform")
            elif held[sid]["source_hash"] != digest:
                found.append(f"{sid}: source_hash {held[sid]['source_hash']} != {digest}")
        found += [
            f"{sid}: {row['chunk_count']} chunks, should be emptied ({projects[project]} project)"
            for sid, row in held.items()
            if sid not in expected and row["chunk_count"]
        ]
    return found


def expected_incidents(world: World, store) -> tuple[set, set]:
    """(what must be open, the servers whose other conditions are unknown: unreachable ones may keep
    an incident of another type opened before, as nothing can be said of their disks or Docker)."""
    records = {r["handle"]: r for r in store.list_servers()}
    must, unknown = set(), set()
    for s in world.server_list():
        record = records.get(f"vps-{s.server_id}")
        if record is None or record["status"] not in MONITORED:
            continue
        handle, host = record["handle"], s.host
        if host.mode in (SshMode.UNREACHABLE, SshMode.WRONG_HOST_KEY):
            must.add((handle, "server_unreachable"))
            unknown.add(handle)
            continue
        if not host.docker_running:
            must.add((handle, "service_down"))
        if host.disks.get("/", 0) >= 95:
            must.add((handle, "resource_exhausted"))
    return must, unknown


@dataclass
class Invariant:
    name: str
    evidence: list[str]
    figures: str = ""

    @property
    def holds(self) -> bool:
        return not self.evidence


def check_invariants(
    client: redis.Redis, sandbox: Sandbox, seeded: set[int], watch: Watch, epochs_forced: int
) -> list[Invariant]:
    world, store = sandbox.world, sandbox.platform.store
    servers = store.list_servers()
    records = {r["handle"]: r for r in servers}
    incidents = store.list_incidents()
    active = [i for i in incidents if i["status"] in ("detected", "recovering")]
    active_keys = Counter((i["server_handle"], i["incident_type"]) for i in active)
    must, unknown = expected_incidents(world, store)
    incident_gaps = [f"{h} {t}: not open" for h, t in sorted(must - set(active_keys))]
    incident_gaps += [f"{h} {t}: open" for h, t in sorted(set(active_keys) - must) if h not in unknown]
    out = [
        Invariant(
            "the platform's records equal the world after two clean cycles",
            servers_vs_world(world, store, seeded)
            + repositories_vs_world(world, store)
            + documents_vs_world(world, store)
            + incident_gaps,
            f"{len(servers)} servers, {len(store.all_repositories())} repositories, "
            f"{len(store.rag_documents())} RAG documents, {len(active)} open incidents of {len(incidents)}",
        )
    ]

    epoch = int(client.get(Keys.TICKER_EPOCH) or 0)
    startup = [t for t in audited_ticks(client) if t.task is TaskName.PROVISIONER_TRIGGER]
    claims = [
        n
        for n in range(1, epoch + 1)
        if client.exists(Keys.startup_claim(TaskName.PROVISIONER_TRIGGER.value, f"epoch-{n}"))
    ]
    evidence = []
    if len(startup) != epoch or claims != list(range(1, epoch + 1)):
        evidence.append(f"{len(startup)} startup ticks, {epoch} epochs, claims for epochs {claims}")
    if any(t.reason is not TickReason.STARTUP for t in startup):
        evidence.append(f"startup task ticked for other reasons: {[t.reason.value for t in startup]}")
    if epoch < 1 + epochs_forced:
        evidence.append(f"only {epoch} epochs: both tickers were down together {epochs_forced} times")
    out.append(Invariant("one startup tick per epoch", evidence, f"{epoch} epochs, {len(startup)} startup ticks"))

    messages = [json.loads(f[b"data"]) for _, f in client.xrange(PROVISIONER_STREAM)]
    announced = Counter(m["server_handle"] for m in messages if not m.get("is_recovery"))
    entered = {r["handle"] for r in servers if int(r["provider_id"]) not in seeded}
    evidence = [
        f"{h}: announced {announced[h]} times"
        for h in sorted(entered | set(announced))
        if announced[h] != 1 or h not in entered
    ]
    recoveries = Counter(m["server_handle"] for m in messages if m.get("is_recovery"))
    out.append(
        Invariant(
            "exactly one announcement per entry into pending_setup",
            evidence,
            f"{len(entered)} servers entered pending_setup, {sum(announced.values())} announcements, "
            f"{sum(recoveries.values())} recovery requests",
        )
    )

    duplicates = [f"server {k}: {n} records" for k, n in Counter(r["provider_id"] for r in servers).items() if n > 1]
    duplicates += [
        f"repository {k}: {n} records"
        for k, n in Counter(r["provider_repo_id"] for r in store.all_repositories()).items()
        if n > 1
    ]
    duplicates += [
        f"project {k}: {n} records" for k, n in Counter(p["id"] for p in store.list_projects()).items() if n > 1
    ]
    duplicates += [
        f"document {k}: {n} records"
        for k, n in Counter((d["project_id"], d["source_id"]) for d in store.rag_documents()).items()
        if n > 1
    ]
    duplicates += [f"active incident {k}: {n}" for k, n in active_keys.items() if n > 1]
    out.append(Invariant("no duplicate records", duplicates))

    healthy_or_gone = []
    for (handle, kind), _ in active_keys.items():
        record = records.get(handle)
        if record is None or record["status"] not in MONITORED or not record["is_managed"]:
            healthy_or_gone.append(f"{handle} {kind}: open for a server {record['status'] if record else 'gone'}")
        else:
            server = world.servers.get(int(record["provider_id"]))
            if (
                server is not None
                and server.host.mode is SshMode.NORMAL
                and server.host.docker_running
                and server.host.disks.get("/", 0) < 85
            ):
                healthy_or_gone.append(f"{handle} {kind}: open for a healthy server")
    out.append(Invariant("no open incident for a healthy or unmonitored server", healthy_or_gone))

    leftovers = [
        f"{k.decode()}: PTTL {client.pttl(k)}"
        for p in BOUNDS_MS
        for k in client.scan_iter(f"{p}*")
        if client.pttl(k) == -1
    ]
    out.append(
        Invariant(
            "no lock or claim outliving its bound",
            watch.violations + leftovers,
            f"{watch.samples} samples; largest PTTL seen: "
            + ", ".join(f"{p}* {ms} ms (bound {BOUNDS_MS[p]})" for p, ms in watch.lock_ttls.items()),
        )
    )

    out.append(rss_invariant(watch))
    out.append(Invariant("every monitored server on loopback", sorted(set(watch.off_loopback))))
    return out


def rss_invariant(watch: Watch) -> Invariant:
    evidence, figures = [], []
    lived = {pid: s for pid, s in watch.rss.items() if s and s[-1][0] >= RSS_BASE_AGE_S}
    if not lived:
        return Invariant(
            "worker RSS within 10 % of its value after the first minute", ["no witness worker lived a minute"]
        )
    for pid, samples in lived.items():
        base = next(rss for age, rss in samples if age >= RSS_BASE_AGE_S)
        later = [rss for age, rss in samples if age >= RSS_BASE_AGE_S]
        peak, last, age = max(later), later[-1], samples[-1][0]
        figures.append(
            f"pid {pid}: {base / 2**20:.1f} MiB at 60 s, {last / 2**20:.1f} MiB at {age:.0f} s, "
            f"peak {peak / 2**20:.1f} MiB (+{(peak / base - 1) * 100:.1f} %)"
        )
        if peak > base * (1 + RSS_GROWTH_ALLOWED):
            evidence.append(figures[-1])
    return Invariant("worker RSS within 10 % of its value after the first minute", evidence, "; ".join(figures))


# ------------------------------------------------------------------------------- the soak


@dataclass
class SoakReport:
    seconds: float
    invariants: list[Invariant]
    figures: dict[str, object]

    @property
    def failed(self) -> list[Invariant]:
        return [i for i in self.invariants if not i.holds]

    def render(self) -> str:
        lines = [f"soak: {self.seconds:.0f} s of chaos"]
        lines += [f"  {k}: {v}" for k, v in self.figures.items()]
        lines.append("invariants:")
        for inv in self.invariants:
            lines.append(
                f"  [{'ok' if inv.holds else 'FAILED'}] {inv.name}" + (f" — {inv.figures}" if inv.figures else "")
            )
            lines += [f"      {e}" for e in inv.evidence[:40]]
            if len(inv.evidence) > 40:
                lines.append(f"      … {len(inv.evidence) - 40} more")
        return "\n".join(lines)


def say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def run_soak(
    seconds: float = 600,
    *,
    seed: int = 19,
    interval_s: int = 10,
    repos: int = 10,
    servers: int = 10,
    kill_every_s: tuple[float, float] = (4.0, 12.0),
    log_dir: Path | None = None,
    converge_timeout_s: float = 240,
) -> SoakReport:
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="soak-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    say(f"logs in {log_dir}; {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rng = random.Random(f"soak:{seed}")
    world = World.generate(seed=seed, repos=repos, servers=servers)
    seeded = set(world.servers)
    watch = Watch()
    figures: dict[str, object] = {}
    with EmbeddedRedis(persist=True) as server, Sandbox(world) as sandbox:
        sandbox.seed_platform_servers()
        client = redis.Redis.from_url(server.url, socket_timeout=5, health_check_interval=1)
        fleet = Fleet(environment(sandbox, server.url, f"{interval_s}s"), log_dir)
        changes = WorldChanges(sandbox, seed, seeded)
        stop_sampling = threading.Event()

        def sampler():
            while not stop_sampling.wait(1.0):
                try:
                    sample(client, fleet, sandbox, watch)
                except redis.RedisError:
                    pass  # the restart: the next second's sample reads again
                if watch.off_loopback:  # never let a check leave loopback: the workers go at once
                    for pid in fleet.pids("worker"):
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                    return

        sampling = threading.Thread(target=sampler, daemon=True)
        epochs_forced = 0
        deaths: list[str] = []
        try:
            for name in Fleet.COMMANDS:
                fleet.start(name)
            sampling.start()
            wait_for(
                lambda: len(client.zrangebyscore(Keys.heartbeats("worker"), redis_now(client) * 1000, "+inf")) == 2,
                60,
                "both workers beating",
            )
            for index, name in enumerate(STAND_INS):
                getattr(sandbox, name).faults.update(seed=seed * 10 + index, **FAULT_RATES)
            before = {name: Counter(getattr(sandbox, name).counters.faults) for name in STAND_INS}
            asked = {name: getattr(sandbox, name).counters.total() for name in STAND_INS}
            started = time.monotonic()
            end = started + seconds
            next_change = started
            next_kill = started + rng.uniform(*kill_every_s)
            both_tickers_at = started + seconds * 0.3
            redis_restart_at = started + seconds * 0.6
            redis_restarted = False
            say(f"chaos for {seconds:.0f} s")
            while time.monotonic() < end:
                now = time.monotonic()
                if watch.off_loopback:
                    raise RuntimeError(f"a monitored server off loopback: {watch.off_loopback}")
                for death in fleet.restart_the_dead():
                    say(f"a process died on its own: {death}")
                    deaths.append(death)
                if now >= next_change:
                    changes()
                    next_change += interval_s
                if both_tickers_at and now >= both_tickers_at:
                    both_tickers_at = 0
                    say("both tickers SIGKILLed; restarted once no ticker heartbeat is alive (a new epoch)")
                    fleet.kill("ticker-a")
                    fleet.kill("ticker-b")
                    wait_for(
                        lambda: not client.zrangebyscore(Keys.heartbeats("ticker"), redis_now(client) * 1000, "+inf"),
                        30,
                        "the killed tickers' heartbeats gone",
                        interval=0.2,
                    )
                    fleet.start("ticker-a")
                    fleet.start("ticker-b")
                    epochs_forced += 1
                if not redis_restarted and now >= redis_restart_at:
                    redis_restarted = True
                    say("redis-server restarted")
                    server.restart()
                if now >= next_kill:
                    victim = rng.choice(("ticker-a", "ticker-b", "ticker-a", "ticker-b", "worker-b", "worker-b"))
                    if fleet.alive(victim):
                        fleet.kill(victim)
                        time.sleep(rng.uniform(0.2, 3.0))  # down a while: its work is someone else's
                        fleet.start(victim)
                    next_kill = time.monotonic() + rng.uniform(*kill_every_s)
                time.sleep(0.1)
            chaos_s = time.monotonic() - started
            for name in STAND_INS:
                getattr(sandbox, name).faults.update(**{k: 0.0 for k in FAULT_RATES})
            figures["faults injected"] = {
                name: dict(Counter(getattr(sandbox, name).counters.faults) - before[name]) for name in STAND_INS
            }
            figures["requests under faults"] = {
                name: getattr(sandbox, name).counters.total() - asked[name] for name in STAND_INS
            }
            for name in Fleet.COMMANDS:
                if not fleet.alive(name) and fleet.processes[name].pid in fleet.killed_at:
                    fleet.start(name)
            deaths += fleet.restart_the_dead()
            say("faults off, world still; waiting for the incident claims taken under faults to lapse")
            clean_at = time.monotonic()
            # Only the claims that exist now were taken under faults: each is waited out (gone, or
            # past the TTL it had now). Claims taken after this, by incidents the world (now still) calls
            # for, are the clean cycles' own business.
            under_faults = claims_and_lapse(client)
            wait_for(
                lambda: all(time.monotonic() >= at or not client.exists(key) for key, at in under_faults.items()),
                incident_opener.CLAIM_MS / 1000 + 10,
                "incident claims taken under faults lapsed",
            )
            rounds = []
            for number in (1, 2):
                since = redis_now(client)
                for task in PERIODIC:
                    deaths += fleet.restart_the_dead()
                    wait_for(
                        lambda task=task, since=since: cycle_done(client, task, since),
                        converge_timeout_s,
                        f"clean cycle {number} of {task.value}",
                    )
                rounds.append(time.monotonic())
                say(f"clean cycle {number} done")
            figures["convergence"] = (
                f"claims lapsed and two clean cycles in {rounds[-1] - clean_at:.0f} s "
                f"(cycle 1 ended at +{rounds[0] - clean_at:.0f} s)"
            )
        finally:
            stop_sampling.set()
            deaths += fleet.the_dead()
            fleet.stop_all()
        records = run_records(client)
        during = [r for r in records if not r.will_retry]
        figures["world changes"] = f"{changes.cycles} cycles: " + ", ".join(
            f"{k} {v}" for k, v in sorted(changes.done.items())
        )
        figures["SIGKILLs"] = dict(fleet.kills) | {"both tickers at once": epochs_forced}
        figures["redis restarts"] = 1
        figures["runs"] = {t.value: dict(Counter(r.outcome.value for r in during if r.task is t)) for t in TaskName}
        figures["retried attempts"] = sum(1 for r in records if r.will_retry)
        figures["chaos"] = f"{chaos_s:.0f} s"
        invariants = check_invariants(client, sandbox, seeded, watch, epochs_forced)
        invariants.insert(0, Invariant("no process dies on its own (only the soak's SIGKILLs)", deaths))
        client.close()
    return SoakReport(seconds, invariants, figures)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600, help="seconds of chaos before convergence (600)")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--interval", type=int, default=10, help="every task's schedule and the world's cycle, s")
    parser.add_argument("--logs", type=Path, default=None, help="where the processes' logs go (a new temp dir)")
    args = parser.parse_args(argv)
    report = run_soak(args.seconds, seed=args.seed, interval_s=args.interval, log_dir=args.logs)
    print(report.render(), flush=True)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
