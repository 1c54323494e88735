"""``python -m ticker``: the tick emitter process.

It checks its configuration first: every problem is listed in one message and the process
exits with status 78 (EX_CONFIG), without a traceback, before it touches Redis. Tasks this
release has no actor for (``contracts.IMPLEMENTED_TASKS``) get no ticks.
"""

from __future__ import annotations

from process.noise import quiet_asyncssh_dsa

quiet_asyncssh_dsa()  # before anything imports asyncssh: process/noise.py

import sys
from collections.abc import Collection, Mapping

from contracts import IMPLEMENTED_TASKS, TaskName
from process.connection import RedisCertificateRefused, check_redis, redis_from_url
from process.heartbeats import HeartbeatWriter
from process.logs import configure_logging, get_logger
from process.misconfiguration import SCHEDULE_HINT, Problem, process_settings, refuse, schedule_variable
from process.settings import task_schedules
from process.signals import stop_on_signals

from .loop import Ticker, scheduled_tasks
from .slots import Off, Schedule, ScheduleError, parse_schedule


def schedules_in_force(
    texts: Mapping[TaskName, str], implemented: Collection[TaskName], log
) -> dict[TaskName, Schedule]:
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
    settings, problems = process_settings("ticker")
    texts = task_schedules()
    for task, text in texts.items():
        try:
            parse_schedule(text)
        except ScheduleError as exc:
            problems.append(
                Problem(schedule_variable(task.value), f"is invalid: {exc}", f"task {task.value}", SCHEDULE_HINT)
            )
    if problems:
        return refuse(problems, "ticker")
    configure_logging(settings.log_format, settings.log_level)
    log = get_logger("ticker")
    schedules = schedules_in_force(texts, implemented, log)
    client = redis_from_url(settings.redis_url, settings)
    try:
        check_redis(client)  # an unreachable Redis is waited for by the loop; a refused certificate is not
    except RedisCertificateRefused as exc:
        return refuse([Problem("REDIS_SSL_CERT_REQS", str(exc), "the ticker")], "ticker")
    stop = stop_on_signals(log)
    heartbeat = HeartbeatWriter(
        client,
        "ticker",
        release=settings.release,
        tasks=scheduled_tasks(schedules),
        interval_s=settings.heartbeat_interval_s,
    )
    Ticker(client, schedules, settings.deploy_release, stop, heartbeat).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
