"""``python -m actors``: the composition root. It builds the process's dependencies object and
serves every task of the registry; ``actors.runtime`` never imports a task."""

from __future__ import annotations

import sys

from actors.runtime.worker import run_worker
from actors.tasks import TASKS
from actors.tasks.deps import Dependencies
from scheduler.connection import redis_from_url
from scheduler.logs import configure_logging
from scheduler.settings import Settings, get_settings


def main(settings: Settings | None = None) -> int:
    settings = settings or get_settings()
    configure_logging(settings.log_format, settings.log_level)
    client = redis_from_url(settings.redis_url)
    deps = Dependencies(settings.redis_url, client)
    return run_worker(TASKS.values(), settings, client, deps)


if __name__ == "__main__":
    sys.exit(main())
