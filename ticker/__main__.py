"""``python -m ticker``: the tick emitter process.

It checks its configuration first: every problem is listed in one message and the process
exits with status 78 (EX_CONFIG), without a traceback, before it touches Redis.
"""

from __future__ import annotations

import sys

from scheduler.config import SCHEDULE_HINT, Problem, process_settings, refuse, schedule_variable
from scheduler.connection import RedisCertificateRefused, check_redis, redis_from_url
from scheduler.logs import configure_logging, get_logger
from scheduler.settings import task_schedules
from scheduler.signals import stop_on_signals

from .loop import Ticker
from .slots import ScheduleError, parse_schedule


def main() -> int:
    settings, problems = process_settings("ticker")
    schedules = {}
    for task, text in task_schedules().items():
        try:
            schedules[task] = parse_schedule(text)
        except ScheduleError as exc:
            problems.append(Problem(schedule_variable(task.value), f"is invalid: {exc}", f"task {task.value}",
                                    SCHEDULE_HINT))
    if problems:
        return refuse(problems, "ticker")
    configure_logging(settings.log_format, settings.log_level)
    log = get_logger("ticker")
    client = redis_from_url(settings.redis_url, settings)
    try:
        check_redis(client)  # an unreachable Redis is waited for by the loop; a refused certificate is not
    except RedisCertificateRefused as exc:
        return refuse([Problem("REDIS_SSL_CERT_REQS", str(exc), "the ticker")], "ticker")
    stop = stop_on_signals(log)
    Ticker(client, schedules, settings.release, stop).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
