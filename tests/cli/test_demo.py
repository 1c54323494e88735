"""`scheduler demo` (what `./dev run` runs): embedded Redis, sandbox world, ticker and worker."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.slow


def test_the_demo_runs_on_its_embedded_default_and_shows_tasks_succeeding():
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}  # no Redis, no credentials
    env |= {"PYTHONPATH": str(ROOT), "LOG_FORMAT": "json"}
    done = subprocess.run(
        [sys.executable, "-m", "scheduler.cli.commands", "demo", "--seconds", "14"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "embedded redis-server on redis://127.0.0.1:" in done.stdout
    table = done.stdout[done.stdout.rindex("task ") :].split("\n\n")[0]  # the last table, without what follows it
    rows = {line.split()[0]: line for line in table.splitlines()[1:] if line.strip()}
    assert all("succeeded" in rows[task] for task in ("github_sync", "server_sync", "health_checker"))
    assert '"event": "tick emitted"' in done.stderr
