"""The `scheduler` command as an operator uses it."""

from __future__ import annotations

import json
import threading
from datetime import datetime

import pytest

from actors.runtime.lock import TaskLock
from actors.runtime.spec import TaskSpec
from contracts import IMPLEMENTED_TASKS, PROVISIONER_STREAM, Keys, RunOutcome, TaskName, TickReason
from process.heartbeats import HeartbeatWriter
from scheduler.cli.commands import main
from tests.support import make_tick, running_worker, runs, send, ticks, wait_until
from ticker.loop import Ticker
from ticker.slots import Interval, Startup

TASK = TaskName.GITHUB_SYNC


@pytest.fixture
def cli_env(monkeypatch, redis_url):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("SCHEDULE_GITHUB_SYNC", "7m")


def test_status_json_reports_every_task_with_its_runs(cli_env, client, settings, capsys):
    with running_worker(client, [TaskSpec(TASK, lambda run: run.count("repos", 12))], settings):
        send(client, make_tick(TASK, slot=1000))
        send(client, make_tick(TASK, slot=2000, deadline_in=-5))
        wait_until(lambda: len(runs(client)) == 2)
    holder = TaskLock(client, TaskName.HEALTH_CHECKER.value)
    holder.acquire()
    try:
        assert main(["status", "--json"]) == 0
    finally:
        holder.release()
    statuses = {s["task"]: s for s in json.loads(capsys.readouterr().out)["tasks"]}
    assert set(statuses) == {t.value for t in TaskName}
    github = statuses["github_sync"]
    assert github["schedule"] == "7m"  # from the environment until a ticker publishes its own
    assert github["last_run"]["outcome"] == "succeeded" and github["last_run"]["counters"] == {"repos": 12}
    assert github["expired"] == 1 and github["consecutive_failures"] == 0
    assert github["last_tick"]["slot"] == 2000
    assert statuses["health_checker"]["lock_holder"] == holder.owner


def test_status_table_shows_what_the_last_run_counted(cli_env, client, settings, capsys):
    with running_worker(
        client, [TaskSpec(TASK, lambda run: (run.count("creates", 3), run.count("pages", 2)))], settings
    ):
        send(client, make_tick(TASK, slot=1000))
        wait_until(lambda: runs(client))
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    counters = out.split("last run's counters:\n")[1].splitlines()
    assert [line.split() for line in counters] == [["github_sync", "creates=3", "pages=2"]]


def test_status_table_is_readable(cli_env, client, capsys):
    client.sadd(Keys.PAUSED, TASK.value)
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["task", "schedule", "next"]
    assert "github_sync (paused)" in out and "7m" in out


def test_status_says_which_tasks_are_not_implemented_or_off(cli_env, monkeypatch, client, capsys):
    # every task has an actor in this release: pretend one has not, as in a release before it had
    monkeypatch.setattr("scheduler.cli.status.IMPLEMENTED_TASKS", IMPLEMENTED_TASKS - {TaskName.RAG_SUMMARIZER})
    monkeypatch.setenv("SCHEDULE_HEALTH_CHECKER", "off")
    assert main(["status", "--json"]) == 0
    statuses = {s["task"]: s for s in json.loads(capsys.readouterr().out)["tasks"]}
    assert statuses["rag_summarizer"]["state"] == "not implemented" and statuses["rag_summarizer"]["next_due"] is None
    assert statuses["health_checker"]["state"] == "off"
    assert statuses["github_sync"]["state"] == "scheduled" and statuses["github_sync"]["next_due"] is not None
    assert main(["status"]) == 0
    table = capsys.readouterr().out.split("\n\n")[0]  # the processes and counters follow a blank line
    rows = {line.split()[0]: line for line in table.splitlines()[1:]}
    assert rows["rag_summarizer"].split()[1:3] == ["not", "implemented"]
    assert rows["health_checker"].split()[1] == "off" and rows["github_sync"].split()[1] == "7m"


def test_trigger_runs_a_task_now_and_reports_its_outcome(cli_env, client, settings, capsys):
    with running_worker(client, [TaskSpec(TASK, lambda run: None)], settings):
        assert main(["trigger", "github_sync", "--wait", "10"]) == 0
    assert "succeeded" in capsys.readouterr().out
    [record] = runs(client)
    assert record.reason is TickReason.MANUAL


def test_trigger_respects_the_lock(cli_env, client, settings, capsys):
    holder = TaskLock(client, TASK.value, ttl_ms=10_000)
    assert holder.acquire()
    try:
        with running_worker(client, [TaskSpec(TASK, lambda run: None)], settings):
            assert main(["trigger", "github_sync", "--wait", "10"]) == 1
    finally:
        holder.release()
    assert "skipped_locked" in capsys.readouterr().out
    assert [r.outcome for r in runs(client)] == [RunOutcome.SKIPPED_LOCKED]


def test_pause_and_resume_take_effect_within_a_second_without_restart(cli_env, client):
    ticker = Ticker(client, {TASK: Interval(1)}, release="r1")
    thread = threading.Thread(target=ticker.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: len(ticks(client)) >= 2, timeout=5)
        assert main(["pause", "github_sync"]) == 0
        # A paused task's slots are still claimed, only not emitted: the claimed slot is the event.
        # The next claim may come from a look taken just before the pause, so the count starts after it.
        paused_at = last_slot(client)
        wait_until(lambda: last_slot(client) >= paused_at + 1, timeout=5)
        emitted_when_paused = len(ticks(client))
        wait_until(lambda: last_slot(client) >= paused_at + 3, timeout=5)  # two slots claimed while paused
        assert len(ticks(client)) == emitted_when_paused, "no tick while paused"
        assert main(["resume", "github_sync"]) == 0
        wait_until(lambda: len(ticks(client)) > emitted_when_paused, timeout=1.5)
    finally:
        ticker.stop.set()
        thread.join(5)
    resumed = ticks(client)[-1][1]
    assert resumed.reason is TickReason.SCHEDULE and resumed.missed == 0, "paused slots are not 'missed'"


def last_slot(client) -> int:
    """The ticker's last claimed slot for the task, emitted or not."""
    return int(client.hget(Keys.LAST_SLOT, TASK.value))


def test_unknown_task_and_missing_redis_are_clear_errors(monkeypatch, capsys):
    with pytest.raises(SystemExit):
        main(["trigger", "no_such_task"])
    assert "unknown task 'no_such_task'; the tasks are: github_sync" in capsys.readouterr().err
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["status"]) == 2
    assert "REDIS_URL is not set" in capsys.readouterr().err


def test_contracts_export_writes_one_json_schema_per_message(tmp_path, capsys):
    assert main(["contracts", "export", str(tmp_path)]) == 0
    tick = json.loads((tmp_path / "tick.schema.json").read_text())
    message = json.loads((tmp_path / "provisioner_message.schema.json").read_text())
    assert tick["title"] == "Tick" and {"task", "slot", "deadline", "reason"} <= set(tick["required"])
    assert message["properties"]["version"]["const"] == "1"
    assert {"server_handle"} <= set(message["required"])


def test_the_startup_task_is_emitted_once_per_release_by_the_ticker(client):
    for _ in range(3):  # three restarts of the same release
        Ticker(client, {TaskName.PROVISIONER_TRIGGER: Startup()}, release="v9").tick_once()
    Ticker(client, {TaskName.PROVISIONER_TRIGGER: Startup()}, release="v10").tick_once()
    assert [t.reason for _, t in ticks(client)] == [TickReason.STARTUP, TickReason.STARTUP]


def test_status_shows_the_schedule_the_tickers_use_and_when_each_task_is_next_due(cli_env, client, capsys):
    Ticker(client, {TASK: Interval(60)}, release="r1").tick_once()  # the ticker's own env says 60s
    assert main(["status", "--json"]) == 0
    github = {s["task"]: s for s in json.loads(capsys.readouterr().out)["tasks"]}["github_sync"]
    assert github["schedule"] == "60s"
    slot = github["last_tick"]["slot"]
    assert github["next_due"] is not None
    assert datetime.fromisoformat(github["next_due"]).timestamp() == slot + 60


def test_status_shows_partial_runs_and_each_health_slots_coverage_flagging_a_short_one(
    cli_env, client, settings, capsys
):
    def some_fail(run):
        run.count("records_failed", 3)

    with running_worker(client, [TaskSpec(TASK, some_fail)], settings):
        send(client, make_tick(TASK, slot=1000))
        wait_until(lambda: runs(client))
    for slot, servers, checked in ((240, 4, ["a", "b", "c", "d"]), (360, 5, ["a", "b"])):
        client.zadd(Keys.HEALTH_SLOTS, {str(slot): slot})
        client.hset(Keys.health_slot(slot), mapping={"servers": servers, "cut": 1 if slot == 360 else 0})
        client.sadd(Keys.health_slot_checked(slot), *checked)
    client.zadd(Keys.HEALTH_SLOTS, {"480": 480})
    client.hset(Keys.health_slot(480), mapping={"servers": 5})
    assert main(["status", "--json"]) == 0
    statuses = {s["task"]: s for s in json.loads(capsys.readouterr().out)["tasks"]}
    assert statuses["github_sync"]["partial"] == 1 and statuses["github_sync"]["last_run"]["outcome"] == "partial"
    coverage = statuses["health_checker"]["coverage"]
    assert [(c["slot"], c["planned"], c["checked"], c["cut"], c["never_checked"]) for c in coverage] == [
        (480, 5, 0, 0, 5),
        (360, 5, 2, 1, 2),
        (240, 4, 4, 0, 0),
    ]
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "partial (3 records failed)" in out
    assert (
        "slot 360 of health_checker: planned 5, checked 2, cut 1, claimed elsewhere 0, never checked 2  INCOMPLETE"
        in out
    )
    assert "slot 480 of" in out and "slot 240 of health_checker: planned 4, checked 4" in out
    assert out.count("INCOMPLETE") == 1


def test_search_says_plainly_when_the_platform_is_not_configured_or_does_not_answer(monkeypatch, capsys):
    monkeypatch.delenv("API_BASE_URL", raising=False)
    monkeypatch.setenv("INTERNAL_API_KEY", "k" * 12)
    assert main(["search", "which service sends alerts"]) == 2
    assert "platform API not configured: check API_BASE_URL" in capsys.readouterr().err
    monkeypatch.setenv("API_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("PLATFORM_MAX_ATTEMPTS", "1")
    assert main(["search", "which service sends alerts"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("scheduler search: no answer: platform API unavailable") and "k" * 12 not in err


def test_status_lists_live_processes_and_flags_scheduled_tasks_no_live_worker_serves(cli_env, client, capsys):
    assert main(["status", "--json"]) == 0
    overview = json.loads(capsys.readouterr().out)
    assert overview["processes"] == [] and overview["no_ticker"] is True
    assert {s["task"] for s in overview["tasks"] if s["unserved"]} == {t.value for t in IMPLEMENTED_TASKS}

    ticker = HeartbeatWriter(client, "ticker", release="v5", tasks=[t.value for t in TaskName])
    worker = HeartbeatWriter(client, "worker", release="v5", queues=["scheduler.github_sync"], tasks=[TASK.value])
    ticker.beat()
    worker.beat()
    assert main(["status", "--json"]) == 0
    overview = json.loads(capsys.readouterr().out)
    assert [(p["role"], p["id"]) for p in overview["processes"]] == [("ticker", ticker.id), ("worker", worker.id)]
    assert overview["no_ticker"] is False
    tasks = {s["task"]: s for s in overview["tasks"]}
    assert tasks[TASK.value]["served_by"] == [worker.id] and tasks[TASK.value]["unserved"] is False
    assert {t for t, s in tasks.items() if s["unserved"]} == {t.value for t in IMPLEMENTED_TASKS} - {TASK.value}

    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "live processes:" in out and worker.id in out and ticker.id in out and "NO LIVE TICKER" not in out
    [flag] = [line for line in out.splitlines() if line.startswith("UNSERVED")]
    assert TASK.value not in flag and TaskName.SERVER_SYNC.value in flag
    worker.stop()
    ticker.stop()
    assert main(["status"]) == 0
    assert "NO LIVE TICKER" in capsys.readouterr().out


def test_status_shows_the_provisioner_queue_its_groups_lag_and_when_nothing_is_trimmed(cli_env, client, capsys):
    for i in range(3):
        client.xadd(PROVISIONER_STREAM, {"data": f"{i}"})
    assert main(["status", "--json"]) == 0
    queue = json.loads(capsys.readouterr().out)["provisioner_queue"]
    assert queue["length"] == 3 and queue["groups"] == [] and "nothing is trimmed" in queue["note"]

    client.xgroup_create(PROVISIONER_STREAM, "infrastructure-workers", id="0")
    client.xreadgroup("infrastructure-workers", "infra-1", {PROVISIONER_STREAM: ">"}, count=1)
    assert main(["status", "--json"]) == 0
    queue = json.loads(capsys.readouterr().out)["provisioner_queue"]
    [group] = queue["groups"]
    assert (group["name"], group["lag"], group["pending"], group["consumers"]) == ("infrastructure-workers", 2, 1, 1)
    assert queue["note"] is None
    assert main(["status"]) == 0
    assert "group infrastructure-workers: lag 2, pending 1, consumers 1" in capsys.readouterr().out


def test_status_of_an_empty_redis_says_the_queue_is_empty(cli_env, client, capsys):
    assert main(["status", "--json"]) == 0
    queue = json.loads(capsys.readouterr().out)["provisioner_queue"]
    assert queue["length"] == 0 and queue["groups"] == []
