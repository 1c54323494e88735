"""``python -m actors``: a worker process for every task in the registry."""

import sys

from actors.runtime.worker import run_worker

if __name__ == "__main__":
    sys.exit(run_worker())
