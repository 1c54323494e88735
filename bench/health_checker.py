"""health_checker benchmark: a 10,000-server fleet checked over an emulated 50 ms RTT link, beside
the ways an operator would otherwise do it, all measured in the same run against the same hosts.

The link: ``sandbox.latency`` (its own process) sits in front of every fleet host and adds a one-way
delay to every TCP segment (``--rtt-ms``, 50 by default; the TCP handshake is emulated too), and
1 % of the hosts (every 100th) answer ``--slow-s`` (2 s) late. Every client below goes through it.

- ours: ONE real worker process (``python -m actors``) at ``HEALTH_SSH_CONCURRENCY`` 100, 300 and
  1,000, on a real Redis (``REDIS_URL``'s database 13, flushed; else an embedded redis-server), the
  platform API stand-in (SQLite) seeded with one Server record per host, a tick sent as the ticker
  sends it; the clock runs from the tick's enqueue to the last batch's health report.
- the floor, not a peer: a bare asyncssh client (connect, run the probe's script, discard the output,
  close; no Redis, no API, no parsing) in its own process, against the same hosts. Its CPU per check is
  what the worker's CPU per check is compared with.
- Ansible at its best: ONE ``ansible all -m raw`` call running the same script, ``-f 50`` and ``-f 200``,
  settings tuned for speed (see ``ANSIBLE_SETTINGS``), on the first ``--ansible-hosts`` hosts. The old
  way (three ``ansible`` calls, one per command) is one extra, labelled row.
- sequential: one ``ssh host SCRIPT`` per server, one after another (the earlier platform's way), on
  the first ``--sample`` hosts (1 % of them slow, like the fleet), extrapolated linearly.

Every headline figure is the median of ``--repeat`` runs, printed with its min–max. The fleet, the
proxy, Redis, the platform API and the client share the machine's cores; their CPU is printed.

    .venv/bin/python bench/health_checker.py                       # the full run (~25 min on 2 cores)
    .venv/bin/python bench/health_checker.py --hosts 1000 --repeat 1 --ansible-hosts 200 --sample 20   # a quick look

Needs ``ansible-core`` (the ``bench`` extra) and ``ssh`` on the PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncssh
import psutil
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actors.adapters.ssh.probe import (  # noqa: E402
    CIPHER_PREFERENCE,
    COMMAND_ENV,
    DOCKER_INFO_COMMAND,
    DOCKER_PS_COMMAND,
    KEX_PREFERENCE,
    ProbeConfig,
    SshProbe,
    df_command,
    health_script,
)
from contracts import RUNS_STREAM, Keys, RunRecord, TaskName, Tick, TickReason  # noqa: E402
from contracts.health import CheckTarget  # noqa: E402
from contracts.platform import ServerCreate, ServerStatus  # noqa: E402
from process.embedded import EmbeddedRedis  # noqa: E402
from sandbox.http import ServedApp  # noqa: E402
from sandbox.platform.api import DEFAULT_API_KEY, create_app  # noqa: E402
from ticker.emit import TickEmitter  # noqa: E402

PY = sys.executable
SCRIPT = health_script(("/",))  # the one script every contender runs
OLD_COMMANDS = [df_command(("/",)), DOCKER_INFO_COMMAND, DOCKER_PS_COMMAND]
BATCH_SIZE = 100  # HEALTH_BATCH_SIZE's default
#: What "Ansible at its best" means here (printed with the results).
ANSIBLE_SETTINGS = {
    "module": "raw (no Python on the target, no file transfer: pipelining is moot)",
    "ssh_args": "-o ControlMaster=no -o PreferredAuthentications=publickey -o GSSAPIAuthentication=no "
    "-o KexAlgorithms=curve25519-sha256 -o Ciphers=aes128-gcm@openssh.com "
    "-o StrictHostKeyChecking=yes -o UserKnownHostsFile=<the fleet's> -o BatchMode=yes",
    "why no ControlPersist": "one command per host per run: a master connection could only serve a later "
    "run, i.e. skip the connect that is part of the job (and keep 10,000 ssh "
    "processes alive); ControlMaster=auto measured no faster for a single command",
    "usetty": "False (no pty request: one round trip less per host)",
    "gathering": "explicit (ad-hoc never gathers; set anyway)",
    "internal_poll_interval": "0.001 (the default, said explicitly)",
    "retries": "0; host_key_checking: True (known_hosts, as ours)",
}


def raise_open_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by the fleet, proxy and workers


def machine_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {one:.2f} {five:.2f} {fifteen:.2f} at start"


# --------------------------------------------------------------------------- the world: fleet, link, API


def read_until(process: subprocess.Popen, prefix: str, label: str) -> list[str]:
    lines = []
    for line in process.stdout:
        print(f"  {label}:", line.rstrip(), flush=True)
        lines.append(line.rstrip())
        if line.startswith(prefix):
            return lines
    raise SystemExit(f"{label} did not start")


def start_fleet(hosts: int, directory: Path) -> subprocess.Popen:
    fleet = subprocess.Popen(
        [PY, "-m", "sandbox.ssh.serve", "--hosts", str(hosts), "--dir", str(directory)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    read_until(fleet, "SSH_KNOWN_HOSTS=", "fleet")
    return fleet


def start_link(fleet_dir: Path, link_dir: Path, rtt_ms: float, slow_s: float) -> subprocess.Popen | None:
    """The latency proxy in its own process (its CPU is not the client's); None at 0 ms (direct)."""
    if rtt_ms <= 0:
        link_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(fleet_dir / "known_hosts", link_dir / "known_hosts")
        return None
    proxy = subprocess.Popen(
        [
            PY,
            "-m",
            "sandbox.latency",
            "--known-hosts",
            str(fleet_dir / "known_hosts"),
            "--dir",
            str(link_dir),
            "--rtt-ms",
            str(rtt_ms),
            "--slow-every",
            "100",
            "--slow-s",
            str(slow_s),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    read_until(proxy, "READY", "latency proxy")
    return proxy


def read_hosts(known_hosts: Path) -> list[tuple[str, int]]:
    out = []
    for line in known_hosts.read_text().splitlines():
        address, port = line.split()[0][1:].split("]:")
        out.append((address, int(port)))
    return out


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


@dataclass
class Sample:
    seconds: float
    servers: int
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process group during the run


@dataclass
class Result:
    name: str
    samples: list[Sample]
    extra: bool = False  # a labelled extra row, not a peer a goal is read against

    def rates(self) -> list[float]:
        return [s.servers / s.seconds for s in self.samples]

    @property
    def rate(self) -> float:
        return statistics.median(self.rates())

    def cpu_ms_per_check(self, group: str) -> float | None:
        values = [s.cpu[group] / s.servers * 1000 for s in self.samples if group in s.cpu]
        return statistics.median(values) if values else None


# --------------------------------------------------------------------------- ours


def worker_env(base: dict, concurrency: int) -> dict:
    """The worker's configuration. Its actor threads bound the batches in flight (a thread waits for
    its batch's coroutine), so at most ``WORKER_THREADS x HEALTH_BATCH_SIZE`` checks run at once
    whatever ``HEALTH_SSH_CONCURRENCY`` says: give it enough threads for the concurrency asked."""
    threads = max(8, math.ceil(concurrency / BATCH_SIZE) + 2)
    return {
        **base,
        "HEALTH_SSH_CONCURRENCY": str(concurrency),
        "HEALTH_BATCH_SIZE": str(BATCH_SIZE),
        "WORKER_THREADS": str(threads),
    }


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


def stop(processes: list[subprocess.Popen]) -> None:
    for p in processes:
        p.terminate()
    for p in processes:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()


def run_tick(client: redis.Redis, slot: int, expected: int, deadline_s: float) -> tuple[float, dict]:
    """Send one health_checker tick; wait until every batch reported. This is the bench's one coupling to
    the service's internals: the tick contract, the run record and the slot's stats hash."""
    now = datetime.now(UTC)
    tick = Tick(
        task=TaskName.HEALTH_CHECKER,
        slot=slot,
        scheduled_at=now,
        deadline=now + timedelta(seconds=deadline_s),
        reason=TickReason.MANUAL,
        emitted_by="bench",
    )
    started = time.perf_counter()
    TickEmitter(client).enqueue(tick)
    batches = None
    while time.perf_counter() - started < deadline_s + 60:
        if batches is None:
            for _, fields in client.xrange(RUNS_STREAM):
                record = RunRecord.model_validate_json(fields[b"data"])
                if record.slot == slot:
                    if record.error:
                        raise SystemExit(f"the tick failed: {record.error}")
                    batches = record.counters["batches"]
        stats = {k.decode(): int(v) for k, v in client.hgetall(Keys.health_slot(slot)).items()}
        if batches is not None and stats.get("batches_done", 0) + stats.get("batches_failed", 0) >= batches:
            elapsed = time.perf_counter() - started
            if stats.get("checked", 0) != expected:
                print(f"  note: {stats.get('checked', 0)} of {expected} checked: {stats}", flush=True)
            return elapsed, stats
        time.sleep(0.02)
    raise SystemExit(f"slot {slot} did not finish")


def measure_ours(
    concurrency: int, args, env: dict, client: redis.Redis, pids: dict, work: Path, slot: int, monitor
) -> tuple[Result, int]:
    """One worker process at ``concurrency``: a warm-up tick on ``--warmup-hosts`` servers, then ``--repeat`` on all."""
    worker = start_worker(worker_env(env, concurrency), client, work / f"worker-{concurrency}.log")
    groups = {**pids, "client": [worker.pid]}
    samples = []
    try:
        for label, size in [("warm-up", min(args.warmup_hosts, args.hosts))] + [("run", args.hosts)] * args.repeat:
            monitor(size)
            slot += 1
            before = {k: cpu_seconds(v) for k, v in groups.items()}
            elapsed, stats = run_tick(client, slot, size, args.deadline_s)
            cpu = {k: cpu_seconds(v) - before[k] for k, v in groups.items()}
            checked = stats.get("checked", 0)
            print(
                f"  ours, concurrency {concurrency} ({label}): {elapsed:.2f} s, checked {checked}, "
                f"cut {stats.get('cut', 0)}; CPU s: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()),
                flush=True,
            )
            if label == "run":
                samples.append(Sample(elapsed, checked, cpu))
    finally:
        stop([worker])
    return Result(f"ours: 1 worker process, concurrency {concurrency}", samples), slot


# --------------------------------------------------------------------------- the floor: a bare asyncssh client


def measure_client(
    mode: str, hosts_file: Path, key: Path, count: int, concurrency: int, repeat: int, pids: dict
) -> Result:
    """The bare client (``mode`` "bare") or our probe alone ("probe"), in a process of its own."""
    samples = []
    for run in range(repeat + 1):  # the first is a warm-up on fewer hosts, as ours gets one
        before = {k: cpu_seconds(v) for k, v in pids.items()}
        out = subprocess.run(
            [
                PY,
                __file__,
                "--client",
                mode,
                "--known-hosts",
                str(hosts_file),
                "--key",
                str(key),
                "--hosts",
                str(count if run else min(count, 1000)),
                "--concurrency",
                str(concurrency),
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        cpu = {k: cpu_seconds(v) - before[k] for k, v in pids.items()}
        seconds, own_cpu = map(float, out.stdout.split())
        print(
            f"  {mode} client, concurrency {concurrency}{' (warm-up)' if run == 0 else ''}: "
            f"{seconds:.2f} s, CPU {own_cpu:.1f} s",
            flush=True,
        )
        if run:
            samples.append(Sample(seconds, count, {**cpu, "client": own_cpu}))
    if mode == "bare":
        return Result(f"floor: bare asyncssh client, concurrency {concurrency}", samples, extra=True)
    return Result(f"extra: our SshProbe alone, concurrency {concurrency}", samples, extra=True)


def probe_alone(hosts: list[tuple[str, int]], hosts_file: Path, key_path: Path, concurrency: int):
    """A coroutine function running ``SshProbe.check`` on every host, nothing else (no Redis, API, Dramatiq):
    what the gap between the worker and the bare client is made of. The bench's one coupling to the probe."""
    probe = SshProbe(ProbeConfig(private_key_path=key_path, known_hosts_path=hosts_file, concurrency=concurrency))
    targets = [CheckTarget(handle=f"vps-{n}", host=a, ssh_port=p, ssh_user="root") for n, (a, p) in enumerate(hosts)]

    async def run_all() -> None:
        failed = [r for r in await asyncio.gather(*(probe.check(t) for t in targets)) if r.findings]
        if failed:
            raise SystemExit(f"probe: {len(failed)} of {len(hosts)} hosts had findings: {failed[0].findings}")

    return run_all


def bare_client(hosts: list[tuple[str, int]], hosts_file: Path, key_path: Path, concurrency: int):
    """A coroutine function that connects, runs the probe's script and closes, per host, with plain asyncssh."""
    known_hosts = asyncssh.read_known_hosts(str(hosts_file))
    key = asyncssh.read_private_key(key_path)

    class Drain(asyncssh.SSHClientSession):  # the cheapest public way to run a command: no streams
        def connection_made(self, chan):
            self.done = asyncio.get_running_loop().create_future()

        def connection_lost(self, exc):
            self.done.set_result(None)

    async def check(address: str, port: int, gate: asyncio.Semaphore) -> int | None:
        async with (
            gate,
            asyncssh.connect(
                address,
                port,
                username="root",
                client_keys=[key],
                known_hosts=known_hosts,
                agent_path=None,
                config=None,
                preferred_auth="publickey",
                kex_algs=KEX_PREFERENCE,
                encryption_algs=CIPHER_PREFERENCE,
                connect_timeout=30,
            ) as conn,
        ):
            channel, session = await conn.create_session(Drain, SCRIPT, env=COMMAND_ENV, encoding=None)
            channel.write_eof()
            await session.done
            return channel.get_exit_status()

    async def run_all() -> None:
        gate = asyncio.Semaphore(concurrency)
        statuses = await asyncio.gather(*(check(a, p, gate) for a, p in hosts))
        if statuses.count(0) != len(hosts):
            raise SystemExit(f"bare client: {statuses.count(0)} of {len(hosts)} hosts answered")

    return run_all


def client_process(mode: str, hosts_file: Path, key_path: Path, count: int, concurrency: int) -> None:
    """``mode`` "bare" (plain asyncssh) or "probe" (our ``SshProbe``) on the first ``count`` hosts, ``concurrency``
    at once; prints the seconds and this process's CPU seconds."""

    hosts = read_hosts(hosts_file)[:count]
    make = bare_client if mode == "bare" else probe_alone
    run_all = make(hosts, hosts_file, key_path, concurrency)
    cpu0, started = time.process_time(), time.perf_counter()
    asyncio.run(run_all())
    print(f"{time.perf_counter() - started:.4f} {time.process_time() - cpu0:.4f}")


# --------------------------------------------------------------------------- peers: Ansible, sequential ssh


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ansible_setup(
    hosts: list[tuple[str, int]],
    link_dir: Path,
    key: Path,
    work: Path,
    forks: int,
    multiplex: str = "-o ControlMaster=no",
) -> tuple[list, dict]:
    inventory = work / "inventory.ini"
    inventory.write_text("[fleet]\n" + "".join(f"{a} ansible_port={p}\n" for a, p in hosts))
    config = work / f"ansible-{forks}.cfg"
    config.write_text(f"""[defaults]
host_key_checking = True
forks = {forks}
gathering = explicit
internal_poll_interval = 0.001
stdout_callback = ansible.builtin.oneline
[ssh_connection]
ssh_args = {multiplex} -o PreferredAuthentications=publickey -o GSSAPIAuthentication=no \
-o KexAlgorithms=curve25519-sha256 -o Ciphers=aes128-gcm@openssh.com -o UserKnownHostsFile={link_dir / "known_hosts"} \
-o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes
usetty = False
retries = 0
control_path_dir = {work / f"cp-{time.monotonic_ns()}"}
""")
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(config),
        "ANSIBLE_LOCAL_TEMP": str(work / "tmp"),
        "ANSIBLE_HOME": str(work / "home"),
    }
    argv = [
        str(Path(PY).parent / "ansible"),
        "all",
        "-i",
        str(inventory),
        "-m",
        "raw",
        "-f",
        str(forks),
        "-u",
        "root",
        "--private-key",
        str(key),
    ]
    return argv, env


def run_ansible(argv: list, env: dict, command: str, expected: int) -> None:
    raw = command.replace("{{", "{% raw %}{{").replace("}}", "}}{% endraw %}")  # keep Jinja off docker's templates
    out = subprocess.run(argv + ["-a", raw], env=env, capture_output=True, text=True)
    ok = sum(1 for line in out.stdout.splitlines() if " | CHANGED " in line or " | SUCCESS " in line)
    if ok != expected:
        print(f"  ansible: {ok} of {expected} hosts answered: {out.stderr[-300:]}", flush=True)


def measure_ansible(
    hosts, link_dir, key, work, forks: int, repeat: int, commands: list[str], name: str, pids: dict, extra: bool = False
) -> Result:
    argv, env = ansible_setup(hosts, link_dir, key, work, forks)
    samples = []
    for _ in range(repeat):
        before, own = {k: cpu_seconds(v) for k, v in pids.items()}, children_cpu()
        started = time.perf_counter()
        for command in commands:
            run_ansible(argv, env, command, len(hosts))
        seconds = time.perf_counter() - started
        cpu = {k: cpu_seconds(v) - before[k] for k, v in pids.items()}
        samples.append(Sample(seconds, len(hosts), {**cpu, "client": children_cpu() - own}))
        print(f"  {name}: {seconds:.2f} s for {len(hosts)} hosts", flush=True)
    return Result(name, samples, extra)


def measure_sequential(hosts, link_dir, key, repeat: int, pids: dict) -> Result:
    """The earlier platform's way: one ``ssh host SCRIPT`` per server, one after another."""
    base = [
        "ssh",
        "-F",
        "/dev/null",
        "-i",
        str(key),
        "-o",
        "BatchMode=yes",
        "-o",
        "ControlMaster=no",
        "-o",
        f"UserKnownHostsFile={link_dir / 'known_hosts'}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "StrictHostKeyChecking=yes",
        "-l",
        "root",
    ]
    samples = []
    for _ in range(repeat):
        before, own = {k: cpu_seconds(v) for k, v in pids.items()}, children_cpu()
        started = time.perf_counter()
        for address, port in hosts:
            subprocess.run(base + ["-p", str(port), address, SCRIPT], check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        cpu = {k: cpu_seconds(v) - before[k] for k, v in pids.items()}
        samples.append(Sample(seconds, len(hosts), {**cpu, "client": children_cpu() - own}))
        print(f"  sequential ssh: {seconds:.2f} s for {len(hosts)} hosts", flush=True)
    return Result(f"sequential: one ssh per server (on {len(hosts)}, extrapolated)", samples)


# --------------------------------------------------------------------------- the run


def main() -> None:
    parser = argparse.ArgumentParser(description="health_checker benchmark")
    parser.add_argument("--hosts", type=int, default=10_000, help="fleet size; ours and the floor check all of it")
    parser.add_argument("--concurrency", default="100,300,1000", help="HEALTH_SSH_CONCURRENCY values for ours")
    parser.add_argument("--rtt-ms", type=float, default=50.0, help="emulated round-trip time (0: direct)")
    parser.add_argument("--slow-s", type=float, default=2.0, help="how late 1 %% of the hosts answer")
    parser.add_argument("--ansible-hosts", type=int, default=500, help="hosts Ansible runs on")
    parser.add_argument("--ansible-forks", default="50,200")
    parser.add_argument("--old-ansible-hosts", type=int, default=200, help="hosts the 3-call Ansible row runs on")
    parser.add_argument("--sample", type=int, default=100, help="hosts the sequential peer runs on")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the median counts")
    parser.add_argument("--warmup-hosts", type=int, default=1000, help="hosts of the warm-up run before each series")
    parser.add_argument("--deadline-s", type=float, default=300.0, help="the tick's deadline (checks past it are cut)")
    parser.add_argument("--only-ours", action="store_true", help="skip the peers (for iterating; not a full run)")
    parser.add_argument("--no-probe-alone", action="store_true", help="skip the probe-alone row")
    parser.add_argument("--client", choices=("bare", "probe"), help=argparse.SUPPRESS)  # the floor's own process
    parser.add_argument("--known-hosts", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--key", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    raise_open_files()
    if args.client:
        client_process(args.client, args.known_hosts, args.key, args.hosts, int(args.concurrency))
        return
    args.machine = machine_line()
    print(f"health_checker benchmark: {args.machine}", flush=True)
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-health-"))
    fleet_dir, link_dir = work / "fleet", work / "link"
    key = fleet_dir / "id_ed25519"
    embedded = None
    base = os.environ.get("REDIS_URL")
    if not base:
        embedded = EmbeddedRedis().start()
        base = embedded.url
    url = base.rsplit("/", 1)[0] + "/13"
    client = redis.Redis.from_url(url)
    client.flushdb()
    fleet = start_fleet(args.hosts, fleet_dir)
    proxy = start_link(fleet_dir, link_dir, args.rtt_ms, args.slow_s)
    hosts = read_hosts(link_dir / "known_hosts")
    app = create_app(str(work / "platform.sqlite3"))
    served = ServedApp(app).start()
    results: list[Result] = []
    pids = {
        "fleet": [fleet.pid],
        "proxy": [proxy.pid] if proxy else [],
        "redis + API": [os.getpid()] + ([embedded.process.pid] if embedded else []),
    }
    try:
        app.store.bulk_insert_servers(
            ServerCreate(
                handle=f"vps-{n}",
                host=a,
                public_ip=a,
                is_managed=True,
                status=ServerStatus.READY,
                labels={"provider_id": str(n), "ssh_port": p},
            )
            for n, (a, p) in enumerate(hosts, start=1)
        )

        def monitor(count: int) -> None:  # the first `count` servers are monitored, the rest are reserved
            app.store.execute_sql(
                "UPDATE servers SET status = CASE WHEN CAST(json_extract(labels, "
                "'$.provider_id') AS INTEGER) <= ? THEN 'ready' ELSE 'reserved' END",
                (count,),
            )

        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "REDIS_URL": url,
            "API_BASE_URL": served.url,
            "INTERNAL_API_KEY": DEFAULT_API_KEY,
            "SSH_PRIVATE_KEY_PATH": str(key),
            "SSH_KNOWN_HOSTS": str(link_dir / "known_hosts"),
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "WARNING",
        }
        slot = 1_000_000
        for concurrency in concurrencies:
            result, slot = measure_ours(concurrency, args, env, client, pids, work, slot, monitor)
            results.append(result)
        for mode in ("bare",) if args.no_probe_alone else ("bare", "probe"):
            results.append(
                measure_client(mode, link_dir / "known_hosts", key, args.hosts, max(concurrencies), args.repeat, pids)
            )
        if not args.only_ours:
            results += measure_peers(args, hosts, link_dir, key, work, pids)
    finally:
        served.stop()
        stop([p for p in (proxy, fleet) if p])
        if proxy:
            print("  latency proxy:", proxy.stdout.read().strip(), flush=True)
        client.close()
        if embedded:
            embedded.close()
        shutil.rmtree(work, ignore_errors=True)
    report(results, args, embedded is not None)


def measure_peers(args, hosts, link_dir, key, work, pids) -> list[Result]:
    out = []
    ansible_hosts = hosts[: args.ansible_hosts]
    for forks in (int(f) for f in args.ansible_forks.split(",")):
        out.append(
            measure_ansible(
                ansible_hosts,
                link_dir,
                key,
                work,
                forks,
                args.repeat,
                [SCRIPT],
                f"Ansible: one raw call, -f {forks} (on {len(ansible_hosts)})",
                pids,
            )
        )
    old = hosts[: args.old_ansible_hosts]
    out.append(
        measure_ansible(
            old,
            link_dir,
            key,
            work,
            50,
            1,
            OLD_COMMANDS,
            f"extra: old Ansible peer, 3 raw calls, -f 50 (on {len(old)}, 1 run)",
            pids,
            extra=True,
        )
    )
    out.append(measure_sequential(hosts[: args.sample], link_dir, key, args.repeat, pids))
    return out


# --------------------------------------------------------------------------- the report


def spread(values: list[float], fmt: str = "{:.1f}") -> str:
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def short(name: str) -> str:
    kind = "ours" if name.startswith("ours") else "bare client" if name.startswith("floor") else "probe alone"
    return f"{kind} c={name.split('concurrency ')[-1]}"


def report(results: list[Result], args, embedded: bool) -> None:
    ours = [r for r in results if r.name.startswith("ours")]
    floor = next(r for r in results if r.name.startswith("floor"))
    alone = next((r for r in results if "SshProbe alone" in r.name), None)
    ansible = [r for r in results if r.name.startswith("Ansible")]
    sequential = next((r for r in results if r.name.startswith("sequential")), None)
    best_ansible = max(ansible, key=lambda r: r.rate) if ansible else None
    print(
        f"\nhealth_checker at {args.rtt_ms:g} ms RTT, 1 % of hosts {args.slow_s:g} s late; {args.hosts:,} hosts; "
        f"redis {'embedded' if embedded else 'REDIS_URL'}; medians of {args.repeat} (min–max); {args.machine}; "
        "the machine is shared"
    )
    head = (
        f"{'':<58}{'servers':>8}{'time s':>22}{'servers/s':>22}{'10k s':>8}{'vs best Ansible':>16}"
        f"{'vs sequential':>15}{'client CPU ms/check':>21}"
    )
    print(head + "\n" + "-" * len(head))
    for r in results:
        rates = r.rates()
        vs_a = f"{r.rate / best_ansible.rate:.1f}x" if best_ansible else "-"
        vs_s = f"{r.rate / sequential.rate:.1f}x" if sequential else "-"
        cpu = r.cpu_ms_per_check("client")
        print(
            f"{r.name:<58}{r.samples[0].servers:>8,}{spread([s.seconds for s in r.samples], '{:.2f}'):>22}"
            f"{spread(rates):>22}{10_000 / r.rate:>8.0f}{vs_a:>16}{vs_s:>15}{(f'{cpu:.2f}' if cpu else '-'):>21}"
        )
    print(
        "\nCPU per check (ms, medians) of the processes sharing the cores: "
        + "; ".join(
            f"{short(r.name)}: "
            + ", ".join(
                f"{g} {r.cpu_ms_per_check(g):.2f}"
                for g in ("client", "fleet", "proxy", "redis + API")
                if r.cpu_ms_per_check(g) is not None
            )
            for r in ours + [floor] + ([alone] if alone else [])
        )
    )
    same = next((r for r in ours if r.name.endswith(f"concurrency {args.concurrency.split(',')[-1]}")), ours[-1])
    ratio = same.cpu_ms_per_check("client") / floor.cpu_ms_per_check("client")
    alone_ratio = alone.cpu_ms_per_check("client") / floor.cpu_ms_per_check("client") if alone else None
    print(
        f"worker CPU per check / bare client's, same concurrency: {ratio:.2f}x (goal <= 1.25x)"
        + (f"; our probe alone / bare client: {alone_ratio:.2f}x" if alone else "")
    )
    best = max(ours, key=lambda r: r.rate)
    goals = [
        f"{args.hosts:,} servers in <= 60 s: {min(statistics.median(s.seconds for s in r.samples) for r in ours):.1f} s"
    ]
    if sequential:
        goals.append(f">= 50x sequential: {best.rate / sequential.rate:.0f}x")
    if best_ansible:
        goals.append(
            f">= 10x Ansible at its best ({best_ansible.name.split(' (')[0]}): {best.rate / best_ansible.rate:.1f}x"
        )
    print("goals: " + "; ".join(goals))
    if best_ansible:
        print("Ansible settings: " + "; ".join(f"{k}: {v}" for k, v in ANSIBLE_SETTINGS.items()))


if __name__ == "__main__":
    main()
