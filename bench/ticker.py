"""Ticker benchmark: slot → enqueue lateness, idle CPU and RSS, each beside a peer.

Runs on a real Redis: ``REDIS_URL`` if set (databases 14 and 15 are flushed), else an
embedded redis-server. Lateness is measured on the Redis clock: the audit entry's stream id
(the time the enqueue script ran) minus the slot's start.

Peers, run at the same time on their own Redis database:
- lateness: a naive ticker that polls its own clock once a second (the usual loop);
- idle CPU and RSS: a bare Python process that imports the same libraries and sleeps.

    .venv/bin/python bench/ticker.py [--seconds 55] [--idle-seconds 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contracts import TICKS_STREAM, TaskName, Tick  # noqa: E402
from scheduler.embedded import EmbeddedRedis  # noqa: E402

PERIODIC = [TaskName.GITHUB_SYNC, TaskName.SERVER_SYNC, TaskName.HEALTH_CHECKER, TaskName.RAG_SUMMARIZER]

NAIVE_TICKER = """
import os, time, socket
from datetime import UTC, datetime, timedelta
import redis
from contracts import TaskName, Tick, TickReason
from ticker.emit import TickEmitter
client = redis.Redis.from_url(os.environ["REDIS_URL"])
emitter, last = TickEmitter(client), {}
tasks = [TaskName.GITHUB_SYNC, TaskName.SERVER_SYNC, TaskName.HEALTH_CHECKER, TaskName.RAG_SUMMARIZER]
while True:
    slot = int(time.time())
    for task in tasks:
        if last.get(task) != slot:
            at = datetime.fromtimestamp(slot, UTC)
            emitter.claim(Tick(task=task, slot=slot, scheduled_at=at, deadline=at + timedelta(seconds=1),
                               reason=TickReason.SCHEDULE, emitted_by="naive"), last.get(task))
            last[task] = slot
    time.sleep(1.0)
"""

BARE_PROCESS = "import redis, dramatiq, pydantic, structlog, time; time.sleep(3600)"


def start(code: str | None, url: str, env: dict[str, str]) -> subprocess.Popen:
    argv = [sys.executable, "-m", "ticker"] if code is None else [sys.executable, "-c", code]
    return subprocess.Popen(argv, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": url,
                                                 "LOG_FORMAT": "json", "LOG_LEVEL": "WARNING", **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def lateness_ms(client: redis.Redis) -> list[float]:
    out = []
    for entry_id, fields in client.xrange(TICKS_STREAM):
        tick = Tick.model_validate_json(fields[b"data"])
        out.append(int(entry_id.split(b"-")[0]) - tick.slot * 1000)
    return out[len(PERIODIC):]  # the first slot of each task is emitted mid-slot, at start-up


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def cpu_and_rss(processes: list[subprocess.Popen], seconds: float) -> list[tuple[float, float]]:
    """CPU % and RSS (MiB) of each process over the same window."""
    handles = [psutil.Process(p.pid) for p in processes]
    before, t0 = [h.cpu_times() for h in handles], time.monotonic()
    time.sleep(seconds)
    after, wall = [h.cpu_times() for h in handles], time.monotonic() - t0
    return [((a.user + a.system - b.user - b.system) / wall * 100, h.memory_info().rss / 2**20)
            for h, b, a in zip(handles, before, after)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=55)
    parser.add_argument("--idle-seconds", type=float, default=30)
    args = parser.parse_args()

    embedded = None
    base = os.environ.get("REDIS_URL")
    if not base:
        embedded = EmbeddedRedis().start()
        base = embedded.url
    root = base.rsplit("/", 1)[0]
    ours_url, peer_url = f"{root}/14", f"{root}/15"
    ours_db, peer_db = redis.Redis.from_url(ours_url), redis.Redis.from_url(peer_url)
    try:
        for db in (ours_db, peer_db):
            db.flushdb()
        every_second = {f"SCHEDULE_{t.value.upper()}": "1s" for t in PERIODIC} | {"SCHEDULE_PROVISIONER_TRIGGER": "off"}
        ours, naive = start(None, ours_url, every_second), start(NAIVE_TICKER, peer_url, {})
        time.sleep(args.seconds)
        for p in (ours, naive):
            p.terminate()
            p.wait(10)
        our_late, naive_late = lateness_ms(ours_db), lateness_ms(peer_db)

        for db in (ours_db, peer_db):
            db.flushdb()
        idle_ticker = start(None, ours_url, {"RELEASE_ID": "bench"})  # default schedules: nothing due for minutes
        bare = start(BARE_PROCESS, peer_url, {})
        time.sleep(3)  # let both finish starting
        (cpu, rss), (bare_cpu, bare_rss) = cpu_and_rss([idle_ticker, bare], args.idle_seconds)
        for p in (idle_ticker, bare):
            p.terminate()
            p.wait(10)
    finally:
        ours_db.close()
        peer_db.close()
        if embedded:
            embedded.close()

    print(f"redis: {'embedded redis-server' if embedded else 'REDIS_URL'}; {len(our_late)} slots measured "
          f"(ours), {len(naive_late)} (naive peer)")
    print(f"{'figure':<28}{'ticker':>12}{'peer':>12}{'ratio':>10}   goal")
    rows = [
        ("lateness p50 (ms)", statistics.median(our_late), statistics.median(naive_late), "-"),
        ("lateness p99 (ms)", percentile(our_late, 99), percentile(naive_late, 99), "<= 50 ms"),
        ("lateness max (ms)", max(our_late), max(naive_late), "-"),
        ("idle CPU (%)", cpu, bare_cpu, "<= 0.5 %"),
        ("RSS (MiB)", rss, bare_rss, "<= 60 MB"),
    ]
    for name, mine, peer, goal in rows:
        ratio = f"{mine / peer:.2f}x" if peer > 0.005 else "-"
        print(f"{name:<28}{mine:>12.2f}{peer:>12.2f}{ratio:>10}   {goal}")
    print("peers: lateness = a naive ticker polling its own clock every second; "
          "CPU/RSS = a bare Python process importing the same libraries, sleeping")


if __name__ == "__main__":
    main()
