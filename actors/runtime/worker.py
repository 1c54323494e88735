"""The worker process: consume every task queue until SIGTERM, then stop within seconds."""

from __future__ import annotations

from collections.abc import Iterable

import dramatiq

from scheduler.connection import redis_from_url
from scheduler.logs import configure_logging, get_logger
from scheduler.settings import Settings, get_settings
from scheduler.signals import stop_on_signals

from actors.runtime.broker import build_broker
from actors.runtime.spec import TaskSpec

log = get_logger("worker")


def run_worker(tasks: Iterable[TaskSpec] | None = None, settings: Settings | None = None) -> int:
    settings = settings or get_settings()
    configure_logging(settings.log_format, settings.log_level)
    if tasks is None:
        from actors.tasks import TASKS

        tasks = TASKS.values()
    tasks = list(tasks)
    client = redis_from_url(settings.redis_url, settings)
    broker = build_broker(client, tasks, settings)
    dramatiq.set_broker(broker)

    stop = stop_on_signals(log)

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
