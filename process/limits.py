"""The process's open-file limit: raised to the hard limit at start, and what it leaves for connections;
and the garbage collector, set for a process that keeps thousands of connections.

Why: a worker keeps up to ``HEALTH_SSH_POOL_MAX`` SSH connections open (a socket each), and the
usual soft limit (1,024) would refuse the 1,025th with ``EMFILE``, as an opaque network error on
whichever server came next. The soft limit may be raised to the hard one without privilege;
above the hard limit only the host can go (``ulimit -Hn``, systemd ``LimitNOFILE=``, docker
``--ulimit nofile=``), so what the pool may keep is capped by it instead.
"""

from __future__ import annotations

import gc
import resource
from dataclasses import dataclass

#: the collector's thresholds in a worker: CPython's (700, 10, 10) collected ~1,500 times in a
#: 2,000-server health tick and took 11 % of the worker's CPU, walking its kept connections again and
#: again; these collected ~100 times, in 4 % (measured with gc.callbacks in the worker of bench/health_pool.py)
WORKER_GC_THRESHOLDS = (10_000, 20, 10)

#: open files kept for everything but kept connections: Redis, the platform API, logs, per-check ones
SPARE_FILES = 512


@dataclass(frozen=True)
class OpenFiles:
    before: int
    soft: int
    hard: int

    @property
    def raised(self) -> bool:
        return self.soft != self.before


def _finite(value: int) -> int:
    return 1 << 31 if value == resource.RLIM_INFINITY else value


def raise_open_files() -> OpenFiles:
    """Raise the soft RLIMIT_NOFILE to the hard limit (a no-op when it already is)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    before = soft
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):  # a platform that refuses: keep what we have
            pass
    return OpenFiles(_finite(before), _finite(soft), _finite(hard))


def connections_allowed(wanted: int, spare: int = SPARE_FILES) -> int:
    """How many of ``wanted`` kept connections fit under the soft open-file limit, ``spare`` kept free."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(0, min(wanted, _finite(soft) - spare))


def collect_less() -> None:
    """Set ``WORKER_GC_THRESHOLDS`` and freeze what start-up made (modules, settings, clients):
    it lives as long as the process, so no collection need walk it again."""
    gc.set_threshold(*WORKER_GC_THRESHOLDS)
    gc.freeze()
