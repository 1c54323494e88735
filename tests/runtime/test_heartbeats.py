"""Heartbeats (process/heartbeats.py): written at start and by the Redis clock, kept fresh,
gone at once on a clean stop and after three missed beats otherwise; and the real ticker and
worker processes each write one that says what they serve."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from contracts import Heartbeat, Keys, TaskName
from process import clock
from process.heartbeats import HeartbeatWriter, live_processes, live_processes_async, package_version
from tests.support import aredis_like, spawn, stop, wait_until


def redis_now(client: redis.Redis) -> datetime:
    return datetime.fromtimestamp(clock.redis_now(client), UTC)


def writer(client, role="worker", interval_s=5.0, **kwargs) -> HeartbeatWriter:
    return HeartbeatWriter(client, role, release="v3", interval_s=interval_s, host="box", pid=41, **kwargs)


def test_a_started_writer_is_listed_at_once_with_what_it_serves(client):
    before = redis_now(client)
    w = writer(client, queues=["scheduler.github_sync", "scheduler.github_sync.parts"], tasks=["github_sync"])
    w.start()
    try:
        [beat] = live_processes(client)
        assert beat.role == "worker" and beat.host == "box" and beat.pid == 41 and beat.release == "v3"
        assert beat.id.startswith("box:41:") and beat.id == w.id
        assert beat.version == package_version() != "unknown"
        assert beat.queues == ["scheduler.github_sync", "scheduler.github_sync.parts"]
        assert beat.tasks == ["github_sync"] and beat.interval_s == 5.0
        # by the Redis clock, to the millisecond it keeps
        assert before - timedelta(milliseconds=1) <= beat.started_at == beat.last_seen <= redis_now(client)
        assert beat.last_seen.tzinfo is not None and beat.last_seen.utcoffset() == timedelta(0)
        assert 14_000 < client.pttl(Keys.heartbeat(w.id)) <= 15_000  # three beats
    finally:
        w.stop()


def test_ids_are_unique_per_process_even_with_the_same_host_and_pid(client):
    assert writer(client).id != writer(client).id


def test_a_clean_stop_removes_the_entry_at_once(client):
    w = writer(client)
    w.start()
    w.stop()
    assert live_processes(client) == []
    assert not client.exists(Keys.heartbeat(w.id)) and client.zcard(Keys.heartbeats("worker")) == 0


def test_roles_are_listed_apart_and_in_order(client):
    ticker, worker = writer(client, role="ticker", tasks=["github_sync"]), writer(client)
    worker.beat()
    ticker.beat()
    assert [b.role for b in live_processes(client)] == ["ticker", "worker"]
    assert [b.id for b in live_processes(client, "ticker")] == [ticker.id]
    assert [b.id for b in live_processes(client, "web")] == []
    with pytest.raises(ValueError, match="unknown role"):
        live_processes(client, "cron")


def test_beats_keep_the_entry_fresh_and_keep_its_start(client):
    w = writer(client, interval_s=0.05)
    w.start()
    try:
        first = live_processes(client)[0]
        later = wait_until(lambda: [b for b in live_processes(client) if b.last_seen > first.last_seen])[0]
        assert later.started_at == first.started_at
    finally:
        w.stop()


def test_an_entry_expires_after_three_missed_beats_and_readers_drop_it(client):
    w = writer(client, interval_s=0.5)
    beat = w.beat()  # one beat, then silence: a process that died
    ttl = client.pttl(Keys.heartbeat(w.id))
    assert 1_000 < ttl <= 1_500
    score = client.zscore(Keys.heartbeats("worker"), w.id)
    assert score == pytest.approx(beat.last_seen.timestamp() * 1000 + 1_500, abs=1)
    assert beat.expires_at == beat.last_seen + timedelta(milliseconds=1_500)
    assert [b.id for b in live_processes(client)] == [w.id]
    # gone, and the reader that found it dead dropped its index member
    wait_until(lambda: live_processes(client) == [] and client.zcard(Keys.heartbeats("worker")) == 0, timeout=10)
    assert redis_now(client) >= beat.expires_at  # not before its time


def test_a_writer_prunes_the_dead_members_of_its_index(client):
    client.zadd(Keys.heartbeats("worker"), {"dead:1:abc": 1_000})
    writer(client).beat()
    assert (
        client.zrange(Keys.heartbeats("worker"), 0, -1) != []
        and client.zscore(Keys.heartbeats("worker"), "dead:1:abc") is None
    )


def test_an_unreadable_entry_is_skipped(client):
    good = writer(client)
    good.beat()
    bad = writer(client)
    bad.beat()
    client.set(Keys.heartbeat(bad.id), json.dumps({"role": "worker"}))
    assert [b.id for b in live_processes(client)] == [good.id]


def test_the_async_reader_sees_the_same(client):
    w = writer(client, role="ticker")
    w.beat()

    async def read():
        aclient = aredis_like(client)
        try:
            return await live_processes_async(aclient), await live_processes_async(aclient, "worker")
        finally:
            await aclient.aclose()

    every, workers = asyncio.run(read())
    assert every == live_processes(client) and [b.id for b in every] == [w.id] and workers == []


def test_redis_being_away_skips_beats_without_raising(client):
    # Nothing listens there. Without retries: redis-py's default backs off for about 4 s per
    # failed call, which only made this test last 8 s.
    away = redis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    w = writer(away, interval_s=0.05)
    w.start()  # logged, not raised
    w.stop()


def test_the_model_refuses_naive_times():
    now = datetime.now(UTC)
    fields = dict(
        role="ticker",
        id="h:1:a",
        host="h",
        pid=1,
        release="local",
        version="0.1.0",
        started_at=now,
        last_seen=now,
        interval_s=5,
    )
    assert Heartbeat(**fields).started_at == now
    with pytest.raises(ValueError):
        Heartbeat(**{**fields, "last_seen": now.replace(tzinfo=None)})


TICKER = "from ticker.__main__ import main; raise SystemExit(main())"
WORKER = "from tests.runtime.worker_tasks import main; main()"


@pytest.mark.slow
def test_ticker_and_worker_processes_beat_and_leave_on_sigterm(client, redis_url, tmp_path):
    env = {"REDIS_URL": redis_url, "HEARTBEAT_INTERVAL_S": "0.2", "RELEASE_ID": "v9", "SCHEDULE_HEALTH_CHECKER": "off"}
    ticker = spawn(TICKER, env, log=tmp_path / "ticker.log")
    worker = spawn(WORKER, env, log=tmp_path / "worker.log")
    try:
        alive = wait_until(lambda: (lambda p: p if len(p) == 2 else None)(live_processes(client)), timeout=30)
        by_role = {b.role: b for b in alive}
        assert {b.pid for b in alive} == {ticker.pid, worker.pid}
        assert by_role["ticker"].release == by_role["worker"].release == "v9"
        assert by_role["ticker"].queues == [] and by_role["ticker"].interval_s == 0.2
        assert TaskName.HEALTH_CHECKER.value not in by_role["ticker"].tasks
        assert TaskName.GITHUB_SYNC.value in by_role["ticker"].tasks
        assert "scheduler.github_sync" in by_role["worker"].queues
        assert set(by_role["worker"].tasks) == {t.value for t in TaskName}
    finally:
        stop(ticker)
        stop(worker)
    assert ticker.returncode == 0 and worker.returncode == 0
    assert live_processes(client) == []
