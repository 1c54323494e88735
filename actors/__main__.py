"""``python -m actors``: a worker process for every task in the registry.

The composition root: the one place that joins the task registry to the runtime (so that
``actors.runtime`` never imports a task) and builds the process's dependencies object. It checks
the configuration first — the shared settings, and what each scheduled task needs (a task whose
``SCHEDULE_<TASK>`` is ``off`` is not checked) — and on any problem prints one message listing
them all and exits with status 78 (EX_CONFIG).
"""

from __future__ import annotations

import sys

from actors.configuration import absent_credentials, check_tasks, publish_configuration
from actors.runtime.worker import run_worker
from actors.tasks import TASKS
from actors.tasks.deps import Dependencies
from scheduler.config import Problem, process_settings, refuse
from scheduler.connection import RedisCertificateRefused, check_redis, redis_from_url
from scheduler.logs import configure_logging
from scheduler.settings import task_schedules


def main() -> int:
    settings, problems = process_settings("worker")
    schedules = task_schedules()
    scheduled = [task for task in TASKS if schedules.get(task, "").lower() != "off"]
    # A task whose credentials are not given at all is "not configured": said once, its ticks
    # not emitted. One configured wrongly refuses the start: that is a mistake to fix now.
    absent = {task: missing for task in scheduled if (missing := absent_credentials(task))}
    problems += check_tasks(task for task in scheduled if task not in absent)
    if problems:
        return refuse(problems, "worker")
    configure_logging(settings.log_format, settings.log_level)
    client = redis_from_url(settings.redis_url, settings)
    try:
        check_redis(client)  # an unreachable Redis is waited for; a refused certificate is not
    except RedisCertificateRefused as exc:
        client.close()
        return refuse([Problem("REDIS_SSL_CERT_REQS", str(exc), "the worker")], "worker")
    publish_configuration(client, {task: absent.get(task, []) for task in TASKS})
    deps = Dependencies(settings.redis_url, client)
    return run_worker(TASKS.values(), settings, client, deps)


if __name__ == "__main__":
    sys.exit(main())
