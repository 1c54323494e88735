"""health_checker with kept SSH connections (issue 23): 10,000 servers at 50 ms RTT, one worker, beside
today's per-check connections, the bare asyncssh client floor and Ansible with warm ControlPersist masters.

The world is bench/health_checker.py's (the sandbox fleet behind ``sandbox.latency``, 1 % of hosts 2 s late,
the platform API stand-in, a real Redis) with one difference: 10,000 *open* connections need more file
descriptors than one process may have here (hard limit 20,000: a fleet process holds a listener and a
connection per host, a proxy a listener and two sockets per host), so the fleet and the link run as
``--fleets`` processes of ``hosts / fleets`` hosts each (the worker's client key authorised on all).

Rows (medians of ``--repeat``, min–max):
- ours, kept connections, **cold**: a fresh worker process's first tick (every connection made);
- ours, kept connections, **steady**: the next ticks of the same worker (connections warm);
- ours, per-check connections (``HEALTH_SSH_POOL_MAX=0``): today's way, after a warm-up tick;
- floor: the bare asyncssh client (connect, run the script, close), bench/health_checker.py's;
- Ansible, one raw call, ``-f 50``, ``ControlMaster=auto ControlPersist=600s`` (longer than the 2-minute
  interval), on ``--ansible-hosts``: the first run makes the masters, the next runs are measured warm.

Memory per open connection: the worker's RSS after a cold tick (10,000 kept) minus its RSS after a tick
without a pool, over the connections kept. Logins per server per day: the fleet's accepted connections
per steady tick × 720, plus the reconnects ``HEALTH_SSH_MAX_AGE_S`` forces (86,400 / max age).

    .venv/bin/python bench/health_pool.py                        # the full run (~15 min on 2 cores)
    .venv/bin/python bench/health_pool.py --hosts 2000 --repeat 1 --ansible-hosts 100   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import ipaddress
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncssh
import psutil
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import health_checker as hcb  # noqa: E402  (bench/health_checker.py: the world, the tick driver, the floor)

from actors.adapters.ssh.pool import PoolConfig  # noqa: E402
from actors.adapters.ssh.probe import ProbeConfig, SshProbe  # noqa: E402
from contracts.health import CheckTarget  # noqa: E402
from contracts.platform import ServerCreate, ServerStatus  # noqa: E402
from process.embedded import EmbeddedRedis  # noqa: E402
from sandbox.http import ServedApp  # noqa: E402
from sandbox.platform.api import DEFAULT_API_KEY, create_app  # noqa: E402

PY = sys.executable
FLEET_BASE = ipaddress.ip_address("127.1.0.1")
FLEET_STRIDE = 1 << 13  # 8,192 addresses per fleet process (5,000 hosts skip .0 and .255): 127.1.0.1, 127.1.32.1...
DAY_S, INTERVAL_S = 86_400, 120


def start_world(hosts: int, fleets: int, work: Path, rtt_ms: float, slow_s: float):
    """``fleets`` fleet processes and one latency proxy each; one known_hosts for the clients."""
    per = -(-hosts // fleets)
    procs, known = [], []
    own_key = None
    for n in range(fleets):
        count = min(per, hosts - n * per)
        fleet_dir, link_dir = work / f"fleet-{n}", work / f"link-{n}"
        argv = [
            PY,
            "-m",
            "sandbox.ssh.serve",
            "--hosts",
            str(count),
            "--dir",
            str(fleet_dir),
            "--first-address",
            str(FLEET_BASE + n * FLEET_STRIDE),
        ]
        if own_key is not None:
            argv += ["--authorize", str(own_key.with_suffix(".pub"))]
        fleet = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        hcb.read_until(fleet, "SSH_KNOWN_HOSTS=", f"fleet {n}")
        own_key = own_key or fleet_dir / "id_ed25519"
        proxy = hcb.start_link(fleet_dir, link_dir, rtt_ms, slow_s)
        procs.append(("fleet", fleet))
        if proxy:
            procs.append(("proxy", proxy))
        known.append((link_dir / "known_hosts").read_text())
    known_hosts = work / "known_hosts"
    known_hosts.write_text("".join(known))
    return procs, known_hosts, own_key


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def fleet_connections(procs) -> int:
    """TCP connections the fleet processes hold open right now (ESTABLISHED, their side)."""
    total = 0
    for role, p in procs:
        if role == "fleet":
            total += sum(1 for c in psutil.Process(p.pid).net_connections("tcp") if c.status == "ESTABLISHED")
    return total


def ticks(worker, client, groups, slot, count, hosts, deadline_s, label, logins_before=None):
    """``count`` ticks on every host; one sample (seconds, checked, CPU by group) per tick."""
    out = []
    for _ in range(count):
        slot += 1
        before = {k: hcb.cpu_seconds(v) for k, v in groups.items()}
        elapsed, stats = hcb.run_tick(client, slot, hosts, deadline_s)
        cpu = {k: hcb.cpu_seconds(v) - before[k] for k, v in groups.items()}
        print(
            f"  {label}: {elapsed:.2f} s, checked {stats.get('checked', 0)}, cut {stats.get('cut', 0)}; "
            f"CPU s: "
            + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
            + f"; worker RSS {rss_mb(worker.pid):.0f} MiB",
            flush=True,
        )
        out.append(hcb.Sample(elapsed, stats.get("checked", 0), cpu))
    return out, slot


def measure_ours(args, env, client, groups, procs, work, slot):
    cold, steady = [], []
    memory, new_per_steady_tick = [], []
    base = hcb.worker_env(env, args.concurrency)
    # today's way: a connection per check, a warm-up tick then ``repeat`` (its RSS is the baseline for memory)
    worker = hcb.start_worker({**base, "HEALTH_SSH_POOL_MAX": "0"}, client, work / "nopool.log")
    g = {**groups, "client": [worker.pid]}
    try:
        _, slot = ticks(worker, client, g, slot, 1, args.hosts, args.deadline_s, "per-check (warm-up)")
        nopool, slot = ticks(worker, client, g, slot, args.repeat, args.hosts, args.deadline_s, "per-check")
        rss_nopool = rss_mb(worker.pid)
    finally:
        hcb.stop([worker])
    for round_ in range(args.repeat):
        worker = hcb.start_worker(base, client, work / f"pool-{round_}.log")
        g = {**groups, "client": [worker.pid]}
        try:
            rss_started = rss_mb(worker.pid)
            samples, slot = ticks(worker, client, g, slot, 1, args.hosts, args.deadline_s, "kept, cold")
            cold += samples
            kept = fleet_connections(procs)
            memory.append((rss_mb(worker.pid) - rss_started) * 1024 / max(kept, 1))
            print(
                f"  kept connections: {kept}; worker RSS {rss_started:.0f} MiB at start, {rss_mb(worker.pid):.0f} MiB "
                f"after the cold tick: {memory[-1]:.1f} KiB per kept connection, everything the tick left included "
                f"(the per-check worker ended at {rss_nopool:.0f} MiB)",
                flush=True,
            )
            for _ in range(args.steady):
                accepted = fleet_accepted(procs)
                samples, slot = ticks(worker, client, g, slot, 1, args.hosts, args.deadline_s, "kept, steady")
                steady += samples
                new_per_steady_tick.append(fleet_accepted(procs) - accepted)
        finally:
            hcb.stop([worker])
    return cold, steady, nopool, memory, new_per_steady_tick, slot


def fleet_accepted(procs) -> int:
    """Connections (logins) the fleet processes have accepted so far, by their own counters (SIGUSR1)."""
    total = 0
    for role, p in procs:
        if role == "fleet":
            p.send_signal(signal.SIGUSR1)
            line = next(line for line in p.stdout if line.startswith("COUNTS "))
            total += int(line.split()[1].split("=")[1])
    return total


def measure_ansible_warm(args, hosts, known_hosts, key, work, groups):
    """Ansible with ControlPersist: one run to make the masters, then ``repeat`` runs on warm masters."""
    ansible_hosts = hosts[: args.ansible_hosts]
    persist = "-o ControlMaster=auto -o ControlPersist=600s"
    argv, env = hcb.ansible_setup(ansible_hosts, known_hosts.parent, key, work, 50, multiplex=persist)
    control_dir = next(
        line.split(" = ", 1)[1]
        for line in Path(env["ANSIBLE_CONFIG"]).read_text().splitlines()
        if line.startswith("control_path_dir")
    )
    samples = []
    try:
        for run in range(args.repeat + 1):
            before, own = {k: hcb.cpu_seconds(v) for k, v in groups.items()}, hcb.children_cpu()
            masters_cpu = masters_cpu_seconds(control_dir)
            started = time.perf_counter()
            hcb.run_ansible(argv, env, hcb.SCRIPT, len(ansible_hosts))
            seconds = time.perf_counter() - started
            cpu = {k: hcb.cpu_seconds(v) - before[k] for k, v in groups.items()}
            client_cpu = hcb.children_cpu() - own + masters_cpu_seconds(control_dir) - masters_cpu
            print(
                f"  Ansible ControlPersist, -f 50 ({'cold: masters made' if run == 0 else 'warm masters'}): "
                f"{seconds:.2f} s for {len(ansible_hosts)} hosts, client CPU {client_cpu:.1f} s; "
                f"masters alive: {len(masters(control_dir))}",
                flush=True,
            )
            if run:
                samples.append(hcb.Sample(seconds, len(ansible_hosts), {**cpu, "client": client_cpu}))
    finally:
        for proc in masters(control_dir):  # the masters this run started, by pid
            try:
                proc.terminate()
            except psutil.NoSuchProcess:
                pass
    return samples


def masters(control_dir: str) -> list[psutil.Process]:
    """The ssh ControlMaster processes of this run: ``ssh`` processes whose command line names its control dir."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if proc.info["name"] == "ssh" and any(control_dir in part for part in proc.info["cmdline"] or ()):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def masters_cpu_seconds(control_dir: str) -> float:
    total = 0.0
    for proc in masters(control_dir):
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def memory_process(known_hosts: Path, key: Path, count: int, concurrency: int) -> None:
    """KiB of RSS per kept connection, an upper bound: RSS after 20 per-check checks (every code path
    loaded), then after checking every host with the pool (all kept), over the connections kept; the
    transient allocations of ``concurrency`` handshakes at once are counted in it too."""
    hosts = hcb.read_hosts(known_hosts)[:count]
    targets = [CheckTarget(handle=f"vps-{n}", host=a, ssh_port=p) for n, (a, p) in enumerate(hosts)]

    def probe(pool: int) -> SshProbe:
        return SshProbe(
            ProbeConfig(
                private_key_path=key,
                known_hosts_path=known_hosts,
                concurrency=concurrency,
                pool=PoolConfig(max_open=pool, keepalive_s=0),
            )
        )

    async def run() -> tuple[float, float, int]:
        per_check, kept = probe(0), probe(count + 1)
        await asyncio.gather(*(per_check.check(t) for t in targets[-20:]))
        gc.collect()
        before = rss_mb(os.getpid())
        await asyncio.gather(*(kept.check(t) for t in targets))
        gc.collect()
        return before, rss_mb(os.getpid()), len(kept.pool())

    before, after, n = asyncio.run(run())
    print(f"{(after - before) * 1024 / n:.2f} {n} {before:.1f} {after:.1f}")


def session_floor_process(known_hosts: Path, key: Path, count: int, concurrency: int) -> None:
    """The least a check on a kept connection can cost with asyncssh: connect to every host (not timed),
    then ``2`` passes of one session each running the script (output discarded), timed with their CPU."""
    hosts = hcb.read_hosts(known_hosts)[:count]
    trusted = asyncssh.read_known_hosts(str(known_hosts))
    client_key = asyncssh.read_private_key(key)

    class Drain(asyncssh.SSHClientSession):
        def connection_made(self, chan):
            self.done = asyncio.get_running_loop().create_future()

        def connection_lost(self, exc):
            self.done.set_result(None)

    async def run() -> list[tuple[float, float]]:
        gate = asyncio.Semaphore(concurrency)

        async def connect(address, port):
            async with gate:
                return await asyncssh.connect(
                    address,
                    port,
                    username="root",
                    client_keys=[client_key],
                    known_hosts=trusted,
                    agent_path=None,
                    config=None,
                    preferred_auth="publickey",
                    kex_algs=hcb.KEX_PREFERENCE,
                    encryption_algs=hcb.CIPHER_PREFERENCE,
                    connect_timeout=60,
                )

        async def session(conn):
            async with gate:
                channel, drain = await conn.create_session(Drain, hcb.SCRIPT, env=hcb.COMMAND_ENV, encoding=None)
                channel.write_eof()
                await drain.done
                return channel.get_exit_status()

        conns = await asyncio.gather(*(connect(a, p) for a, p in hosts))
        passes = []
        for _ in range(2):
            cpu0, started = time.process_time(), time.perf_counter()
            statuses = await asyncio.gather(*(session(c) for c in conns))
            passes.append((time.perf_counter() - started, time.process_time() - cpu0))
            assert statuses.count(0) == len(hosts), statuses.count(0)
        for c in conns:
            c.close()
        return passes

    for seconds, cpu in asyncio.run(run()):
        print(f"{seconds:.4f} {cpu:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client-sessions", type=Path, help=argparse.SUPPRESS)  # the session floor's own process
    parser.add_argument("--client-memory", type=Path, help=argparse.SUPPRESS)  # the memory figure's own process
    parser.add_argument("--key", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--fleets", type=int, default=2, help="fleet (and proxy) processes the hosts are split over")
    parser.add_argument("--concurrency", type=int, default=1000, help="HEALTH_SSH_CONCURRENCY")
    parser.add_argument("--rtt-ms", type=float, default=50.0)
    parser.add_argument("--slow-s", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3, help="rounds: a per-check worker, then a pooled one")
    parser.add_argument("--steady", type=int, default=2, help="steady ticks per pooled worker")
    parser.add_argument("--ansible-hosts", type=int, default=500)
    parser.add_argument("--deadline-s", type=float, default=300.0)
    parser.add_argument("--skip-floor", action="store_true")
    parser.add_argument("--skip-ours", action="store_true")
    parser.add_argument("--skip-session-floor", action="store_true")
    parser.add_argument("--skip-ansible", action="store_true")
    args = parser.parse_args()
    hcb.raise_open_files()
    if args.client_memory:
        memory_process(args.client_memory, args.key, args.hosts, args.concurrency)
        return
    if args.client_sessions:
        session_floor_process(args.client_sessions, args.key, args.hosts, args.concurrency)
        return
    machine = hcb.machine_line()
    print(f"health_checker, kept connections: {machine}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="bench-pool-"))
    embedded = None
    base = os.environ.get("REDIS_URL")
    if not base:
        embedded = EmbeddedRedis().start()
        base = embedded.url
    url = base.rsplit("/", 1)[0] + "/8"
    client = redis.Redis.from_url(url)
    client.flushdb()
    procs, known_hosts, key = start_world(args.hosts, args.fleets, work, args.rtt_ms, args.slow_s)
    hosts = hcb.read_hosts(known_hosts)
    app = create_app(str(work / "platform.sqlite3"))
    served = ServedApp(app).start()
    groups = {
        "fleet": [p.pid for r, p in procs if r == "fleet"],
        "proxy": [p.pid for r, p in procs if r == "proxy"],
        "redis + API": [os.getpid()] + ([embedded.process.pid] if embedded else []),
    }
    results = {}
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
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "REDIS_URL": url,
            "API_BASE_URL": served.url,
            "INTERNAL_API_KEY": DEFAULT_API_KEY,
            "SSH_PRIVATE_KEY_PATH": str(key),
            "SSH_KNOWN_HOSTS": str(known_hosts),
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "WARNING",
        }
        memory, new_conns = [], []
        if not args.skip_ours:
            cold, steady, nopool, memory, new_conns, _ = measure_ours(args, env, client, groups, procs, work, 2_000_000)
            results.update(cold=cold, steady=steady, nopool=nopool)
        if not args.skip_floor:
            floor = hcb.measure_client("bare", known_hosts, key, args.hosts, args.concurrency, args.repeat, groups)
            results["floor"] = floor.samples
        if not args.skip_session_floor:
            results["sessions"] = []
            for _ in range(args.repeat):
                out = subprocess.run(
                    [
                        PY,
                        __file__,
                        "--client-sessions",
                        str(known_hosts),
                        "--key",
                        str(key),
                        "--hosts",
                        str(args.hosts),
                        "--concurrency",
                        str(args.concurrency),
                    ],
                    cwd=ROOT,
                    check=True,
                    capture_output=True,
                    text=True,
                )
                seconds, cpu = map(float, out.stdout.split()[-2:])  # the second pass: sessions on warm connections
                print(f"  bare sessions on kept connections: {seconds:.2f} s, CPU {cpu:.2f} s", flush=True)
                results["sessions"].append(hcb.Sample(seconds, args.hosts, {"client": cpu}))
        if not args.skip_ansible:
            results["ansible"] = measure_ansible_warm(args, hosts, known_hosts, key, work, groups)
        out = subprocess.run(
            [
                PY,
                __file__,
                "--client-memory",
                str(known_hosts),
                "--key",
                str(key),
                "--hosts",
                str(args.hosts),
                "--concurrency",
                str(args.concurrency),
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        clean_memory = [float(x) for x in out.stdout.split()]
        print(
            f"  memory, clean process: {clean_memory[0]:.1f} KiB per kept connection "
            f"({clean_memory[1]:.0f} kept; RSS {clean_memory[2]:.0f} -> {clean_memory[3]:.0f} MiB)",
            flush=True,
        )
    finally:
        served.stop()
        hcb.stop([p for _, p in procs])
        client.close()
        if embedded:
            embedded.close()
        shutil.rmtree(work, ignore_errors=True)
    report(results, memory, new_conns, args, machine, clean_memory[0])


def report(results, memory, new_conns, args, machine, clean_memory: float) -> None:
    def rate(samples):
        return statistics.median(s.servers / s.seconds for s in samples)

    def cpu_ms(samples, group="client"):
        return statistics.median(s.cpu[group] / s.servers * 1000 for s in samples)

    names = {
        "steady": "ours: kept connections, steady (warm)",
        "cold": "ours: kept connections, cold (first tick)",
        "nopool": "ours: per-check connections (today, HEALTH_SSH_POOL_MAX=0)",
        "floor": "floor: bare asyncssh client (connect, run, close)",
        "sessions": "floor: bare asyncssh sessions on kept connections",
        "ansible": f"Ansible -f 50, ControlPersist, warm masters (on {args.ansible_hosts})",
    }
    print(
        f"\nhealth_checker, kept connections, at {args.rtt_ms:g} ms RTT, 1 % of hosts {args.slow_s:g} s late; "
        f"{args.hosts:,} hosts; 1 worker, concurrency {args.concurrency}; medians (min–max); {machine}; "
        f"load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}; the machine is shared"
    )
    print(f"{'row':<62}{'n':>4}{'time s':>22}{'10k in s':>10}{'client ms/check':>17}{'fleet':>7}{'proxy':>7}")
    for key, name in names.items():
        samples = results.get(key)
        if not samples:
            continue
        seconds = [s.seconds for s in samples]
        line = (
            f"{name:<62}{len(samples):>4}{hcb.spread(seconds, '{:.2f}'):>22}{10_000 / rate(samples):>10.1f}"
            f"{cpu_ms(samples):>17.2f}"
        )
        for group in ("fleet", "proxy"):
            line += f"{cpu_ms(samples, group):>7.2f}" if all(group in s.cpu for s in samples) else f"{'-':>7}"
        print(line)
    steady, floor, ansible = results.get("steady"), results.get("floor"), results.get("ansible")
    if results.get("sessions") and floor:
        print(
            f"  bare sessions on kept connections / bare client, CPU per check: "
            f"{cpu_ms(results['sessions']) / cpu_ms(floor):.2f}x"
        )
    if not steady:
        return
    print("goals:")
    print(
        f"  steady 10,000 in <= 15 s: {10_000 / rate(steady):.1f} s; cold in <= 30 s: "
        f"{10_000 / rate(results['cold']):.1f} s"
    )
    if floor:
        print(
            f"  worker CPU per steady check / bare client's: {cpu_ms(steady) / cpu_ms(floor):.2f}x (goal <= 0.3x); "
            f"per-check worker / bare: {cpu_ms(results['nopool']) / cpu_ms(floor):.2f}x"
        )
    if ansible:
        print(
            f"  steady rate / Ansible warm masters: {rate(steady) / rate(ansible):.0f}x (goal >= 30x); "
            f"Ansible client CPU {cpu_ms(ansible):.1f} ms/host"
        )
    print(
        f"  memory per open connection (worker side): {clean_memory:.1f} KiB in a clean process; in the worker "
        f"(RSS after a cold tick - RSS of the per-check worker) / kept: {statistics.median(memory):.1f} KiB "
        f"({min(memory):.1f}–{max(memory):.1f}); goal <= 60 KB"
    )
    per_tick = statistics.median(new_conns) if new_conns else 0
    print(
        f"  logins per server per day at the defaults: {DAY_S / 3600:.0f} from HEALTH_SSH_MAX_AGE_S=3600 + "
        f"{per_tick / args.hosts * DAY_S / INTERVAL_S:.2f} from reconnects seen in steady ticks "
        f"(median {per_tick} new per tick) (goal <= 24; per-check: {DAY_S // INTERVAL_S})"
    )


if __name__ == "__main__":
    main()
