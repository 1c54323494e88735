"""``python -m actors``: a worker process for every task in the registry.

The composition root: the one place that joins the task registry to the runtime, so that
``actors.runtime`` never imports a task (the layers in pyproject.toml).
"""

import sys

from actors.runtime.worker import run_worker
from actors.tasks import TASKS


def main() -> int:
    return run_worker(TASKS.values())


if __name__ == "__main__":
    sys.exit(main())
