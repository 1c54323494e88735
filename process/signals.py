"""Stopping on SIGTERM/SIGINT, the same way in every process."""

from __future__ import annotations

import signal
import threading


def stop_on_signals(log) -> threading.Event:
    """An event set by SIGTERM or SIGINT. Heroku signals the whole process group, sometimes
    twice: the second signal changes nothing."""
    stop = threading.Event()

    def on_signal(signum, _frame):
        if not stop.is_set():
            log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop
