"""DeadManPings: healthchecks.io-style pings around each run, for tasks that have a ping URL.

Why: an outside dead-man switch notices what nothing inside can: a scheduler that is entirely
down (Redis gone, every dyno crashed) stops pinging, and the switch alerts. ``PING_URL_<TASK>``
(e.g. ``PING_URL_GITHUB_SYNC=https://hc-ping.com/<uuid>``) gets ``<url>/start`` when a run
starts, ``<url>`` when it succeeds (or is partial) and ``<url>/fail`` when it fails for good (a
failure Dramatiq will retry sends nothing more: the retry pings ``start`` again).

The hooks only put the ping on a bounded in-memory queue; one daemon thread sends them with a
short timeout, so a slow or dead ping endpoint never delays a run, and a full queue drops the
ping (logged). The URLs are credentials (anyone holding one can report for the task): they are
registered with the log redaction and never logged.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Mapping

import httpx
from dramatiq import Middleware
from pydantic import Field, SecretStr, create_model
from pydantic_settings import BaseSettings, SettingsConfigDict

from actors.runtime.middleware.admission import run_of
from contracts import TaskName
from process.logs import get_logger, register_secrets

log = get_logger("actors.pings")

#: pings waiting to be sent; past this they are dropped (a ping endpoint that hangs must not grow memory)
QUEUE_SIZE = 1000
PING_TIMEOUT_S = 5.0
#: a stopping worker sends what is queued for this long at most; the rest is dropped (the next
#: run pings again), so a dead endpoint cannot hold up a deploy
SHUTDOWN_FLUSH_S = 2.0


class _PingBase(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")


#: ``PING_URL_<TASK>`` for every task (listed in .env.example and app.json like any setting)
PingSettings = create_model(
    "PingSettings",
    __base__=_PingBase,
    __module__=__name__,
    **{
        f"ping_url_{task.value}": (
            SecretStr | None,
            Field(
                default=None,
                description=f"a dead-man ping URL for {task.value} (healthchecks.io style): "
                "<url>/start when a run starts, <url> on success, <url>/fail on a failure for good",
            ),
        )
        for task in TaskName
    },
)


def ping_urls(env: Mapping[str, str] | None = None) -> dict[TaskName, str]:
    """The tasks that have a ping URL, and that URL."""
    env = os.environ if env is None else env
    found = {task: env.get(f"PING_URL_{task.value.upper()}", "").strip() for task in TaskName}
    return {task: url.rstrip("/") for task, url in found.items() if url}


class DeadManPings(Middleware):
    """Place it after TaskLocking: its before-hook then runs only for a run that was admitted
    and got its lock, and its after-hook sees Retries' verdict (``message.failed``)."""

    def __init__(self, urls: Mapping[TaskName, str], *, timeout_s: float = PING_TIMEOUT_S):
        self.urls = dict(urls)
        register_secrets(self.urls.values())
        self.timeout_s = timeout_s
        self._queue: queue.Queue[tuple[TaskName, str, str] | None] = queue.Queue(maxsize=QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def _ping(self, task: TaskName, kind: str) -> None:
        base = self.urls.get(task)
        if base is None:
            return
        url = {"start": f"{base}/start", "success": base, "fail": f"{base}/fail"}[kind]
        try:
            self._queue.put_nowait((task, kind, url))
        except queue.Full:
            log.warning("ping dropped: the ping queue is full", task=task.value, ping=kind)
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._send_forever, name="dead-man-pings", daemon=True)
            self._thread.start()

    def _send_forever(self) -> None:
        dropped = 0
        with httpx.Client(timeout=self.timeout_s, follow_redirects=True) as http:
            while True:
                item = self._queue.get()
                if item is None:  # the worker stopped: see after_worker_shutdown
                    self._queue.task_done()
                    break
                task, kind, url = item
                try:
                    if self._stopping.is_set():
                        dropped += 1
                        continue
                    answer = http.get(url)
                    if not answer.is_success:
                        log.warning("ping refused", task=task.value, ping=kind, status=answer.status_code)
                except httpx.HTTPError as exc:  # its text may quote the URL: only the type is logged
                    log.warning("ping not sent", task=task.value, ping=kind, error=type(exc).__name__)
                finally:
                    self._queue.task_done()
        if dropped:
            log.warning("pings dropped: the worker stopped before they were sent", dropped=dropped)

    def before_process_message(self, broker, message):
        run = run_of(message)
        if run is not None:
            self._ping(run.tick.task, "start")

    def after_process_message(self, broker, message, *, result=None, exception=None):
        run = run_of(message)
        if run is None:
            return
        if exception is None:
            self._ping(run.tick.task, "success")
        elif message.failed:  # no retry left
            self._ping(run.tick.task, "fail")

    def after_worker_shutdown(self, broker, worker):
        """A stopping worker sends what is queued, ``SHUTDOWN_FLUSH_S`` at most, then ends the
        sender thread (a ping in flight finishes within its own timeout)."""
        thread = self._thread
        if thread is None:
            return
        self.flush(SHUTDOWN_FLUSH_S)
        self._stopping.set()
        try:
            self._queue.put(None, timeout=SHUTDOWN_FLUSH_S)
        except queue.Full:
            return  # the sender is stuck on a dead endpoint; it is a daemon and dies with the process
        self._thread = None

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued ping was sent or given up on (tests, and a worker stopping)."""
        done = threading.Event()
        threading.Thread(target=lambda: (self._queue.join(), done.set()), daemon=True).start()
        return done.wait(timeout_s)
