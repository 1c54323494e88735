"""The Procfile under honcho, as `honcho start` runs it locally and as a Heroku dyno runs one
process type: ticker and worker against the sandbox world, then SIGTERM to the whole process
group (twice, as Heroku may) and both are gone within 5 s, having exited cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from honcho.environ import parse_procfile

from contracts import RunOutcome, TaskName
from sandbox.running import Sandbox
from sandbox.world import World
from tests.support import ROOT, runs, stopping, wait_until

pytestmark = pytest.mark.slow


def test_procfile_declares_ticker_and_worker_without_a_port():
    processes = parse_procfile((ROOT / "Procfile").read_text()).processes
    assert {"ticker", "worker"} <= set(processes)
    assert all("$PORT" not in command for command in processes.values())


def test_honcho_runs_the_procfile_and_sigterm_stops_both_within_5s(client, redis_url, tmp_path):
    world = World.generate(seed=3, repos=4, servers=2, host_states={})
    with Sandbox(world) as sandbox:
        env = {
            **os.environ,
            **sandbox.env(),
            "REDIS_URL": redis_url,
            "RELEASE_ID": "procfile",
            "SCHEDULE_GITHUB_SYNC": "1s",
            "SCHEDULE_HEALTH_CHECKER": "1s",
            "LOG_FORMAT": "json",
            "PYTHONPATH": str(ROOT),
            # `python` in the Procfile is this interpreter, as on a dyno built from the lock
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        }
        log = open(tmp_path / "honcho.log", "wb")
        honcho = subprocess.Popen(
            [sys.executable, "-m", "honcho", "start", "--no-prefix", "-f", str(ROOT / "Procfile")],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until(
                lambda: any(r.outcome is RunOutcome.SUCCEEDED for r in runs(client, TaskName.GITHUB_SYNC)),
                timeout=60,
                interval=0.2,
            )
            wait_until(lambda: runs(client, TaskName.HEALTH_CHECKER), timeout=30, interval=0.2)
            signalled = time.monotonic()
            os.killpg(honcho.pid, signal.SIGTERM)  # Heroku signals every process of the dyno
            wait_until(lambda: stopping(tmp_path / "honcho.log") >= {"ticker", "worker"}, timeout=5, interval=0.01)
            os.killpg(honcho.pid, signal.SIGTERM)  # and sometimes again, while they stop
            honcho.wait(timeout=10)
            took = time.monotonic() - signalled
        finally:
            if honcho.poll() is None:
                os.killpg(honcho.pid, signal.SIGKILL)
                honcho.wait()
            log.close()
    output = (tmp_path / "honcho.log").read_text()
    assert took < 5, f"stopped in {took:.1f}s\n{output[-3000:]}"
    # `exec` in the Procfile: the process honcho (or the dyno) signals is Python itself, not a shell
    pids = [int(pid) for pid in re.findall(r"(?:ticker|worker)\.1 started \(pid=(\d+)\)", output)]
    assert len(pids) == 2 and not any(psutil.pid_exists(pid) for pid in pids)
    assert "ticker.1 stopped (rc=0)" in output and "worker.1 stopped (rc=0)" in output, output[-3000:]
    assert '"event": "ticker stopped"' in output and '"event": "worker stopped"' in output
