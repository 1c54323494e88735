"""TaskLocking: a task never runs twice at once, anywhere."""

from __future__ import annotations

import redis
from dramatiq import Middleware
from dramatiq.middleware import SkipMessage

from actors.runtime.lock import TaskLock
from actors.runtime.middleware.admission import AdmissionUnavailable, run_of
from contracts import RunOutcome
from process.logs import get_logger

log = get_logger("actors.locking")


class TaskLocking(Middleware):
    """Takes the task's lock before the actor runs and releases it after, whatever happened.

    A tick that finds the lock held is not queued behind it: it is skipped and recorded
    ``skipped_locked``. The lock is renewed every TTL/3 while the actor runs; a worker that
    is shut down (or abandons the run) releases it on the way out.

    Parameters:
      client(redis.Redis): the Redis holding the locks.
      ttl_ms(int): the lock's time to live; a killed holder frees it within this.
    """

    def __init__(self, client: redis.Redis, ttl_ms: int = 30_000):
        self.client = client
        self.ttl_ms = ttl_ms

    def before_process_message(self, broker, message):
        run = run_of(message)
        if run is None:
            return
        lock = TaskLock(self.client, run.tick.task.value, self.ttl_ms)
        try:
            acquired = lock.acquire()
        except redis.RedisError as exc:
            raise AdmissionUnavailable(f"redis unavailable: {exc}") from exc
        if not acquired:
            run.outcome = RunOutcome.SKIPPED_LOCKED
            raise SkipMessage("locked")
        run.lock = lock

    def after_process_message(self, broker, message, *, result=None, exception=None):
        run = run_of(message)
        if run is None or run.lock is None:
            return
        try:
            if not run.lock.release():
                log.warning("lock was no longer ours at release", fence=run.lock.fence)
        except redis.RedisError as exc:
            log.warning("lock release failed; it expires by itself", error=str(exc))

    after_skip_message = after_process_message
