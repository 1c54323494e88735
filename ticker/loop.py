"""The ticker: wake at each slot boundary (by the Redis clock), claim and emit what is due.

Any number of replicas run this same loop. There is no leader: each replica tries to claim
every due slot with a compare-and-set in Redis and exactly one succeeds, so killing one
replica delays nothing.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from datetime import UTC, datetime

import redis

from contracts import Keys, TaskName, Tick, TickReason
from process.clock import redis_now
from process.heartbeats import DEFAULT_INTERVAL_S, HeartbeatWriter, new_process_id, ttl_ms
from process.logs import get_logger

from .emit import TickEmitter
from .slots import Cron, Interval, Schedule, Startup, due_slot

#: never sleep longer than this, so pause/resume and a recovered Redis are seen within it
MAX_SLEEP_S = 1.0
#: a startup tick is worth running for this long
STARTUP_DEADLINE_S = 600

log = get_logger("ticker")


def not_configured(configuration: dict[bytes, bytes]) -> set[str]:
    """The tasks whose workers said (``Keys.CONFIGURATION``) that they have no credentials for them."""
    found = set()
    for task, raw in configuration.items():
        try:
            if json.loads(raw)["configured"] is False:
                found.add(task.decode())
        except (ValueError, KeyError, TypeError):
            continue  # not ours to trust: the task ticks as usual
    return found


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def scheduled_tasks(schedules: dict[TaskName, Schedule]) -> list[str]:
    """The tasks a ticker emits ticks for (its heartbeat's ``tasks``): every one not ``off``."""
    return sorted(t.value for t, s in schedules.items() if isinstance(s, Interval | Cron | Startup))


class Ticker:
    """``release``: the deploy's release id, or None, when the startup task runs once per epoch
    (each time the ticker fleet starts from nothing). ``heartbeat``: this process's writer, started
    once the ticker has joined the fleet (``join``)."""

    def __init__(
        self,
        client: redis.Redis,
        schedules: dict[TaskName, Schedule],
        release: str | None,
        stop: threading.Event | None = None,
        heartbeat: HeartbeatWriter | None = None,
    ):
        self.client = client
        self.emitter = TickEmitter(client)
        self.periodic = {t: s for t, s in schedules.items() if isinstance(s, Interval | Cron)}
        self.startup = [t for t, s in schedules.items() if isinstance(s, Startup)]
        self.schedules = schedules
        self.release = release
        self.stop = stop or threading.Event()
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.heartbeat = heartbeat
        self.process_id = heartbeat.id if heartbeat else new_process_id(socket.gethostname(), os.getpid())
        self._heartbeat_ttl_ms = heartbeat.ttl_ms if heartbeat else ttl_ms(DEFAULT_INTERVAL_S)
        #: what the startup claim is keyed by: the release id, or ``epoch-<n>``; set by ``join``
        self.startup_key: str | None = None
        self._startup_done = False
        self._redis_down = False

    def join(self) -> str:
        """Decide what this ticker's startup tick is claimed for, then start its heartbeat.

        Without a release id the ticker opens a new epoch if no other ticker's heartbeat is
        alive, or joins the current one (one atomic script). The heartbeat starts only after
        that decision: started earlier, two tickers starting together could each see the
        other and both join the previous epoch, and no startup tick would be emitted."""
        if self.startup_key is None:
            if self.release is not None:
                self.startup_key = self.release
            else:
                epoch, opened = self.emitter.open_epoch(self.process_id, self._heartbeat_ttl_ms)
                self.startup_key = f"epoch-{epoch}"
                log.info(
                    "ticker epoch opened" if opened else "ticker epoch joined",
                    epoch=epoch,
                    note="no release id: the startup task runs once per epoch",
                )
        if self.heartbeat is not None:
            self.heartbeat.start()
        return self.startup_key

    def run(self) -> None:
        log.info(
            "ticker started",
            replica=self.name,
            release=self.release or "none (epochs)",
            schedules={t.value: str(s) for t, s in self.schedules.items()},
        )
        try:
            self._loop()
        finally:
            if self.heartbeat is not None:
                self.heartbeat.stop()
        log.info("ticker stopped", replica=self.name)

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                if self.startup_key is None:
                    self.join()
                wait = self.tick_once()
                if self._redis_down:
                    self._redis_down = False
                    log.info("redis reachable again")
            except redis.RedisError as exc:
                if not self._redis_down:
                    self._redis_down = True
                    log.warning("redis unavailable; retrying", error=str(exc))
                wait = 0.5
            self.stop.wait(wait)

    def tick_once(self) -> float:
        """Emit everything due now; return how long to sleep before the next boundary."""
        now = redis_now(self.client)
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(Keys.LAST_SLOT)
        pipe.smembers(Keys.PAUSED)
        pipe.hset(Keys.SCHEDULES, mapping={t.value: str(s) for t, s in self.schedules.items()})
        pipe.hgetall(Keys.CONFIGURATION)
        raw_last, raw_paused, _, raw_configuration = pipe.execute()
        last_slots = {k.decode(): int(v) for k, v in raw_last.items()}
        # A paused task, or one the workers said they lack credentials for, gets its slots claimed
        # (no catch-up storm when it comes back) but nothing enqueued.
        unconfigured = not_configured(raw_configuration)
        held = {p.decode() for p in raw_paused} | unconfigured

        for task, schedule in self.periodic.items():
            last = last_slots.get(task.value)
            due = due_slot(schedule, last, now)
            if due is None or self.stop.is_set():
                continue
            reason = TickReason.CATCH_UP if due.catch_up else TickReason.SCHEDULE
            tick = self._tick(task, due.slot, due.deadline, reason, due.missed)
            running = task.value not in held
            try:
                claimed = self.emitter.claim(tick, last, enqueue=running)
            except redis.ResponseError as exc:  # refused whole: nothing claimed, retried next loop
                log.error("tick not emitted", task=task.value, slot=tick.slot, error=str(exc))
                continue
            if claimed and running:
                log.info("tick emitted", task=task.value, slot=tick.slot, reason=reason.value, missed=due.missed)

        if not self._startup_done and not self.stop.is_set():
            release = self.startup_key or self.join()
            waiting = False
            for task in self.startup:
                if task.value in unconfigured:
                    waiting = True  # claimed for this release once a worker can run it
                    continue
                slot = int(now)
                tick = self._tick(task, slot, slot + STARTUP_DEADLINE_S, TickReason.STARTUP, 0)
                if self.emitter.claim_release(tick, release):
                    log.info("startup tick emitted", task=task.value, release=release)
                else:
                    log.info("startup tick already emitted", task=task.value, release=release)
            self._startup_done = not waiting  # once every startup task was claimed or seen

        if not self.periodic:
            return MAX_SLEEP_S
        next_boundary = min(s.next_after(s.floor(now)) for s in self.periodic.values())
        # A hair past the boundary, so the next look finds the new slot already started.
        return max(0.001, min(MAX_SLEEP_S, next_boundary - now + 0.002))

    def _tick(self, task: TaskName, slot: int, deadline: int, reason: TickReason, missed: int) -> Tick:
        return Tick(
            task=task,
            slot=slot,
            scheduled_at=_utc(slot),
            deadline=_utc(deadline),
            reason=reason,
            missed=missed,
            emitted_by=self.name,
        )
