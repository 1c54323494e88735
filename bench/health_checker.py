"""health_checker benchmark: servers/s for 1,000 fleet hosts and the time for 10,000, with 1 and 2
worker processes, beside two peers measured on the same hosts in the same run.

- ours: real worker processes (``python -m actors``) on a real Redis (``REDIS_URL`` if set, its
  database 13 is flushed; else an embedded redis-server), the platform API stand-in (SQLite) on
  loopback seeded with one Server record per fleet host, a tick sent as the ticker sends it; the
  clock runs from the tick's enqueue to the last batch's writes (listing, fan-out, SSH, health
  reports). Each worker count gets one warm-up tick first (a worker is a long-running process).
- the fleet: ``python -m sandbox.serve_ssh_fleet`` in its own process (10,000 asyncssh hosts).
- peer 1, Ansible ad-hoc: ``ansible all -i INV -m raw -a CMD -f 50`` once per probe command (the
  same three strings; ``{% raw %}`` keeps Jinja off the ``{{json ...}}`` templates), the fleet's
  key and known_hosts, Ansible's default ControlPersist reusing each host's connection.
- peer 2, the earlier platform's way: one ``ssh`` subprocess per server, one server after another,
  running the same three commands (joined with ``;``), BatchMode, the fleet's key and known_hosts;
  measured on a sample and extrapolated linearly. This is the peer the 50x goal is read against.
- peer 2b, the same commands as three ``ssh`` runs through a ControlMaster connection per server
  (five ssh processes per server): the slower way one could also call "sequential".
- the floor, not a peer to beat: a bare asyncssh client (connect, run the probe's script on a
  session that discards the output, close; no Redis, no API, no parsing) against the same hosts
  with the same concurrency, in its own process. The fleet's servers share the two cores with
  the checker, so this is about the most any asyncssh-based checker can do on this machine;
  ours is reported as a share of it.

    .venv/bin/python bench/health_checker.py [--hosts 10000] [--small 1000] [--sample 100] [--repeat 3]

The 1,000-host figures (ours and the floor) are the median of ``--repeat`` runs: four busy processes
on two cores make single runs vary by 10-20 %.

Needs ``ansible-core`` in the venv (``.venv/bin/pip install ansible-core``) and ``ssh`` on the PATH.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actors.adapters.ssh.probe import DOCKER_INFO_COMMAND, DOCKER_PS_COMMAND, df_command, health_script  # noqa: E402
from actors.tasks.health_checker.task import slot_stats  # noqa: E402
from contracts import RUNS_STREAM, RunRecord, TaskName, Tick, TickReason  # noqa: E402
from contracts.platform import ServerCreate, ServerStatus  # noqa: E402
from sandbox.http import ServedApp  # noqa: E402
from sandbox.platform_api import DEFAULT_API_KEY, create_app  # noqa: E402
from scheduler.embedded import EmbeddedRedis  # noqa: E402
from ticker.emit import TickEmitter  # noqa: E402

COMMANDS = [df_command(("/",)), DOCKER_INFO_COMMAND, DOCKER_PS_COMMAND]
PY = sys.executable


def raise_open_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by the fleet and the workers


def start_fleet(hosts: int, directory: Path) -> tuple[subprocess.Popen, list[tuple[str, int, str]]]:
    fleet = subprocess.Popen([PY, "-m", "sandbox.serve_ssh_fleet", "--hosts", str(hosts), "--dir", str(directory)],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in fleet.stdout:
        print("  fleet:", line.rstrip(), flush=True)
        if line.startswith("SSH_KNOWN_HOSTS="):
            break
    else:
        raise SystemExit("the SSH fleet did not start")
    entries = []
    for line in (directory / "known_hosts").read_text().splitlines():
        name, key_type, key = line.split()[:3]
        address, port = name[1:].split("]:")
        entries.append((address, int(port), f"{key_type} {key}"))
    return fleet, entries


def start_workers(count: int, env: dict, client: redis.Redis, logs: Path) -> list[subprocess.Popen]:
    since = time.time() * 1000
    workers = [subprocess.Popen([PY, "-m", "actors"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=open(logs / f"worker-{count}-{i}.log", "wb")) for i in range(count)]
    deadline = time.monotonic() + 60
    while client.zcount("dramatiq:__heartbeats__", since, "+inf") < count:
        if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
            raise SystemExit(f"workers did not start; see {logs}")
        time.sleep(0.1)
    return workers


def stop(processes: list[subprocess.Popen]) -> None:
    for p in processes:
        p.terminate()
    for p in processes:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()


def cpu_seconds(pids: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds used so far by each group of processes."""
    out = {}
    for name, group in pids.items():
        out[name] = 0.0
        for pid in group:
            try:
                times = psutil.Process(pid).cpu_times()
                out[name] += times.user + times.system
            except psutil.NoSuchProcess:
                pass
    return out


def run_tick(client: redis.Redis, slot: int, expected: int) -> tuple[float, dict]:
    now = datetime.now(UTC)
    tick = Tick(task=TaskName.HEALTH_CHECKER, slot=slot, scheduled_at=now, deadline=now + timedelta(seconds=120),
                reason=TickReason.MANUAL, emitted_by="bench")
    started = time.perf_counter()
    TickEmitter(client).enqueue(tick)
    batches = None
    while time.perf_counter() - started < 300:
        if batches is None:
            for _, fields in client.xrange(RUNS_STREAM):
                record = RunRecord.model_validate_json(fields[b"data"])
                if record.slot == slot:
                    if record.error:
                        raise SystemExit(f"the tick failed: {record.error}")
                    batches = record.counters["batches"]
                    fanned_out = time.perf_counter() - started
        stats = slot_stats(client, slot)
        if batches is not None and stats.get("batches_done", 0) + stats.get("batches_failed", 0) >= batches:
            elapsed = time.perf_counter() - started
            if stats.get("checked", 0) != expected:
                print(f"  note: {stats.get('checked', 0)} of {expected} checked: {stats}", flush=True)
            stats["fanned_out_ms"] = int(fanned_out * 1000)
            return elapsed, stats
        time.sleep(0.02)
    raise SystemExit(f"slot {slot} did not finish: {slot_stats(client, slot)}")


def ansible_peer(hosts: list[tuple[str, int, str]], fleet_dir: Path, work: Path) -> float | None:
    ansible = Path(PY).parent / "ansible"
    if not ansible.exists():
        print("  ansible-core is not installed: .venv/bin/pip install ansible-core", flush=True)
        return None
    inventory = work / "inventory.ini"
    inventory.write_text("[fleet]\n" + "".join(f"{a} ansible_port={p}\n" for a, p, _ in hosts))
    (work / "ansible.cfg").write_text(f"""[defaults]
host_key_checking = True
forks = 50
stdout_callback = ansible.builtin.oneline
[ssh_connection]
ssh_args = -C -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile={fleet_dir / 'known_hosts'} \
-o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes
control_path_dir = {work / 'cp'}
""")
    env = {**os.environ, "ANSIBLE_CONFIG": str(work / "ansible.cfg"), "ANSIBLE_LOCAL_TEMP": str(work / "tmp"),
           "ANSIBLE_HOME": str(work / "home")}
    started = time.perf_counter()
    for command in COMMANDS:
        raw = command.replace("{{", "{% raw %}{{").replace("}}", "}}{% endraw %}")
        out = subprocess.run([str(ansible), "all", "-i", str(inventory), "-m", "raw", "-a", raw, "-f", "50",
                              "-u", "root", "--private-key", str(fleet_dir / "id_ed25519")],
                             env=env, capture_output=True, text=True)
        ok = sum(1 for line in out.stdout.splitlines() if " | CHANGED " in line or " | SUCCESS " in line)
        if ok != len(hosts):
            print(f"  ansible: {ok} of {len(hosts)} hosts answered {command!r}: {out.stderr[-500:]}", flush=True)
    return time.perf_counter() - started


def _ssh_base(fleet_dir: Path) -> list[str]:
    return ["ssh", "-F", "/dev/null", "-i", str(fleet_dir / "id_ed25519"), "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={fleet_dir / 'known_hosts'}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes", "-l", "root"]


def sequential_peer(hosts: list[tuple[str, int, str]], fleet_dir: Path) -> float:
    """The earlier platform's way: one ``ssh host 'the commands'`` per server, one after another."""
    base, line = _ssh_base(fleet_dir), "; ".join(COMMANDS)
    started = time.perf_counter()
    for address, port, _ in hosts:
        subprocess.run(base + ["-p", str(port), address, line], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def sequential_controlmaster_peer(hosts: list[tuple[str, int, str]], fleet_dir: Path, work: Path) -> float:
    """Per server a ControlMaster ``ssh``, each command through it, then ``-O exit``."""
    base = _ssh_base(fleet_dir)
    started = time.perf_counter()
    for index, (address, port, _) in enumerate(hosts):
        mux = base + ["-p", str(port), "-o", f"ControlPath={work / f'cm-{index}'}"]
        subprocess.run(mux + ["-o", "ControlMaster=yes", "-o", "ControlPersist=30", "-f", "-N", address], check=True)
        for command in COMMANDS:
            subprocess.run(mux + [address, command], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(mux + ["-O", "exit", address], stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def asyncssh_floor(count: int, fleet_dir: Path, concurrency: int, repeat: int) -> float:
    """Seconds a bare asyncssh client takes for the first ``count`` hosts (the median of ``repeat`` runs)."""
    out = subprocess.run([PY, __file__, "--bare-client", str(fleet_dir), "--small", str(count),
                          "--concurrency", str(concurrency), "--repeat", str(repeat)], cwd=ROOT, check=True, capture_output=True, text=True)
    return float(out.stdout.split()[-1])


def bare_client(fleet_dir: Path, count: int, concurrency: int, repeat: int) -> None:
    """Connect, run the probe's script, close: per host, ``concurrency`` at once; prints the seconds."""
    import asyncio

    import asyncssh

    from actors.adapters.ssh.probe import CIPHER_PREFERENCE, COMMAND_ENV, KEX_PREFERENCE

    known_hosts = asyncssh.read_known_hosts(str(fleet_dir / "known_hosts"))
    key = asyncssh.read_private_key(fleet_dir / "id_ed25519")
    hosts = []
    for line in (fleet_dir / "known_hosts").read_text().splitlines()[:count]:
        address, port = line.split()[0][1:].split("]:")
        hosts.append((address, int(port)))
    script = health_script(("/",))

    class Drain(asyncssh.SSHClientSession):  # the cheapest public way to run a command: no streams
        def connection_made(self, chan):
            self.done = asyncio.get_running_loop().create_future()

        def connection_lost(self, exc):
            self.done.set_result(None)

    async def check(address: str, port: int, gate: asyncio.Semaphore) -> int | None:
        async with gate, asyncssh.connect(
                address, port, username="root", client_keys=[key], known_hosts=known_hosts, agent_path=None,
                config=None, preferred_auth="publickey", kex_algs=KEX_PREFERENCE,
                encryption_algs=CIPHER_PREFERENCE) as conn:
            channel, session = await conn.create_session(Drain, script, env=COMMAND_ENV, encoding=None)
            channel.write_eof()
            await session.done
            return channel.get_exit_status()

    async def run_all() -> float:
        gate = asyncio.Semaphore(concurrency)
        started = time.perf_counter()
        statuses = await asyncio.gather(*(check(a, p, gate) for a, p in hosts))
        elapsed = time.perf_counter() - started
        if statuses.count(0) != len(hosts):
            raise SystemExit(f"bare client: {statuses.count(0)} of {len(hosts)} hosts answered")
        return elapsed

    asyncio.run(run_all())  # warm-up, as ours gets one
    times = sorted(asyncio.run(run_all()) for _ in range(repeat))
    print(f"{times[len(times) // 2]:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description="health_checker benchmark")
    parser.add_argument("--hosts", type=int, default=10_000, help="the big fleet")
    parser.add_argument("--small", type=int, default=1_000, help="the fleet servers/s is measured on")
    parser.add_argument("--sample", type=int, default=100, help="hosts the sequential peer runs on")
    parser.add_argument("--repeat", type=int, default=3, help="runs on the small fleet; the median counts")
    parser.add_argument("--workers", default="1,2", help="worker process counts to measure")
    parser.add_argument("--only-ours", action="store_true", help="skip the peers (for iterating; not a full run)")
    parser.add_argument("--bare-client", type=Path, help=argparse.SUPPRESS)  # the floor's own process
    parser.add_argument("--concurrency", type=int, default=int(os.environ.get("HEALTH_SSH_CONCURRENCY", "100")))
    args = parser.parse_args()
    raise_open_files()
    if args.bare_client:
        bare_client(args.bare_client, args.small, args.concurrency, args.repeat)
        return
    work = Path(tempfile.mkdtemp(prefix="bench-health-"))
    fleet_dir = work / "fleet"
    embedded = None
    base = os.environ.get("REDIS_URL")
    if not base:
        embedded = EmbeddedRedis().start()
        base = embedded.url
    url = base.rsplit("/", 1)[0] + "/13"
    client = redis.Redis.from_url(url)
    client.flushdb()
    fleet, hosts = start_fleet(args.hosts, fleet_dir)
    app = create_app(str(work / "platform.sqlite3"))
    served = ServedApp(app).start()
    runs: list[tuple[str, int, float, dict]] = []
    try:
        app.store.bulk_insert_servers(
            ServerCreate(handle=f"vps-{n}", provider_id=str(n), host=a, ssh_port=p, is_managed=True,
                         status=ServerStatus.READY if n <= args.small else ServerStatus.RESERVED)
            for n, (a, p, _) in enumerate(hosts, start=1))

        def monitor(count: int) -> None:  # the first `count` servers are monitored, the rest are reserved
            app.store.execute_sql("UPDATE servers SET status = CASE WHEN CAST(provider_id AS INTEGER) <= ? "
                                  "THEN 'ready' ELSE 'reserved' END", (count,))

        env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": url, "API_BASE_URL": served.url,
               "INTERNAL_API_KEY": DEFAULT_API_KEY, "SSH_PRIVATE_KEY_PATH": str(fleet_dir / "id_ed25519"),
               "SSH_KNOWN_HOSTS": str(fleet_dir / "known_hosts"), "LOG_FORMAT": "json", "LOG_LEVEL": "WARNING",
               "WORKER_THREADS": os.environ.get("WORKER_THREADS", "8"),
               "HEALTH_SSH_CONCURRENCY": str(args.concurrency)}
        slot = 1_000_000
        for count in (int(c) for c in args.workers.split(",")):
            workers = start_workers(count, env, client, work)
            try:
                pids = {"fleet": [fleet.pid], "workers": [w.pid for w in workers],
                        "platform API + bench": [os.getpid()], "redis": [embedded.process.pid] if embedded else []}
                for label, size in (("warm-up", args.small), *[("small", args.small)] * args.repeat,
                                    ("big", args.hosts)):
                    monitor(size)
                    slot += 1
                    before = cpu_seconds(pids)
                    elapsed, stats = run_tick(client, slot, size)
                    used = {k: v - before[k] for k, v in cpu_seconds(pids).items()}
                    print(f"  {count} worker(s), {size} servers ({label}): {elapsed:.2f} s, "
                          f"checked {stats.get('checked', 0)}, cut {stats.get('cut', 0)}, the tick's listing and "
                          f"fan-out done at {stats['fanned_out_ms'] / 1000:.2f} s; CPU s: "
                          + ", ".join(f"{k} {v:.1f}" for k, v in used.items()), flush=True)
                    if label != "warm-up":
                        runs.append((f"{label}:{count}", stats.get("checked", 0), elapsed, used))
            finally:
                stop(workers)
        peers: dict[str, float] = {}
        if not args.only_ours:
            print(f"  bare asyncssh client on {args.small} hosts ...", flush=True)
            peers["floor"] = asyncssh_floor(args.small, fleet_dir, args.concurrency, args.repeat)
            print(f"  ansible on {args.small} hosts ...", flush=True)
            ansible_s = ansible_peer(hosts[:args.small], fleet_dir, work)
            if ansible_s:
                peers["ansible"] = ansible_s
            print(f"  sequential ssh on {args.sample} hosts ...", flush=True)
            peers["sequential"] = sequential_peer(hosts[:args.sample], fleet_dir)
            print(f"  sequential ssh through a ControlMaster on {args.sample} hosts ...", flush=True)
            peers["controlmaster"] = sequential_controlmaster_peer(hosts[:args.sample], fleet_dir, work)
    finally:
        served.stop()
        stop([fleet])
        client.close()
        if embedded:
            embedded.close()
        shutil.rmtree(work, ignore_errors=True)
    report(runs, args, peers, embedded is not None)


def median_runs(runs: list[tuple[str, int, float, dict]]) -> dict[str, tuple[int, float, dict]]:
    """Per key (``small:1``...), the run with the median rate."""
    by_key: dict[str, list] = {}
    for key, checked, seconds, used in runs:
        by_key.setdefault(key, []).append((checked, seconds, used))
    return {key: sorted(group, key=lambda r: r[0] / r[1])[len(group) // 2] for key, group in by_key.items()}


def report(runs, args, peers: dict[str, float], embedded: bool) -> None:
    results = median_runs(runs)
    checked = sum(c for _, c, _, _ in runs)
    per = {name: sum(u[name] for _, _, _, u in runs) / checked * 1000 for name in ("workers", "fleet")}
    cpu_line = (f"CPU per server checked: workers {per['workers']:.2f} ms, sandbox fleet (the servers' side) "
                f"{per['fleet']:.2f} ms")
    if not peers:  # --only-ours
        for key, checked, seconds, used in runs:
            print(f"{key:<10}{checked:>8,}{seconds:>10.2f} s{checked / seconds:>10.1f} servers/s  CPU s: "
                  + ", ".join(f"{k} {v:.1f}" for k, v in used.items()))
        print(cpu_line)
        return
    seq_rate = args.sample / peers["sequential"]
    ansible_rate = args.small / peers["ansible"] if "ansible" in peers else None
    print(f"\nhealth_checker benchmark: {os.cpu_count()} CPUs, redis {'embedded' if embedded else 'REDIS_URL'}; "
          f"the fleet, the platform API, Redis and the workers share the machine")
    head = f"{'':<50}{'servers':>8}{'time (s)':>10}{'servers/s':>11}{'vs Ansible':>12}{'vs sequential':>15}"
    print(head + "\n" + "-" * len(head))

    def row(name, servers, seconds, ratios=True):
        rate = servers / seconds
        vs_ansible = f"{rate / ansible_rate:.1f}x" if ansible_rate and ratios else "-"
        vs_sequential = f"{rate / seq_rate:.1f}x" if ratios else "-"
        print(f"{name:<50}{servers:>8,}{seconds:>10.2f}{rate:>11.1f}{vs_ansible:>12}{vs_sequential:>15}")

    for size in ("small", "big"):
        for key, (checked, seconds, _) in sorted(results.items()):
            if key.startswith(size + ":"):
                workers = int(key.split(":")[1])
                row(f"health_checker, {workers} worker process{'es' if workers > 1 else ''}", checked, seconds)
    row("floor: bare asyncssh client, nothing else", args.small, peers["floor"])
    if ansible_rate:
        row("Ansible ad-hoc (raw, -f 50)", args.small, peers["ansible"])
    row(f"sequential: one ssh per server, on {args.sample}", args.sample, peers["sequential"])
    row(f"sequential: ControlMaster + 3 ssh runs, on {args.sample}", args.sample, peers["controlmaster"])
    for n in (args.small, args.hosts):
        row("sequential, extrapolated (linear)", n, peers["sequential"] * n / args.sample, ratios=False)
    best_small = max(c / s for k, (c, s, _) in results.items() if k.startswith("small:"))
    best_big = min(s for k, (_, s, _) in results.items() if k.startswith("big:"))
    floor_rate = args.small / peers["floor"]
    print(f"\n{cpu_line}")
    vs_ansible = f"{best_small / ansible_rate:.1f}x" if ansible_rate else "n/a"
    print(f"goals: >= 10x Ansible: {vs_ansible}; >= 50x sequential: {best_small / seq_rate:.1f}x; "
          f"{args.hosts:,} servers in <= 60 s: {best_big:.1f} s")
    print(f"against the ControlMaster variant: {best_small / (args.sample / peers['controlmaster']):.1f}x; "
          f"the floor is {floor_rate / seq_rate:.1f}x sequential, and ours reaches {best_small / floor_rate:.0%} "
          f"of the floor")


if __name__ == "__main__":
    main()
