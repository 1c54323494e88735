"""``python -m ticker``: the tick emitter process."""

from __future__ import annotations

import sys
from collections.abc import Collection, Mapping

from contracts import IMPLEMENTED_TASKS, TaskName
from scheduler.connection import redis_from_url
from scheduler.logs import configure_logging, get_logger
from scheduler.settings import get_settings, task_schedules
from scheduler.signals import stop_on_signals

from .loop import Ticker
from .slots import Off, Schedule, ScheduleError, parse_schedule


def schedules_in_force(texts: Mapping[TaskName, str], implemented: Collection[TaskName], log) -> dict[TaskName, Schedule]:
    """Each task's schedule, parsed; ``off`` for a task this release has no actor for, whose
    ticks would pile up in a queue no worker reads. Raises ScheduleError on a bad text, even
    an unimplemented task's, so a typo is found before the task lands."""
    schedules = {task: parse_schedule(text) for task, text in texts.items()}
    missing = sorted(task.value for task in schedules if task not in implemented)
    if missing:
        log.info("tasks not implemented in this release get no ticks", tasks=missing)
    return {task: schedule if task in implemented else Off() for task, schedule in schedules.items()}


def main(implemented: Collection[TaskName] = IMPLEMENTED_TASKS) -> int:
    """``implemented``: the tasks the workers can run; tests that start workers for other
    tasks pass their own."""
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    log = get_logger("ticker")
    try:
        schedules = schedules_in_force(task_schedules(), implemented, log)
    except ScheduleError as exc:
        log.error("bad schedule", error=str(exc))
        return 2
    stop = stop_on_signals(log)
    Ticker(redis_from_url(settings.redis_url), schedules, settings.release, stop).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
