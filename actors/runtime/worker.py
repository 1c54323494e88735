"""The worker process: consume every task queue until SIGTERM, then stop within seconds."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Collection, Iterable
from typing import Any

import dramatiq
import redis

from actors.runtime.broker import build_broker
from actors.runtime.spec import TaskSpec
from process.heartbeats import HeartbeatWriter, new_process_id
from process.logs import get_logger
from process.settings import Settings
from process.signals import stop_on_signals

log = get_logger("worker")


def run_worker(
    tasks: Iterable[TaskSpec],
    settings: Settings,
    client: redis.Redis,
    deps: Any = None,
    stop: threading.Event | None = None,
    serving: Collection[str] | None = None,
) -> int:
    """Serve ``tasks`` until SIGTERM or SIGINT (or ``stop``, from a caller that started listening for
    them earlier); each run and part is handed ``deps``. ``serving``: the tasks the heartbeat says
    this worker serves (those it has credentials for); every task in ``tasks`` when not given."""
    tasks = list(tasks)
    process_id = new_process_id(socket.gethostname(), os.getpid())  # its own queues are named after it
    broker = build_broker(client, tasks, settings, deps, process_id)
    dramatiq.set_broker(broker)

    stop = stop or stop_on_signals(log)

    broker.emit_after("process_boot")
    worker = dramatiq.Worker(broker, worker_threads=settings.worker_threads, worker_timeout=100)
    worker.start()
    heartbeat = HeartbeatWriter(
        client,
        "worker",
        release=settings.release,
        queues=broker.get_declared_queues(),
        tasks=[t.task.value for t in tasks] if serving is None else serving,
        interval_s=settings.heartbeat_interval_s,
        process_id=process_id,
    )
    heartbeat.start()  # once it consumes: a reader never sees a worker that is not serving yet
    log.info("worker started", tasks=[t.task.value for t in tasks], threads=settings.worker_threads)
    stop.wait()
    heartbeat.stop()  # first: a stopping worker no longer serves
    # Running actors get a Shutdown interrupt (they are abandoned, their locks released, their
    # ticks retried elsewhere); prefetched messages go back to their queues.
    worker.stop(timeout=settings.worker_shutdown_ms)
    broker.close()
    log.info("worker stopped")
    return 0
