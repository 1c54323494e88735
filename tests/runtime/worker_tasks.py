"""Task bodies for tests that run a worker process of their own (``python -c``)."""

from __future__ import annotations

import os
import time

from actors.runtime.run import TaskRun
from actors.runtime.spec import TaskSpec
from actors.runtime.worker import run_worker
from contracts import TaskName
from process.connection import redis_from_url
from process.logs import configure_logging
from process.settings import Settings


def slow(run: TaskRun) -> None:
    """Marks its start in Redis, then works for SLOW_TASK_S seconds, checking its fence."""
    run.client.rpush("test:started", f"{run.tick.task.value}:{run.tick.slot}")
    end = time.monotonic() + float(os.environ.get("SLOW_TASK_S", "30"))
    while time.monotonic() < end:
        run.check_fence()
        time.sleep(0.05)  # the work itself: a task busy for SLOW_TASK_S, not a wait for an event


def quick(run: TaskRun) -> None:
    run.client.rpush("test:started", f"{run.tick.task.value}:{run.tick.slot}")
    run.count("ran")


def main() -> None:
    specs = [
        TaskSpec(TaskName.HEALTH_CHECKER, slow),
        TaskSpec(TaskName.GITHUB_SYNC, quick),
        TaskSpec(TaskName.SERVER_SYNC, quick),
        TaskSpec(TaskName.RAG_SUMMARIZER, quick),
        TaskSpec(TaskName.PROVISIONER_TRIGGER, quick),
    ]
    settings = Settings()  # this process's entry point: it reads them once and passes them on
    configure_logging(settings.log_format, settings.log_level)  # as the worker's own main does
    raise SystemExit(run_worker(specs, settings, redis_from_url(settings.redis_url, settings)))
