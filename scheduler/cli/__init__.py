"""The ``scheduler`` command line: the top layer (status, trigger, pause, resume, contracts, demo)."""

from process.noise import quiet_asyncssh_dsa

# before the commands import the tasks, and with them asyncssh (process/noise.py)
quiet_asyncssh_dsa()

from scheduler.cli.commands import main

__all__ = ["main"]
