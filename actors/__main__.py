"""``python -m actors``: a worker process for every task in the registry.

The composition root. It checks the configuration first — the shared settings, and what each
scheduled task needs (a task whose ``SCHEDULE_<TASK>`` is ``off`` is not checked) — and on
any problem prints one message listing them all and exits with status 78 (EX_CONFIG).
"""

import sys

from scheduler.config import Problem, process_settings, refuse
from scheduler.connection import RedisCertificateRefused, check_redis, redis_from_url
from scheduler.settings import task_schedules

from actors.configuration import check_tasks
from actors.runtime.worker import run_worker
from actors.tasks import TASKS


def main() -> int:
    settings, problems = process_settings("worker")
    schedules = task_schedules()
    scheduled = [task for task in TASKS if schedules.get(task, "").lower() != "off"]
    problems += check_tasks(scheduled)
    if problems:
        return refuse(problems, "worker")
    client = redis_from_url(settings.redis_url, settings)
    try:
        check_redis(client)  # an unreachable Redis is waited for; a refused certificate is not
    except RedisCertificateRefused as exc:
        return refuse([Problem("REDIS_SSL_CERT_REQS", str(exc), "the worker")], "worker")
    finally:
        client.close()
    return run_worker(TASKS.values(), settings)


if __name__ == "__main__":
    sys.exit(main())
