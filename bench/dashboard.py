"""The dashboard's server time with 10,000 servers' health data and 10,000 run records.

Measures one full page render (``scheduler.web.app.render`` of ``read_snapshot``: every Redis read
and the HTML) beside two peers computing the same figures: ``scheduler status --json`` in-process
(the CLI's ``read_overview`` and its JSON), and the naive dashboard (read the whole runs stream and
validate every record, and every server's health entry, then count). Medians of RUNS runs, with
min-max. ``REDIS_URL`` (database flushed!) or an embedded redis-server.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kit import bench_redis, machine

# bench/ticker.py would shadow the ticker package the web code imports: bench/ leaves the path here
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from actors.runtime.middleware.recording import record_run
from contracts import RUNS_STREAM, Keys, RunOutcome, RunRecord, TaskName, TickReason
from process.heartbeats import HeartbeatWriter
from scheduler.cli.status import read_overview
from scheduler.web.app import Context, render
from scheduler.web.fleet import OpenIncidents
from scheduler.web.settings import WebSettings
from scheduler.web.snapshot import read_snapshot

SERVERS = 10_000
RUN_RECORDS = 10_000
RUNS = 7
TASKS = [TaskName.GITHUB_SYNC, TaskName.SERVER_SYNC, TaskName.HEALTH_CHECKER, TaskName.PROVISIONER_TRIGGER]


def populate(client) -> None:
    client.flushdb()
    now = datetime.now(UTC)
    pipe = client.pipeline(transaction=False)
    for i in range(RUN_RECORDS):
        task = TASKS[i % len(TASKS)]
        outcome = RunOutcome.FAILED if i % 17 == 0 else RunOutcome.SUCCEEDED
        finished = now - timedelta(seconds=RUN_RECORDS - i)
        record = RunRecord(
            task=task,
            slot=1_000_000 + i,
            reason=TickReason.SCHEDULE,
            outcome=outcome,
            started_at=finished - timedelta(seconds=1 + i % 5),
            finished_at=finished,
            counters={"servers": SERVERS, "batches": 20, "reports": 500},
            worker="bench:1",
        )
        pipe.xadd(RUNS_STREAM, {"data": record.model_dump_json()})
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    for task in TASKS:  # the task state as the workers leave it
        last = [r for r in client.xrevrange(RUNS_STREAM, count=8) if json.loads(r[1][b"data"])["task"] == task.value][0]
        record_run(client, RunRecord.model_validate_json(last[1][b"data"]), slot_done=True)
    slots = [1_000_000 + 120 * k for k in range(3)]
    for slot in slots:
        client.hset(
            Keys.health_slot(slot),
            mapping={
                "servers": SERVERS,
                "batches": 20,
                "batches_done": 20,
                "healthy": 9_000,
                "degraded": 600,
                "unhealthy": 300,
            },
        )
        for start in range(0, SERVERS, 2000):
            client.sadd(Keys.health_slot_checked(slot), *[f"srv-{i}" for i in range(start, start + 2000)])
        client.zadd(Keys.HEALTH_SLOTS, {str(slot): slot})
    for start in range(0, SERVERS, 2000):
        client.hset(
            Keys.HEALTH_FAILURES, mapping={f"srv-{i}": f"{i % 3}:{slots[-1]}" for i in range(start, start + 2000)}
        )
    for role in ("ticker", "ticker", "worker", "worker"):
        HeartbeatWriter(client, role, release="bench", interval_s=600, tasks=[t.value for t in TASKS]).beat()


def page(client, ctx) -> int:
    return len(render(read_snapshot(client), ctx, partial=False))


def status_json(client) -> int:
    return len(json.dumps(read_overview(client).model_dump(mode="json")))


def naive(client) -> int:
    """What a first dashboard would do: every run record and every server, validated and counted."""
    records = [RunRecord.model_validate_json(f[b"data"]) for _, f in client.xrange(RUNS_STREAM)]
    by_task: dict[str, dict[str, int]] = {}
    for r in records:
        by_task.setdefault(r.task.value, {}).setdefault(r.outcome.value, 0)
        by_task[r.task.value][r.outcome.value] += 1
    failing = sum(1 for v in client.hgetall(Keys.HEALTH_FAILURES).values() if int(v.split(b":")[0]) > 0)
    return len(json.dumps({"runs": by_task, "failing": failing}))


def measure(fn, *args) -> tuple[float, float, float]:
    fn(*args)  # warm (templates compiled, scripts loaded)
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        fn(*args)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), min(times), max(times)


def main() -> int:
    print(machine())
    with bench_redis() as (_, client, what):
        print(f"redis: {what}; populating {SERVERS:,} servers' health data and {RUN_RECORDS:,} run records ...")
        populate(client)
        ctx = Context(client, WebSettings(), OpenIncidents())
        rows = [
            ("dashboard page (render + every read)", measure(page, client, ctx)),
            ("scheduler status --json (in-process)", measure(status_json, client)),
            ("naive: whole runs stream + every server", measure(naive, client)),
        ]
    ours = rows[0][1][0]
    print("\n| what | median ms | min-max ms | vs the page |\n|---|---|---|---|")
    for name, (median, low, high) in rows:
        print(f"| {name} | {median:.1f} | {low:.1f}-{high:.1f} | {median / ours:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
