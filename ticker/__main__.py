"""``python -m ticker``: the tick emitter process."""

from __future__ import annotations

import sys

from scheduler.connection import redis_from_url
from scheduler.logs import configure_logging, get_logger
from scheduler.settings import get_settings, task_schedules
from scheduler.signals import stop_on_signals

from .loop import Ticker
from .slots import ScheduleError, parse_schedule


def main() -> int:
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    log = get_logger("ticker")
    try:
        schedules = {task: parse_schedule(text) for task, text in task_schedules().items()}
    except ScheduleError as exc:
        log.error("bad schedule", error=str(exc))
        return 2
    stop = stop_on_signals(log)
    Ticker(redis_from_url(settings.redis_url), schedules, settings.release, stop).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
