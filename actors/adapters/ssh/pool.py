"""Open SSH connections kept across checks: a check is a session on a connection that exists.

Why: key exchange and authentication are most of a check's CPU on both ends (2–3 ms each side
per check with asyncssh), and every login is a line in the server's auth log (720 a day per
server at the 2-minute cadence). A server's connection is kept open between slots, so a
steady check costs one channel: open, exec, read, close.

The rules, all here:

- **One pool per event loop** (asyncssh connections belong to the loop that made them; see
  ``kit.PerLoop``), so one per worker process in production (Dramatiq's one loop thread).
- **Keyed by (host, port, user, trusted host keys)**: a record whose address, user or pinned
  keys change gets a new connection; the old one is left to go idle.
- **Bounds in time**: a connection unused for ``idle_s`` is closed (a server this worker no
  longer owns, or no longer monitored); one older than ``max_age_s`` is not used again: the
  next check makes a new one, which verifies the host key afresh. A host key changed on the
  server is therefore noticed within ``max_age_s``, and at once when sshd restarts (the
  connection drops). With ``max_age_s`` = 3600 a server sees at most 24 logins a day.
- **Liveness**: the connection sends keepalives (``keepalive_s``; three unanswered close it);
  a connection that dropped is forgotten the moment asyncssh says so (``lost``).
- **A dead connection costs no slot**: a check whose *reused* connection turned out dead
  (the channel could not open, or the connection dropped before the script's exit status) is
  tried once more on a new connection, within the same check (``Lease.reused``, ``discard``).
- **Bounded in number**: at most ``max_open`` connections are kept; past that a check
  connects, runs and closes, as without a pool (``pooled`` False), and nothing is evicted
  (evicting to make room would make every check a new login).

The pool never decides how to connect: ``acquire`` takes the caller's ``connect`` coroutine,
so host key checking, authentication and their findings stay in the probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from process.logs import get_logger

log = get_logger(__name__)

#: how often (at most) the reaper looks for idle and aged connections, as a share of the bounds
REAP_SHARE = 0.25


@dataclass(frozen=True)
class PoolConfig:
    #: connections kept open at most; 0: no pool (a connection per check)
    max_open: int = 0
    #: closed after this long unused
    idle_s: float = 300.0
    #: not used again once this old: the next check logs in afresh (host key verified again)
    max_age_s: float = 3600.0
    #: keepalive interval on a kept connection (asyncssh's ``keepalive_interval``); 0: none
    keepalive_s: float = 60.0

    def __post_init__(self):
        if self.max_open < 0 or self.idle_s <= 0 or self.max_age_s <= 0 or self.keepalive_s < 0:
            raise ValueError("pool bounds must be positive (max_open and keepalive_s may be 0)")

    @property
    def enabled(self) -> bool:
        return self.max_open > 0


@dataclass(eq=False)
class _Entry:
    key: Hashable
    conn: Any
    opened_at: float
    last_used: float
    busy: int = 0
    retired: bool = False


@dataclass(eq=False)
class Lease:
    """One check's use of a connection. ``reused``: it was open before this check (so, if it
    fails as a dead connection would, one more try on a new one is worth it). ``pooled``: kept
    after the check (False past ``max_open`` or without a pool: closed when the lease ends)."""

    conn: Any
    reused: bool
    pooled: bool
    _entry: _Entry | None = field(default=None, repr=False)
    _discarded: bool = field(default=False, repr=False)


class ConnectionPool:
    """Open connections by key, for one event loop. ``clock`` is monotonic seconds (tests move it)."""

    def __init__(self, config: PoolConfig, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.clock = clock
        self._entries: dict[Hashable, _Entry] = {}
        self._reaper: asyncio.Task | None = None
        self._last_reap = clock()
        self.stats = {
            "connects": 0,
            "reuses": 0,
            "unpooled": 0,
            "closed_idle": 0,
            "closed_aged": 0,
            "lost": 0,
            "discarded": 0,
        }

    def __len__(self) -> int:
        return len(self._entries)

    @contextlib.asynccontextmanager
    async def acquire(self, key: Hashable, connect: Callable[[], Awaitable[Any]]):
        """A lease on ``key``'s open connection, or on a new one made by ``connect()`` (whose
        exceptions propagate: nothing is kept of a failed connect)."""
        now = self.clock()
        self._maybe_reap(now)
        entry = self._entries.get(key)
        if entry is not None and _is_closed(entry.conn):
            self.lost(key, entry.conn)
            entry = None
        if entry is not None and now - entry.opened_at >= self.config.max_age_s:
            self._retire(entry, "closed_aged")
            entry = None
        if entry is not None:
            self.stats["reuses"] += 1
            lease = Lease(entry.conn, reused=True, pooled=True, _entry=entry)
        else:
            conn = await connect()
            self.stats["connects"] += 1
            now = self.clock()
            if self.config.enabled and key not in self._entries and len(self._entries) < self.config.max_open:
                entry = self._entries[key] = _Entry(key, conn, opened_at=now, last_used=now)
                lease = Lease(conn, reused=False, pooled=True, _entry=entry)
                self._ensure_reaper()
            else:  # no pool, full, or another check of the same key got there first
                self.stats["unpooled"] += self.config.enabled
                lease = Lease(conn, reused=False, pooled=False)
        if lease._entry is not None:
            lease._entry.busy += 1
        try:
            yield lease
        finally:
            closing = self._release(lease)
            if closing is not None:
                await _wait_closed(closing)

    def discard(self, lease: Lease) -> None:
        """The lease's connection is broken: never hand it out again (closed when released)."""
        lease._discarded = True
        if lease._entry is not None and not lease._entry.retired:
            self.stats["discarded"] += 1
            self._forget(lease._entry)

    def lost(self, key: Hashable, conn: Any) -> None:
        """asyncssh says ``conn`` is gone (peer closed, keepalives unanswered, network error)."""
        entry = self._entries.get(key)
        if entry is not None and entry.conn is conn:
            self.stats["lost"] += 1
            self._forget(entry)

    def reap(self) -> int:
        """Close what is idle longer than ``idle_s`` or older than ``max_age_s`` and not in use;
        returns how many were closed."""
        now = self.clock()
        self._last_reap = now
        closed = 0
        for entry in list(self._entries.values()):
            if entry.busy:
                continue
            if now - entry.last_used >= self.config.idle_s:
                self._retire(entry, "closed_idle")
                closed += 1
            elif now - entry.opened_at >= self.config.max_age_s:
                self._retire(entry, "closed_aged")
                closed += 1
        return closed

    async def aclose(self) -> None:
        """Close every connection (a stopping worker, a test's loop)."""
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        entries, self._entries = list(self._entries.values()), {}
        for entry in entries:
            entry.retired = True
            _close(entry.conn)
        await asyncio.gather(*(_wait_closed(e.conn) for e in entries), return_exceptions=True)

    # ------------------------------------------------------------------ inside

    def _release(self, lease: Lease) -> Any:
        """Give the lease back; returns a connection this closed for the caller to wait on."""
        entry = lease._entry
        if entry is None:
            _close(lease.conn)
            return lease.conn
        entry.busy -= 1
        entry.last_used = self.clock()
        if (lease._discarded or entry.retired) and entry.busy == 0:
            _close(entry.conn)
        return None

    def _retire(self, entry: _Entry, why: str) -> None:
        """No more leases on it; closed now if unused, else when its last lease ends."""
        self.stats[why] += 1
        self._forget(entry)
        if entry.busy == 0:
            _close(entry.conn)

    def _forget(self, entry: _Entry) -> None:
        entry.retired = True
        if self._entries.get(entry.key) is entry:
            del self._entries[entry.key]

    def _reap_every(self) -> float:
        return max(1.0, min(self.config.idle_s, self.config.max_age_s) * REAP_SHARE)

    def _maybe_reap(self, now: float) -> None:
        if now - self._last_reap >= self._reap_every():
            self.reap()

    def _ensure_reaper(self) -> None:
        """A background reaper on this loop, so connections close even when no check comes."""
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap_forever(), name="ssh-pool-reaper")

    async def _reap_forever(self) -> None:
        while self._entries:
            await asyncio.sleep(self._reap_every())
            self.reap()
        self._reaper = None


def _is_closed(conn: Any) -> bool:
    is_closed = getattr(conn, "is_closed", None)
    return bool(is_closed()) if is_closed else False


def _close(conn: Any) -> None:
    with contextlib.suppress(Exception):
        conn.close()


async def _wait_closed(conn: Any) -> None:
    wait = getattr(conn, "wait_closed", None)
    if wait is not None:
        await wait()
