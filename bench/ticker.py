"""Ticker benchmark: two replicas of ours beside two replicas of each real scheduler library, over the
same bounded period, on the same Redis: lateness, duplicate and missing ticks; then idle CPU and RSS.

Contenders, all started together and run for ``--seconds`` (3 runs by default; medians with min–max):
- ours: 2 replicas of ``python -m ticker`` (four tasks on ``1s`` slots), ticks read back from the
  audit stream ``scheduler:ticks``;
- APScheduler 3.x: 2 replicas of a ``BackgroundScheduler``, each with the four jobs on an
  ``IntervalTrigger(seconds=1)`` aligned to whole seconds (UTC), ``coalesce=True``, ``max_instances=1``
  and the default in-memory job store — APScheduler 3 has no way for two processes to share jobs
  (its documentation says a shared persistent store leads to duplicate runs), so this is how one runs it
  twice for availability;
- periodiq 0.14 (already our dependency): 2 replicas of its own ``Scheduler`` loop (what the ``periodiq``
  command runs: send the due actors, compute the next date, sleep, ``SIGALRM``), the four actors on
  ``cron('* * * * *')`` — its finest resolution is one minute, so it has fewer slots in the same period.
Each peer's emission is an ``XADD`` (of the task and slot) to its own stream on the same Redis, as ours
appends its audit entry: lateness is the entry's Redis timestamp minus the slot's start, per (task,
slot) at its first emission. Duplicates and missing ticks are counted per 100 (task, slot) pairs due
from 5 s after the start (every replica is up by then) to 3 s before the end.

Idle CPU and RSS: ours with its default schedules (nothing due for minutes) beside a bare Python process
that imports the same libraries and sleeps.

    .venv/bin/python bench/ticker.py [--seconds 125] [--repeat 3] [--idle-seconds 30]

Redis: ``REDIS_URL`` if set (its database is flushed), else an embedded redis-server.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kit import bench_redis, machine  # noqa: E402  (bench/kit.py)

from contracts import TICKS_STREAM, TaskName, Tick  # noqa: E402
from process.clock import redis_now  # noqa: E402

PERIODIC = [TaskName.GITHUB_SYNC, TaskName.SERVER_SYNC, TaskName.HEALTH_CHECKER, TaskName.RAG_SUMMARIZER]
TASKS = [t.value for t in PERIODIC]

APSCHEDULER_REPLICA = """
import math, os, time
from datetime import UTC, datetime
import redis
from apscheduler.events import EVENT_JOB_EXECUTED
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
client = redis.Redis.from_url(os.environ["REDIS_URL"])
scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1,
                                                               "misfire_grace_time": 30})
start = datetime.fromtimestamp(math.ceil(time.time()), UTC)
for task in os.environ["TASKS"].split(","):
    scheduler.add_job(lambda: None, IntervalTrigger(seconds=1, start_date=start, timezone="UTC"), id=task)
scheduler.add_listener(lambda event: client.xadd("bench:apscheduler:ticks", {
    "task": event.job_id, "slot": int(event.scheduled_run_time.timestamp())}), EVENT_JOB_EXECUTED)
scheduler.start()
time.sleep(3600)
"""

PERIODIQ_REPLICA = """
import os
import dramatiq, pendulum, redis
from dramatiq.brokers.stub import StubBroker
from periodiq import PeriodiqMiddleware, Scheduler, cron
client = redis.Redis.from_url(os.environ["REDIS_URL"])

class Emitting(StubBroker):  # where periodiq's send lands: one XADD per message, as ours appends its audit
    def enqueue(self, message, *, delay=None):
        slot = int(pendulum.parse(message.options["scheduled_at"]).timestamp())
        client.xadd("bench:periodiq:ticks", {"task": message.actor_name, "slot": slot})
        return message

broker = Emitting()
broker.add_middleware(PeriodiqMiddleware())
dramatiq.set_broker(broker)
actors = [dramatiq.actor(lambda: None, actor_name=task, periodic=cron("* * * * *"))
          for task in os.environ["TASKS"].split(",")]
scheduler = Scheduler(actors=actors)  # what periodiq.main does after importing the app
scheduler.schedule()
scheduler.loop()
"""

STARTUP_S = 5  # a replica's Python start-up (imports) takes 1-2 s on a busy machine: slots before are not scored
BARE_PROCESS = "import redis, dramatiq, pydantic, structlog, time; time.sleep(3600)"


def start(code: str | None, url: str, env: dict[str, str]) -> subprocess.Popen:
    argv = [sys.executable, "-m", "ticker"] if code is None else [sys.executable, "-c", code]
    return subprocess.Popen(
        argv,
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "REDIS_URL": url,
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "WARNING",
            "TASKS": ",".join(TASKS),
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def ours_emissions(client: redis.Redis) -> list[tuple[str, int, int]]:
    """(task, slot, emitted at in ms on the Redis clock) from ours' audit stream."""
    out = []
    for entry_id, fields in client.xrange(TICKS_STREAM):
        tick = Tick.model_validate_json(fields[b"data"])
        out.append((tick.task.value, tick.slot, int(entry_id.split(b"-")[0])))
    return out


def peer_emissions(client: redis.Redis, stream: str) -> list[tuple[str, int, int]]:
    return [
        (fields[b"task"].decode(), int(fields[b"slot"]), int(entry_id.split(b"-")[0]))
        for entry_id, fields in client.xrange(stream)
    ]


def score(emissions: list[tuple[str, int, int]], period_s: int, started: float, ended: float) -> dict:
    """Lateness of each due (task, slot)'s first emission; duplicates and missing per 100 due slots."""
    first_slot = int((started + STARTUP_S) // period_s + 1) * period_s  # after every replica has started
    last_slot = int((ended - 3) // period_s) * period_s  # 3 s before the end: time enough to be emitted
    due = [(task, slot) for task in TASKS for slot in range(first_slot, last_slot + 1, period_s)]
    counts = Counter((task, slot) for task, slot, _ in emissions)
    first: dict[tuple[str, int], int] = {}
    for task, slot, at_ms in sorted(emissions, key=lambda e: e[2]):
        first.setdefault((task, slot), at_ms - slot * 1000)
    late = [first[key] for key in due if key in first]
    return {
        "due": len(due),
        "late": late,
        "duplicates": sum(counts[key] - 1 for key in due if counts[key] > 1) / max(len(due), 1) * 100,
        "missing": sum(1 for key in due if counts[key] == 0) / max(len(due), 1) * 100,
    }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def one_run(url: str, client: redis.Redis, seconds: float) -> dict[str, dict]:
    client.flushdb()
    every_second = {f"SCHEDULE_{t.upper()}": "1s" for t in TASKS} | {"SCHEDULE_PROVISIONER_TRIGGER": "off"}
    started = redis_now(client)
    replicas = [start(None, url, every_second) for _ in range(2)]
    replicas += [start(APSCHEDULER_REPLICA, url, {}) for _ in range(2)]
    replicas += [start(PERIODIQ_REPLICA, url, {}) for _ in range(2)]
    time.sleep(seconds)
    for p in replicas:
        p.terminate()
    for p in replicas:
        p.wait(10)
    ended = redis_now(client)
    return {
        "ours (2 replicas, 1 s slots)": score(ours_emissions(client), 1, started, ended),
        "APScheduler 3 (2 replicas, 1 s interval)": score(
            peer_emissions(client, "bench:apscheduler:ticks"), 1, started, ended
        ),
        "periodiq (2 replicas, 1 min cron)": score(peer_emissions(client, "bench:periodiq:ticks"), 60, started, ended),
    }


def cpu_and_rss(processes: list[subprocess.Popen], seconds: float) -> list[tuple[float, float]]:
    """CPU % and RSS (MiB) of each process over the same window."""
    handles = [psutil.Process(p.pid) for p in processes]
    before, t0 = [h.cpu_times() for h in handles], time.monotonic()
    time.sleep(seconds)
    after, wall = [h.cpu_times() for h in handles], time.monotonic() - t0
    return [
        ((a.user + a.system - b.user - b.system) / wall * 100, h.memory_info().rss / 2**20)
        for h, b, a in zip(handles, before, after, strict=True)
    ]


def idle(url: str, client: redis.Redis, seconds: float) -> tuple[tuple[float, float], tuple[float, float]]:
    client.flushdb()
    idle_ticker = start(None, url, {"RELEASE_ID": "bench"})  # default schedules: nothing due for minutes
    bare = start(BARE_PROCESS, url, {})
    time.sleep(3)  # let both finish starting
    (cpu, rss), (bare_cpu, bare_rss) = cpu_and_rss([idle_ticker, bare], seconds)
    for p in (idle_ticker, bare):
        p.terminate()
        p.wait(10)
    return (cpu, rss), (bare_cpu, bare_rss)


def spread(values: list[float], fmt: str = "{:.0f}") -> str:
    if not values:
        return "-"
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=125, help="length of each run (periodiq: minute slots)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--idle-seconds", type=float, default=30)
    args = parser.parse_args()
    where = machine()
    print(f"ticker benchmark: {where}", flush=True)
    runs = []
    with bench_redis() as (url, client, redis_kind):
        try:
            for n in range(args.repeat):
                runs.append(one_run(url, client, args.seconds))
                print(
                    f"  run {n + 1}: "
                    + "; ".join(
                        f"{k}: {len(v['late'])} slots, dup {v['duplicates']:.0f}, missing {v['missing']:.0f}"
                        for k, v in runs[-1].items()
                    ),
                    flush=True,
                )
            (cpu, rss), (bare_cpu, bare_rss) = idle(url, client, args.idle_seconds)
        finally:
            client.flushdb()
    report(runs, args, where, redis_kind == "embedded redis-server", (cpu, rss, bare_cpu, bare_rss))


def report(runs: list[dict], args, machine: str, embedded: bool, idle_figures) -> None:
    print(
        f"\nticker: {args.repeat} runs of {args.seconds:g} s, all contenders at once; redis "
        f"{'embedded' if embedded else 'REDIS_URL'}; {machine}. Per run: p50/p99 of that run; "
        "figures: median over runs (min–max)"
    )
    head = (
        f"{'':<42}{'slots/run':>10}{'lateness p50 ms':>22}{'lateness p99 ms':>22}{'dup /100':>16}{'missing /100':>16}"
    )
    print(head + "\n" + "-" * len(head))
    for name in runs[0]:
        per = [run[name] for run in runs]
        p50 = [statistics.median(r["late"]) for r in per if r["late"]]
        p99 = [percentile(r["late"], 99) for r in per if r["late"]]
        print(
            f"{name:<42}{statistics.median(r['due'] for r in per):>10.0f}{spread(p50):>22}{spread(p99):>22}"
            f"{spread([r['duplicates'] for r in per]):>16}{spread([r['missing'] for r in per]):>16}"
        )
    cpu, rss, bare_cpu, bare_rss = idle_figures
    print(
        f"idle ticker: CPU {cpu:.2f} % (bare Python process importing the same libraries: {bare_cpu:.2f} %), "
        f"RSS {rss:.1f} MiB (bare: {bare_rss:.1f} MiB, {rss / bare_rss:.2f}x); goals <= 0.5 % and <= 60 MB"
    )


if __name__ == "__main__":
    main()
