"""A renewable distributed lock per task, with an owner token and a fencing counter.

- acquire: ``SET lock <owner> NX PX ttl`` and ``INCR fence`` in one script; the fence
  number orders holders, so a holder that lost the lock can tell it is stale;
- renew: every ttl/3, only while the value is still ours (compare-and-expire);
- release: compare-and-delete (``release_if_owner``, for any claim keyed by a token), so a
  stale holder never frees someone else's lock;
- a SIGKILLed holder stops renewing and the lock frees itself within its TTL.

``dramatiq.rate_limits.ConcurrentRateLimiter`` has no owner and no renewal, so it is not
used as this lock. The scripts are in ``actors/runtime/lua/``.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid

import redis

from contracts import Keys
from process.logs import get_logger
from process.lua import load_script

log = get_logger("lock")


class LockLost(RuntimeError):
    """This run no longer holds its task's lock: its writes must stop."""


class TaskLock:
    """One acquisition of a task's lock. ``acquire()`` once; ``release()`` once."""

    def __init__(self, client: redis.Redis, task: str, ttl_ms: int = 30_000):
        self.client = client
        self.task = task
        self.ttl_ms = ttl_ms
        self.key = Keys.lock(task)
        self.fence_key = Keys.fence(task)
        # The lock's value says who holds it, for `scheduler status`; it is also the token.
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self.token = json.dumps(
            {
                "owner": self.owner,
                "id": uuid.uuid4().hex[:12],
                "since": round(time.time(), 3),
            }
        )
        self.fence: int | None = None
        self._released = False
        self.lost = threading.Event()
        self._stop_renewing = threading.Event()
        self._renewer: threading.Thread | None = None
        self._acquire = client.register_script(load_script("actors.runtime", "acquire"))
        self._renew = client.register_script(load_script("actors.runtime", "compare_and_expire"))
        self._holds = client.register_script(load_script("actors.runtime", "holds"))

    def acquire(self) -> bool:
        fence = int(self._acquire(keys=[self.key, self.fence_key], args=[self.token, self.ttl_ms]))
        if not fence:
            return False
        self.fence = fence
        self._renewer = threading.Thread(target=self._renew_loop, name=f"lock-renew:{self.task}", daemon=True)
        self._renewer.start()
        return True

    def _renew_loop(self) -> None:
        interval = self.ttl_ms / 3000
        while not self._stop_renewing.wait(interval):
            try:
                if not self._renew(keys=[self.key], args=[self.token, self.ttl_ms]):
                    self.lost.set()
                    log.error("lock lost", task=self.task, fence=self.fence)
                    return
            except redis.RedisError as exc:
                # Keep trying: the TTL still protects us until it runs out.
                log.warning("lock renewal failed", task=self.task, error=str(exc))

    def check(self) -> None:
        """The fencing check: raise LockLost unless we hold the lock and are the newest holder."""
        if self.fence is None:
            raise LockLost(f"{self.task}: lock was never acquired")
        if self.lost.is_set() or not self._holds(keys=[self.key, self.fence_key], args=[self.token, self.fence]):
            self.lost.set()
            current = self.client.get(self.fence_key)
            raise LockLost(f"{self.task}: lock lost (our fence {self.fence}, newest {int(current or 0)})")

    def release(self) -> bool:
        """Free the lock if it is still ours; True if it was. Safe to call twice."""
        self._stop_renewing.set()
        if self._renewer is not None:
            self._renewer.join(timeout=1)
        if self.fence is None or self._released:
            return self._released
        self._released = bool(release_if_owner(self.client, [self.key], self.token))
        return self._released


def release_if_owner(client: redis.Redis, keys: list[str], token: str | bytes) -> int:
    """Delete each of ``keys`` whose value is still ``token``; how many were. A holder whose
    claim expired (and was taken by someone else) frees nothing."""
    script = client.register_script(load_script("actors.runtime", "compare_and_delete"))
    return int(script(keys=keys, args=[token]))


def parse_holder(value: bytes | None) -> dict | None:
    """Who holds a lock, from the lock's value (None if free): the JSON a TaskLock writes
    (``owner``, ``id``, ``since``); any other value, left by some other writer, is its owner
    as text. The one reading of the value: ``scheduler status`` uses it too."""
    if value is None:
        return None
    try:
        holder = json.loads(value)
    except ValueError:
        holder = None
    if not isinstance(holder, dict) or "owner" not in holder:
        return {"owner": value.decode(errors="replace")}
    return holder
