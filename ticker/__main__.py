"""``python -m ticker``: the tick emitter process."""

from __future__ import annotations

import signal
import sys
import threading

from scheduler.connection import redis_from_url
from scheduler.logs import configure_logging, get_logger
from scheduler.settings import get_settings, task_schedules

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
    stop = threading.Event()

    def on_signal(signum, _frame):
        # Heroku sends SIGTERM to the whole process group, sometimes twice: both just stop.
        if not stop.is_set():
            log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    Ticker(redis_from_url(settings.redis_url), schedules, settings.release, stop).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
