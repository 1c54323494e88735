"""The worker process: consume every task queue until SIGTERM, then stop within seconds."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import dramatiq
import redis

from actors.runtime.broker import build_broker
from actors.runtime.spec import TaskSpec
from scheduler.logs import get_logger
from scheduler.settings import Settings
from scheduler.signals import stop_on_signals

log = get_logger("worker")


def run_worker(tasks: Iterable[TaskSpec], settings: Settings, client: redis.Redis, deps: Any = None,
               stop: threading.Event | None = None) -> int:
    """Serve ``tasks`` until SIGTERM or SIGINT (or ``stop``, from a caller that started listening for
    them earlier); each run and part is handed ``deps``."""
    tasks = list(tasks)
    broker = build_broker(client, tasks, settings, deps)
    dramatiq.set_broker(broker)

    stop = stop or stop_on_signals(log)

    broker.emit_after("process_boot")
    worker = dramatiq.Worker(broker, worker_threads=settings.worker_threads, worker_timeout=100)
    worker.start()
    log.info("worker started", tasks=[t.task.value for t in tasks], threads=settings.worker_threads)
    stop.wait()
    # Running actors get a Shutdown interrupt (they are abandoned, their locks released, their
    # ticks retried elsewhere); prefetched messages go back to their queues.
    worker.stop(timeout=settings.worker_shutdown_ms)
    broker.close()
    log.info("worker stopped")
    return 0
