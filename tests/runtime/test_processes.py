"""Ticker and worker as real processes: replicas, crashes, clock skew, signals, a Redis restart."""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter, defaultdict

import psutil
import pytest
import redis

from contracts import Keys, RunOutcome, TaskName, TickReason
from process.clock import redis_now_ms
from process.embedded import EmbeddedRedis
from tests.support import make_tick, runs, send, spawn, spawn_shell, stop, stopping, ticks, wait_until

pytestmark = pytest.mark.slow

PERIODIC = [TaskName.GITHUB_SYNC, TaskName.SERVER_SYNC, TaskName.HEALTH_CHECKER, TaskName.RAG_SUMMARIZER]
EVERY_SECOND = {f"SCHEDULE_{t.value.upper()}": "1s" for t in PERIODIC} | {"RELEASE_ID": "v7"}
# The worker of these tests (worker_tasks.py) has an actor for every task, so its ticker ticks them all.
TICKER = "from ticker.__main__ import main; from contracts import TaskName; raise SystemExit(main(set(TaskName)))"
WORKER = "from tests.runtime.worker_tasks import main; main()"


def skewed(seconds: float) -> str:
    """A ticker whose host clock is off by ``seconds`` (wall clock only, as NTP drift is)."""
    return (
        f"import time; _t, _n = time.time, time.time_ns; time.time = lambda: _t() + {seconds}; "
        f"time.time_ns = lambda: _n() + {int(seconds * 1e9)}; " + TICKER
    )


def assert_each_slot_once(emitted, tasks):
    by_task = defaultdict(list)
    for _, tick in emitted:
        by_task[tick.task].append(tick.slot)
    for task in tasks:
        slots = by_task[task]
        assert slots, f"{task} never ticked"
        duplicates = [s for s, n in Counter(slots).items() if n > 1]
        gaps = sorted(set(range(min(slots), max(slots) + 1)) - set(slots))
        assert duplicates == [], f"{task}: slots emitted twice: {duplicates}"
        assert gaps == [], f"{task}: slots never emitted: {gaps}"
    return by_task


def test_three_replicas_with_random_kills_emit_every_slot_exactly_once(client, redis_url, tmp_path):
    env = {"REDIS_URL": redis_url, **EVERY_SECOND}
    replicas = [spawn(TICKER, env, log=tmp_path / f"ticker{i}.log") for i in range(3)]
    rng = random.Random(7)
    kills = 0
    try:
        end = time.monotonic() + 32
        while time.monotonic() < end:
            time.sleep(rng.uniform(0.3, 2.0))  # not a wait for anything: when the kill lands is the chaos
            victim = rng.randrange(3)
            replicas[victim].send_signal(signal.SIGKILL)  # at a random point, maybe mid-emit
            replicas[victim].wait()
            kills += 1
            replicas[victim] = spawn(TICKER, env, log=tmp_path / f"ticker{victim}.log")
    finally:
        for r in replicas:
            stop(r)
    emitted = ticks(client)
    by_task = assert_each_slot_once(emitted, PERIODIC)
    assert kills >= 10
    assert all(len(by_task[t]) >= 30 for t in PERIODIC)
    assert all(t.missed == 0 and t.reason is TickReason.SCHEDULE for _, t in emitted if t.task in PERIODIC)
    assert [t.task for _, t in emitted].count(TaskName.PROVISIONER_TRIGGER) == 1, "once per release"
    for task in PERIODIC:  # what was audited is what was enqueued, message for message
        assert client.llen(f"dramatiq:scheduler.{task.value}") == len(by_task[task])


def test_a_replica_with_a_skewed_clock_neither_ticks_early_nor_twice(client, redis_url, tmp_path):
    env = {"REDIS_URL": redis_url, **EVERY_SECOND}
    replicas = [
        spawn(TICKER, env, log=tmp_path / "true.log"),
        spawn(skewed(+5), env, log=tmp_path / "ahead.log"),
        spawn(skewed(-5), env, log=tmp_path / "behind.log"),
    ]

    def enough_seen() -> bool:  # every task through six slots, with more than one replica emitting
        emitted = ticks(client)
        slots = Counter(t.task for _, t in emitted)
        return all(slots[task] >= 6 for task in PERIODIC) and len({t.emitted_by for _, t in emitted}) >= 2

    try:
        wait_until(enough_seen, timeout=30, interval=0.1)
    finally:
        for r in replicas:
            stop(r)
    emitted = ticks(client)
    assert_each_slot_once(emitted, PERIODIC)
    early = [(t.task, t.slot, at_ms) for at_ms, t in emitted if at_ms < t.slot * 1000]
    assert early == [], "a tick left before its slot started (by the Redis clock)"
    emitters = {t.emitted_by for _, t in emitted}
    assert len(emitters) >= 2, "the skewed replicas took part"


def test_sigterm_twice_to_the_process_group_stops_both_within_5s_and_frees_the_lock(client, redis_url, tmp_path):
    env = {
        "REDIS_URL": redis_url,
        **EVERY_SECOND,
        "SCHEDULE_HEALTH_CHECKER": "off",
        "SLOW_TASK_S": "60",
        "LOCK_TTL_MS": "30000",
        "TICKER": TICKER,
        "WORKER": WORKER,
    }
    # A dyno: a shell leading a process group, with the ticker and a worker in it.
    dyno = spawn_shell('python -c "$TICKER" & python -c "$WORKER" & wait', env, log=tmp_path / "dyno.log")
    ticker_and_worker = wait_until(
        lambda: len(psutil.Process(dyno.pid).children()) == 2 and psutil.Process(dyno.pid).children(), timeout=10
    )
    try:
        wait_until(lambda: len(ticks(client)) >= 3, timeout=20)
        send(client, make_tick(TaskName.HEALTH_CHECKER, slot=1))  # a long run holding its lock
        wait_until(lambda: client.lrange("test:started", 0, -1).count(b"health_checker:1"), timeout=20)
        assert client.get(Keys.lock(TaskName.HEALTH_CHECKER)) is not None
        signalled_ms = redis_now_ms(client)
        os.killpg(dyno.pid, signal.SIGTERM)
        # the second arrives while both are stopping (no sooner, or it would be one signal to them)
        wait_until(lambda: stopping(tmp_path / "dyno.log") >= {"ticker", "worker"}, timeout=5, interval=0.01)
        os.killpg(dyno.pid, signal.SIGTERM)
        _, alive = psutil.wait_procs(ticker_and_worker, timeout=4.8)
    finally:
        os.killpg(dyno.pid, signal.SIGKILL)
    assert alive == [], "ticker and worker exit within 5 s"
    assert client.get(Keys.lock(TaskName.HEALTH_CHECKER)) is None, "released, not left to its 30 s TTL"
    assert [at for at, _ in ticks(client) if at > signalled_ms + 50] == [], "nothing emitted after the signal"
    abandoned = [r for r in runs(client) if r.task is TaskName.HEALTH_CHECKER]
    assert [r.outcome for r in abandoned] == [RunOutcome.ABANDONED]


def test_both_processes_ride_out_a_redis_restart_and_catch_up_once(tmp_path):
    with EmbeddedRedis(persist=True) as server:
        client = redis.Redis.from_url(server.url)
        env = {"REDIS_URL": server.url, **EVERY_SECOND, "dramatiq_restart_delay": "500"}
        ticker = spawn(TICKER, env, log=tmp_path / "ticker.log")
        worker = spawn(WORKER, env, log=tmp_path / "worker.log")
        try:
            wait_until(lambda: len(runs(client, TaskName.GITHUB_SYNC)) >= 2, timeout=30)
            server.stop()
            # The outage itself, not a wait for an event: its length (at least three 1-second slots
            # with Redis down) is what the catch-up tick must account for.
            time.sleep(4)
            server.start()
            client = redis.Redis.from_url(server.url)
            catch_up = wait_until(
                lambda: [
                    t for _, t in ticks(client) if t.task is TaskName.GITHUB_SYNC and t.reason is TickReason.CATCH_UP
                ],
                timeout=20,
            )
            wait_until(
                lambda: any(
                    r.slot == catch_up[0].slot and r.outcome is RunOutcome.SUCCEEDED
                    for r in runs(client, TaskName.GITHUB_SYNC)
                ),
                timeout=30,
            )
            assert ticker.poll() is None and worker.poll() is None, "neither process was restarted"
            slots = [t.slot for _, t in ticks(client) if t.task is TaskName.GITHUB_SYNC]
        finally:
            stop(ticker)
            stop(worker)
    assert len(catch_up) == 1, "one catch-up tick for the whole outage"
    assert catch_up[0].missed >= 2
    assert len(slots) == len(set(slots))


def test_a_worker_started_while_redis_is_down_waits_for_it(tmp_path):
    """Found by the soak: a worker restarted while Redis was restarting (still loading its data)
    died at its first write. It waits, and serves once Redis answers (loading is a
    ``ConnectionError`` to redis-py, as down is)."""
    server = EmbeddedRedis(persist=True)  # its port chosen, nothing listening yet
    env = {
        "REDIS_URL": server.url,
        "HEARTBEAT_INTERVAL_S": "1",
        **{f"SCHEDULE_{t.value.upper()}": "off" for t in TaskName},
    }
    log = tmp_path / "worker.log"
    worker = spawn("import runpy; runpy.run_module('actors', run_name='__main__')", env, log=log)
    try:
        wait_until(lambda: log.exists() and b"redis unavailable at start" in log.read_bytes(), timeout=30)
        assert worker.poll() is None, log.read_text()
        server.start()
        client = redis.Redis.from_url(server.url)
        wait_until(lambda: client.zcard(Keys.heartbeats("worker")) == 1, timeout=30)
        assert worker.poll() is None, log.read_text()
        client.close()
    finally:
        stop(worker)
        server.close()
    assert worker.returncode == 0, "stopped cleanly by SIGTERM"
