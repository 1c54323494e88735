"""``python -m actors``: a worker process for every task in the registry.

The composition root: the one place that joins the task registry to the runtime (so that
``actors.runtime`` never imports a task) and builds the process's dependencies object. It checks
the configuration first — the shared settings, and what each scheduled task needs (a task whose
``SCHEDULE_<TASK>`` is ``off`` is not checked) — and on any problem prints one message listing
them all and exits with status 78 (EX_CONFIG).
"""

from __future__ import annotations

from process.noise import quiet_asyncssh_dsa

quiet_asyncssh_dsa()  # before anything imports asyncssh: process/noise.py

import sys

from actors.configuration import absent_credentials, check_platform, check_tasks, publish_configuration
from actors.runtime.worker import run_worker
from actors.tasks import TASKS
from actors.tasks.deps import Dependencies
from contracts import TaskName
from process.connection import RedisCertificateRefused, redis_from_url, wait_for_redis
from process.limits import collect_less, raise_open_files
from process.logs import configure_logging, get_logger
from process.misconfiguration import Problem, process_settings, refuse
from process.settings import task_schedules
from process.signals import stop_on_signals

log = get_logger("worker")


def main() -> int:
    settings, problems = process_settings("worker")
    schedules = task_schedules()
    scheduled = [task for task in TASKS if schedules.get(task, "").lower() != "off"]
    # A task whose credentials are not given at all is "not configured": said once, its ticks
    # not emitted. One configured wrongly refuses the start: that is a mistake to fix now.
    absent = {task: missing for task in scheduled if (missing := absent_credentials(task))}
    problems += check_tasks(task for task in scheduled if task not in absent)
    if not problems:  # the platform is asked only once the settings that reach it are right
        problems += check_platform(TASKS[task] for task in scheduled if task not in absent)
    if problems:
        return refuse(problems, "worker")
    configure_logging(settings.log_format, settings.log_level)
    files = raise_open_files()  # kept SSH connections are a socket each (HEALTH_SSH_POOL_MAX)
    log.info("open-file limit", soft=files.soft, hard=files.hard, raised_from=files.before if files.raised else None)
    stop = stop_on_signals(log)  # from here on a SIGTERM stops the worker cleanly, even while it starts
    client = redis_from_url(settings.redis_url, settings)
    try:  # an unreachable Redis (down, restarting, loading its data) is waited for; a refused certificate is not
        if not wait_for_redis(client, stop, log):
            client.close()
            return 0
    except RedisCertificateRefused as exc:
        client.close()
        return refuse([Problem("REDIS_SSL_CERT_REQS", str(exc), "the worker")], "worker")
    publish_configuration(client, {task: absent.get(task, []) for task in TASKS})
    deps = Dependencies(settings, client)
    served = [task for task in scheduled if task not in absent]
    settings = settings.model_copy(update={"worker_threads": worker_threads(settings, deps, served)})
    serving = [task.value for task in TASKS if task not in absent]
    collect_less()
    return run_worker(TASKS.values(), settings, client, deps, stop, serving)


def worker_threads(settings, deps: Dependencies, served: list[TaskName]) -> int:
    """``WORKER_THREADS``, raised to what the served tasks need (``TaskSpec.threads_needed``)."""
    needs = {task.value: spec.threads_needed(deps) for task in served if (spec := TASKS[task]).threads_needed}
    needed = max(needs.values(), default=0)
    if needed > settings.worker_threads:
        log.info(
            "worker threads raised for the tasks served",
            worker_threads=needed,
            configured=settings.worker_threads,
            needed_by=needs,
        )
        return needed
    return settings.worker_threads


if __name__ == "__main__":
    sys.exit(main())
