"""Startup means a deploy: once per release with a release id; without one, once each time the
ticker fleet starts from nothing (a ticker that finds no other live ticker heartbeat opens an
epoch). Two tickers starting together give one startup tick either way."""

from __future__ import annotations

import threading

import pytest
import redis

from contracts import Keys, TaskName, TickReason
from contracts.names import STARTUP_CLAIM_TTL_S
from process.heartbeats import HeartbeatWriter, live_processes
from tests.support import make_tick, spawn, stop, ticks, wait_until
from ticker.emit import TickEmitter
from ticker.loop import Ticker
from ticker.slots import Startup

TASK = TaskName.PROVISIONER_TRIGGER
SCHEDULES = {TASK: Startup()}


def startup_ticks(client) -> int:
    return sum(1 for _, t in ticks(client) if t.reason is TickReason.STARTUP)


class Replica:
    """A ticker with its heartbeat, started and stopped the way ``python -m ticker`` does."""

    def __init__(self, client, release: str | None = None):
        self.heartbeat = HeartbeatWriter(client, "ticker", release=release or "local", tasks=[TASK.value])
        self.ticker = Ticker(client, SCHEDULES, release, heartbeat=self.heartbeat)

    def start(self) -> Replica:
        self.ticker.join()
        self.ticker.tick_once()
        return self

    def stop(self) -> None:
        self.heartbeat.stop()


def test_three_restarts_without_overlap_open_three_epochs(client):
    for expected in (1, 2, 3):
        replica = Replica(client).start()
        assert replica.ticker.startup_key == f"epoch-{expected}"
        assert startup_ticks(client) == expected
        replica.stop()


def test_a_ticker_restarted_while_another_lives_emits_nothing(client):
    first = Replica(client).start()
    second = Replica(client).start()
    first.stop()
    again = Replica(client).start()  # the first one back, while the second still lives
    assert {first.ticker.startup_key, second.ticker.startup_key, again.ticker.startup_key} == {"epoch-1"}
    assert startup_ticks(client) == 1
    second.stop()
    again.stop()
    fresh = Replica(client).start()  # now the fleet starts from nothing
    assert startup_ticks(client) == 2
    fresh.stop()


def test_a_ticker_that_died_still_counts_while_its_heartbeat_lives(client):
    crashed = Replica(client).start()
    crashed.heartbeat._stop.set()  # it beats no more, and removes nothing: as after a SIGKILL
    successor = Replica(client).start()
    assert startup_ticks(client) == 1
    assert crashed.heartbeat.id in {b.id for b in live_processes(client, "ticker")}
    successor.stop()


def test_two_tickers_joining_at_the_same_moment_open_one_epoch(client):
    """The decision is one script: of any number racing, exactly one opens the epoch, every
    other joins it, whichever order Redis runs them in."""

    def join(emitter: TickEmitter, name: str, barrier: threading.Barrier, results: list) -> None:
        barrier.wait()
        results.append(emitter.open_epoch(name, 15_000))

    for round_ in range(10):
        client.delete(Keys.heartbeats("ticker"))
        emitters = [TickEmitter(client) for _ in range(4)]
        barrier = threading.Barrier(len(emitters))
        results: list[tuple[int, bool]] = []
        threads = [
            threading.Thread(target=join, args=(e, f"racer-{round_}-{i}", barrier, results))
            for i, e in enumerate(emitters)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(opened for _, opened in results) == 1
        assert {epoch for epoch, _ in results} == {round_ + 1}


def test_with_a_release_id_startup_is_once_per_release_whatever_the_restarts(client):
    for _ in range(3):
        Replica(client, "v41").start().stop()
    assert startup_ticks(client) == 1 and not client.exists(Keys.TICKER_EPOCH)  # no epoch needed
    Replica(client, "v42").start().stop()
    assert startup_ticks(client) == 2


def test_a_startup_claim_expires_after_its_bound(client):
    Replica(client, "v41").start().stop()
    ttl = client.ttl(Keys.startup_claim(TASK.value, "v41"))
    assert STARTUP_CLAIM_TTL_S - 60 < ttl <= STARTUP_CLAIM_TTL_S == 30 * 24 * 3600
    client.delete(Keys.startup_claim(TASK.value, "v41"))  # as if the bound had passed
    Replica(client, "v41").start().stop()
    assert startup_ticks(client) == 2


def test_a_claim_an_earlier_version_kept_in_the_releases_hash_still_counts(client):
    client.hset(Keys.RELEASES, f"{TASK.value}:v40", make_tick(TASK, reason=TickReason.STARTUP).model_dump_json())
    Replica(client, "v40").start().stop()
    assert startup_ticks(client) == 0


def test_the_epoch_script_refuses_a_key_of_the_wrong_type(client):
    client.set(Keys.heartbeats("ticker"), "not a sorted set")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        TickEmitter(client).open_epoch("t", 15_000)


TICKER = "from ticker.__main__ import main; raise SystemExit(main())"
ONLY_STARTUP = {
    "SCHEDULE_GITHUB_SYNC": "off",
    "SCHEDULE_SERVER_SYNC": "off",
    "SCHEDULE_HEALTH_CHECKER": "off",
    "SCHEDULE_RAG_SUMMARIZER": "off",
    "SCHEDULE_PROVISIONER_TRIGGER": "startup",
}


def _said(log, text: str) -> bool:
    return log.exists() and text in log.read_text()


def _start(redis_url, log, **env):
    """A ticker process; returns once it has claimed (or found claimed) its startup tick."""
    process = spawn(TICKER, {"REDIS_URL": redis_url, **ONLY_STARTUP, **env}, log=log)
    wait_until(lambda: _said(log, '"startup tick'), timeout=30)
    return process


@pytest.mark.slow
def test_real_tickers_restarted_open_an_epoch_each_time_the_fleet_starts_from_nothing(client, redis_url, tmp_path):
    # three restarts, no overlap: three startup ticks
    for i in range(3):
        process = _start(redis_url, tmp_path / f"alone{i}.log")
        stop(process)
        assert process.returncode == 0
    assert startup_ticks(client) == 3 and live_processes(client) == []
    # two started together: one
    together = [
        spawn(TICKER, {"REDIS_URL": redis_url, **ONLY_STARTUP}, log=tmp_path / f"pair{i}.log") for i in range(2)
    ]
    try:
        wait_until(lambda: all(_said(tmp_path / f"pair{i}.log", '"startup tick') for i in range(2)), timeout=30)
        assert startup_ticks(client) == 4
        # one restarted while the other lives: none
        stop(together[0])
        together[0] = _start(redis_url, tmp_path / "rejoined.log")
        assert _said(tmp_path / "rejoined.log", "ticker epoch joined")
        assert startup_ticks(client) == 4
    finally:
        for process in together:
            stop(process)


@pytest.mark.slow
def test_real_tickers_with_a_release_id_tick_once_per_release(client, redis_url, tmp_path):
    for i, release in enumerate(["v7", "v7", "v8"]):
        stop(_start(redis_url, tmp_path / f"{i}.log", RELEASE_ID=release))
    pair = [
        spawn(
            TICKER,
            {"REDIS_URL": redis_url, **ONLY_STARTUP, "HEROKU_RELEASE_VERSION": "v9"},
            log=tmp_path / f"v9-{i}.log",
        )
        for i in range(2)
    ]
    try:
        wait_until(lambda: all(_said(tmp_path / f"v9-{i}.log", '"startup tick') for i in range(2)), timeout=30)
    finally:
        for process in pair:
            stop(process)
    assert startup_ticks(client) == 3
    assert [client.exists(Keys.startup_claim(TASK.value, r)) for r in ("v7", "v8", "v9")] == [1, 1, 1]
