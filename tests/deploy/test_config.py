"""Config that explains itself: every variable documented (app.json, .env.example), and the
processes refuse a bad configuration in one message, without a traceback or a secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from actors.configuration import DESCRIPTIONS
from actors.tasks import TASKS
from contracts import DEFAULT_SCHEDULES, Keys, TaskName, queue_name
from scheduler.cli import main as cli
from scheduler.cli.config import app_json_text, env_example, settings_classes, variables
from scheduler.cli.status import TaskState, read_status
from tests.support import ROOT, spawn, stop, wait_until
from ticker.loop import Ticker
from ticker.slots import Interval


def test_app_json_describes_every_variable_the_settings_read_and_nothing_else():
    manifest = json.loads((ROOT / "app.json").read_text())
    described = set(manifest["env"])
    read = {v.name for v in variables()}
    assert described - read == set(), "described in app.json but read by no settings"
    assert read - described == set(), "read by the settings but missing from app.json"
    for name, entry in manifest["env"].items():
        assert entry["description"] and isinstance(entry["required"], bool), name
    assert {"API_BASE_URL", "INTERNAL_API_KEY", "GITHUB_ORG"} <= {
        n for n, e in manifest["env"].items() if e["required"]
    }
    assert {f"SCHEDULE_{t.value.upper()}" for t in DEFAULT_SCHEDULES} | {"RELEASE_ID", "HEROKU_RELEASE_VERSION"} <= read
    assert set(manifest["formation"]) == {"ticker", "worker"} and manifest["formation"]["ticker"]["quantity"] == 2
    assert [a["plan"].split(":")[0] for a in manifest["addons"]] == ["heroku-redis"]
    assert (ROOT / "app.json").read_text() == app_json_text(), "regenerate: scheduler config app-json > app.json"


def test_env_example_is_generated_from_the_settings():
    assert (ROOT / ".env.example").read_text() == env_example(), "regenerate: scheduler config example > .env.example"
    text = env_example()
    for v in variables():
        assert v.description, f"{v.name} has no description"
        assert f"{v.name}=" in text
    assert "#LOCK_TTL_MS=30000" in text and "\nGITHUB_ORG=\n" in text


def test_the_enumeration_sees_every_settings_class_and_every_task():
    names = {c.__name__ for c in settings_classes()}
    assert {"Settings", "GitHubSettings", "PlatformSettings", "HealthCheckerSettings"} <= names
    assert set(DESCRIPTIONS) <= {v.name for v in variables()}, "a description for a variable nobody reads"
    for task, spec in TASKS.items():  # what the worker checks of a task is what its spec says it reads
        assert spec.settings is not None and spec.adapters and spec.credentials, task


def test_settings_classes_are_named_one_way():
    """A task's own settings are ``<Task>Settings`` after its name, in its package's settings.py;
    an adapter's are ``<System>Settings``, in its package."""
    for task, spec in TASKS.items():
        camel = "".join(part.capitalize() for part in task.value.split("_")).replace("Github", "GitHub")
        assert spec.settings.__name__ == f"{camel}Settings", spec.settings
        assert spec.settings.__module__ == f"actors.tasks.{task.value}.settings", spec.settings
        for adapter in spec.adapters:
            assert adapter.__module__.startswith("actors.adapters."), adapter
    for cls in settings_classes():
        assert cls.__name__.startswith("_") or cls.__name__.endswith("Settings"), cls


def run(module: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [sys.executable, "-m", module], env={**base, **env}, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_the_worker_lists_every_problem_once_with_the_task_that_needs_it():
    planted = "s3cr3t-planted-in-the-key"
    result = run(
        "actors",
        {
            "GITHUB_APP_ID": "12",
            "GITHUB_APP_PRIVATE_KEY": planted,
            "GITHUB_ORG": "acme",
            "HEALTH_BATCH_SIZE": "lots",
            "LOCK_TTL_MS": "90000",
            "INTERNAL_API_KEY": planted,
            "SSH_PRIVATE_KEY_PATH": "/nonexistent/id_ed25519",
        },
    )
    err = result.stderr
    assert result.returncode == 78 and "Traceback" not in err and result.stdout == ""
    assert err.startswith("worker: configuration refused")
    # rag_summarizer is not configured at all here (no RAG_INGEST_SECRET): not checked, not refused
    for line in (
        "REDIS_URL: is not set (needed by the worker)",
        "API_BASE_URL: is not set (needed by task github_sync, task health_checker, task provisioner_trigger)",
        "GITHUB_APP_PRIVATE_KEY: the GitHub App private key is not a PEM private key (needed by task github_sync)",
        "HEALTH_BATCH_SIZE: is invalid: Input should be a valid integer",
        "LOCK_TTL_MS: is invalid: Input should be less than or equal to 30000",
        "SSH_PRIVATE_KEY_PATH: /nonexistent/id_ed25519 is not a file",
    ):
        assert line in err, line
    assert err.count("API_BASE_URL:") == 1
    assert "expected: " in err and planted not in err


def test_a_task_scheduled_off_needs_nothing_and_a_bad_key_file_is_named(tmp_path):
    bad_key = tmp_path / "id_ed25519"
    bad_key.write_text("not a key\n")
    env = {
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "API_BASE_URL": "http://127.0.0.1:1",
        "INTERNAL_API_KEY": "k" * 8,
        "SCHEDULE_GITHUB_SYNC": "off",
        "SCHEDULE_RAG_SUMMARIZER": "off",
        "SSH_PRIVATE_KEY_PATH": str(bad_key),
        "SSH_KNOWN_HOSTS": str(tmp_path / "nope"),
    }
    result = run("actors", env)
    assert result.returncode == 78 and "GITHUB" not in result.stderr
    assert "SSH_KNOWN_HOSTS: " in result.stderr and "is not a file" in result.stderr
    (tmp_path / "nope").write_text("")
    result = run("actors", env)
    assert "SSH_PRIVATE_KEY_PATH: cannot be used" in result.stderr, result.stderr


def test_the_ticker_refuses_a_bad_schedule_and_a_missing_redis_in_one_message():
    result = run("ticker", {"SCHEDULE_HEALTH_CHECKER": "every tuesday", "LOG_FORMAT": "xml"})
    assert result.returncode == 78 and "Traceback" not in result.stderr
    assert "SCHEDULE_HEALTH_CHECKER: is invalid" in result.stderr and "(needed by task health_checker)" in result.stderr
    assert "LOG_FORMAT: is invalid" in result.stderr
    # REDIS_URL is checked with the other settings: LOG_FORMAT failing hides nothing else
    result = run("ticker", {})
    assert "REDIS_URL: is not set (needed by the ticker)" in result.stderr


def test_config_check_reports_each_task(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "scheduler.cli", "config", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),
            "GITHUB_ORG": "acme",
            "GITHUB_TOKEN": "t" * 10,
            "API_BASE_URL": "http://x",
            "INTERNAL_API_KEY": "k" * 8,
            "REDIS_URL": "redis://x",
        },
    )
    assert result.returncode == 1
    assert "github_sync: configured" in result.stdout and "health_checker: not configured" in result.stdout


def test_a_task_whose_credentials_are_absent_is_not_configured_gets_no_ticks_and_says_what_to_set(
    redis_url, client, monkeypatch, capsys
):
    """Credentials not given at all are no mistake to refuse: the worker starts, says which task it
    cannot run and what to set; the tickers hold that task's ticks; `scheduler status` shows it."""
    env = {
        "REDIS_URL": redis_url,
        "API_BASE_URL": "http://127.0.0.1:1",
        "INTERNAL_API_KEY": "k" * 8,
        "SCHEDULE_HEALTH_CHECKER": "off",
        "LOG_FORMAT": "json",
    }
    worker = spawn("from actors.__main__ import main; raise SystemExit(main())", env)
    try:
        wait_until(lambda: client.hget(Keys.CONFIGURATION, TaskName.GITHUB_SYNC.value), timeout=30)
    finally:
        stop(worker)
    assert worker.returncode == 0, "started, served, stopped on SIGTERM: not refused"
    said = json.loads(client.hget(Keys.CONFIGURATION, TaskName.GITHUB_SYNC.value))
    assert said["configured"] is False and said["missing"] == ["GITHUB_APP_ID or GITHUB_TOKEN"]

    Ticker(client, {TaskName.GITHUB_SYNC: Interval(60), TaskName.HEALTH_CHECKER: Interval(60)}, "r1").tick_once()
    assert client.llen(f"dramatiq:{queue_name(TaskName.GITHUB_SYNC)}") == 0, "no tick for a task not configured"
    assert client.llen(f"dramatiq:{queue_name(TaskName.HEALTH_CHECKER)}") == 1

    [github] = [s for s in read_status(client) if s.task is TaskName.GITHUB_SYNC]
    assert github.state is TaskState.NOT_CONFIGURED and github.missing_credentials == ["GITHUB_APP_ID or GITHUB_TOKEN"]
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert cli(["status"]) == 0
    out = capsys.readouterr().out
    assert "github_sync: set GITHUB_APP_ID or GITHUB_TOKEN" in out.split("not configured (no ticks")[1]
    [row] = [line for line in out.splitlines() if line.startswith("github_sync ")]
    assert "not configured" in row


def test_credentials_present_but_incomplete_still_refuse_the_start():
    result = run(
        "actors",
        {
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "API_BASE_URL": "http://127.0.0.1:1",
            "INTERNAL_API_KEY": "k" * 8,
            "SCHEDULE_HEALTH_CHECKER": "off",
            "GITHUB_TOKEN": "t" * 12,
        },
    )
    assert result.returncode == 78 and "GITHUB_ORG: is not set (needed by task github_sync" in result.stderr
