"""Heartbeats: each ticker and worker process says, every few seconds, that it is alive.

Why: ``scheduler status`` and the dashboard show which processes run (host, pid, release,
version, queues, tasks) and flag a scheduled task no live worker serves; the ticker asks whether
any other ticker lives to tell a fleet starting from nothing (a new startup epoch) from a
replica joining one.

The layout is ``contracts.heartbeat``'s: one string per process with a TTL of
``HEARTBEAT_MISSED_BEATS`` intervals, and a sorted set per role scoring each process id by the
expiry of its entry, in epoch milliseconds by the Redis server's clock (the one clock every
replica shares; the ticker uses it too). A writer prunes its index on each beat and readers
skip and drop expired members, so the index never needs a SCAN and never grows with the dead.
A process that stops cleanly removes its entry; one that dies is gone after three missed beats.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import cache
from importlib.metadata import PackageNotFoundError, version

import redis
import redis.asyncio as aioredis
from pydantic import ValidationError

from contracts import HEARTBEAT_MISSED_BEATS, ROLES, Heartbeat, Keys
from contracts.heartbeat import Role
from process.clock import millis_of, redis_now_ms
from process.logs import get_logger

#: seconds between beats unless ``HEARTBEAT_INTERVAL_S`` says otherwise
DEFAULT_INTERVAL_S = 5.0

log = get_logger("heartbeats")


@cache
def package_version() -> str:
    """The installed ``scheduler`` distribution's version (``unknown`` when run uninstalled)."""
    try:
        return version("scheduler")
    except PackageNotFoundError:
        return "unknown"


def new_process_id(host: str, pid: int) -> str:
    """``host:pid:random``: pids repeat across containers and restarts, the random part does not."""
    return f"{host}:{pid}:{secrets.token_hex(3)}"


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def ttl_ms(interval_s: float) -> int:
    """How long one beat keeps a process alive: ``HEARTBEAT_MISSED_BEATS`` intervals."""
    return max(1, int(interval_s * HEARTBEAT_MISSED_BEATS * 1000))


class HeartbeatWriter:
    """One process's heartbeat: written at ``start``, every ``interval_s`` after it from a daemon
    thread, and removed at ``stop``. A Redis outage only skips beats (logged once): the entry
    expires if it lasts past three of them, which is what a reader should then believe."""

    def __init__(
        self,
        client: redis.Redis,
        role: Role,
        *,
        release: str,
        queues: Iterable[str] = (),
        tasks: Iterable[str] = (),
        interval_s: float = DEFAULT_INTERVAL_S,
        host: str | None = None,
        pid: int | None = None,
        process_id: str | None = None,
    ):
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.client = client
        self.role: Role = role
        self.host = host or socket.gethostname()
        self.pid = os.getpid() if pid is None else pid
        #: given when the process needed its id before its first beat (a worker's own queues)
        self.id = process_id or new_process_id(self.host, self.pid)
        self.release = release
        self.queues = sorted(queues)
        self.tasks = sorted(tasks)
        self.interval_s = interval_s
        self.key = Keys.heartbeat(self.id)
        self.index = Keys.heartbeats(role)
        self.started_at: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    @property
    def ttl_ms(self) -> int:
        return ttl_ms(self.interval_s)

    def beat(self) -> Heartbeat:
        """Write one beat now (by the Redis clock) and drop the role's expired index members."""
        now = redis_now_ms(self.client)
        if self.started_at is None:
            self.started_at = _utc(now)
        heartbeat = Heartbeat(
            role=self.role,
            id=self.id,
            host=self.host,
            pid=self.pid,
            release=self.release,
            version=package_version(),
            queues=self.queues,
            tasks=self.tasks,
            started_at=self.started_at,
            last_seen=_utc(now),
            interval_s=self.interval_s,
        )
        pipe = self.client.pipeline(transaction=True)
        pipe.set(self.key, heartbeat.model_dump_json(), px=self.ttl_ms)
        pipe.zadd(self.index, {self.id: now + self.ttl_ms})
        pipe.zremrangebyscore(self.index, "-inf", now)
        pipe.execute()
        return heartbeat

    def start(self) -> None:
        """The first beat now (so a reader sees the process as soon as it serves), then a beat
        every interval until ``stop``."""
        if self._thread is not None:
            return
        self._beat_logged()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{self.role}", daemon=True)
        self._thread.start()
        log.info("heartbeat started", process=self.id, role=self.role, interval_s=self.interval_s)

    def stop(self) -> None:
        """Stop beating and remove the entry, so a clean stop is seen at once (not after the TTL)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.delete(self.key)
            pipe.zrem(self.index, self.id)
            pipe.execute()
        except redis.RedisError as exc:  # it will expire on its own
            log.warning("heartbeat not removed; it expires by itself", process=self.id, error=str(exc))

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._beat_logged()

    def _beat_logged(self) -> None:
        try:
            self.beat()
        except redis.RedisError as exc:
            if not self._failing:
                self._failing = True
                log.warning("heartbeat not written; retrying at the next beat", process=self.id, error=str(exc))
            return
        if self._failing:
            self._failing = False
            log.info("heartbeat written again", process=self.id)


def _roles(role: str | None) -> Sequence[str]:
    if role is None:
        return ROLES
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    return (role,)


def _alive(roles: Sequence[str], now_pair, indexes) -> tuple[list[str], dict[str, list[bytes]]]:
    """The live process ids (index order) and, per role's index, the expired members to drop."""
    now = millis_of(now_pair)
    live, dead = [], {}
    for role, members in zip(roles, indexes, strict=True):
        dead[Keys.heartbeats(role)] = [member for member, score in members if score <= now]
        live += [member.decode() for member, score in members if score > now]
    return live, dead


def _parse(raws: list[bytes | None]) -> list[Heartbeat]:
    found = []
    for raw in raws:
        if raw is None:
            continue  # expired between the two reads, or removed by a clean stop
        try:
            found.append(Heartbeat.model_validate_json(raw))
        except ValidationError:
            log.warning("unreadable heartbeat skipped")
    return sorted(found, key=lambda h: (ROLES.index(h.role), h.started_at, h.id))


def live_processes(client: redis.Redis, role: str | None = None) -> list[Heartbeat]:
    """Every live process (of ``role``, or of every role), ordered by role then start; expired
    index members are removed on the way."""
    roles = _roles(role)
    pipe = client.pipeline(transaction=False)
    pipe.time()
    for name in roles:
        pipe.zrange(Keys.heartbeats(name), 0, -1, withscores=True)
    now_pair, *indexes = pipe.execute()
    live, dead = _alive(roles, now_pair, indexes)
    pipe = client.pipeline(transaction=False)
    for index, members in dead.items():
        if members:
            pipe.zrem(index, *members)
    if live:
        pipe.mget([Keys.heartbeat(process) for process in live])
    answers = pipe.execute()
    return _parse(answers[-1]) if live else []


async def live_processes_async(client: aioredis.Redis, role: str | None = None) -> list[Heartbeat]:
    """``live_processes`` for code on an event loop (a web dashboard), with the asyncio client."""
    roles = _roles(role)
    pipe = client.pipeline(transaction=False)
    pipe.time()
    for name in roles:
        pipe.zrange(Keys.heartbeats(name), 0, -1, withscores=True)
    now_pair, *indexes = await pipe.execute()
    live, dead = _alive(roles, now_pair, indexes)
    pipe = client.pipeline(transaction=False)
    for index, members in dead.items():
        if members:
            pipe.zrem(index, *members)
    if live:
        pipe.mget([Keys.heartbeat(process) for process in live])
    answers = await pipe.execute()
    return _parse(answers[-1]) if live else []
