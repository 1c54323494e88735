"""The ``scheduler`` command line: the top layer (status, trigger, pause, resume, contracts, demo)."""

from scheduler.cli.commands import main

__all__ = ["main"]
