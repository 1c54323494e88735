"""The whole service as an operator runs it: sandbox, ticker and worker processes, real Redis
traffic, and not one credential in any log line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from contracts import RunOutcome, TaskName
from tests.support import ROOT, runs, spawn, stop, wait_until

pytestmark = pytest.mark.slow


def start_sandbox() -> tuple[subprocess.Popen, dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--repos", "25", "--servers", "8", "--seed", "5", "--unhealthy", "0.5"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    env = {}
    while len(env) < 11:
        line = process.stdout.readline()
        assert line.startswith("export "), f"sandbox said {line!r}"
        name, value = line.removeprefix("export ").strip().split("=", 1)
        env[name] = value.strip("'")
    return process, env


def test_ticker_and_worker_keep_the_platform_fresh_without_leaking_secrets(client, redis_url, tmp_path):
    sandbox, sandbox_env = start_sandbox()
    env = {
        **sandbox_env,
        "REDIS_URL": redis_url,
        "RELEASE_ID": "e2e",
        "LOG_LEVEL": "DEBUG",
        "SCHEDULE_GITHUB_SYNC": "2s",
        "SCHEDULE_HEALTH_CHECKER": "2s",
        "SCHEDULE_SERVER_SYNC": "2s",
        "TIME4VPS_MANAGE_ALL": "true",
        "SCHEDULE_RAG_SUMMARIZER": "off",
        "SCHEDULE_PROVISIONER_TRIGGER": "off",
    }
    logs = tmp_path / "scheduler.log"
    ticker = spawn("from ticker.__main__ import main; raise SystemExit(main())", env, log=logs)
    worker = spawn("from actors.__main__ import main; raise SystemExit(main())", env, log=logs)
    key_lines = [
        line
        for line in open(sandbox_env["SSH_PRIVATE_KEY_PATH"]).read().splitlines()
        if line and not line.startswith("-----")
    ]
    try:
        for task in (TaskName.GITHUB_SYNC, TaskName.SERVER_SYNC, TaskName.HEALTH_CHECKER):
            wait_until(
                lambda task=task: len([r for r in runs(client, task) if r.outcome is RunOutcome.SUCCEEDED]) >= 2,
                timeout=60,
            )
    finally:
        stop(ticker)
        stop(worker)
        sandbox.terminate()
        sandbox.wait(10)
    github = [r for r in runs(client, TaskName.GITHUB_SYNC) if r.outcome is RunOutcome.SUCCEEDED]
    assert github[0].counters["creates"] == 25 and github[-1].counters.get("creates", 0) == 0
    servers = [r for r in runs(client, TaskName.SERVER_SYNC) if r.outcome is RunOutcome.SUCCEEDED]
    assert all(not r.counters.get("creates") and not r.counters.get("updates") for r in servers), (
        "the seeded servers are what the Time4VPS account says: nothing to write"
    )
    assert all(r.counters["list_requests"] == 1 for r in servers)
    text = logs.read_text()
    assert "tick emitted" in text and "run succeeded" in text
    for name in ("INTERNAL_API_KEY", "GITHUB_TOKEN", "TIME4VPS_PASSWORD"):
        assert sandbox_env[name] not in text, f"{name} leaked into a log line"
    assert key_lines and not any(line in text for line in key_lines), "the SSH private key leaked"
