"""Alerts: each raised once when it starts and once when it ends, against a loopback webhook,
whatever the number of evaluators; retried with backoff; the webhook URL never logged."""

from __future__ import annotations

from pydantic import SecretStr

from contracts import Keys, RunOutcome, TaskName
from scheduler.web.alerts import FIRING, OUTBOX, PENDING, AlertLoop, Thresholds, WebhookSender, conditions
from scheduler.web.settings import WebSettings
from scheduler.web.snapshot import read_snapshot
from tests.web.support import Receiver, health_slot, processes, record


def settings(url: str, **extra) -> WebSettings:
    return WebSettings(alert_webhook_url=SecretStr(url), alert_failures_in_a_row=3, **extra)


def drain(loop: AlertLoop) -> int:
    sent = 0
    while loop.sender.deliver_one(block_s=0.1) is not None:
        sent += 1
    return sent


def test_a_failing_task_alerts_once_when_it_starts_and_once_when_it_ends(client):
    processes(client)  # every task served: only the failure alerts
    with Receiver() as hook:
        replicas = [AlertLoop(client, settings(hook.url + "/hook/T000/B000/XXXX")) for _ in range(2)]
        for _ in range(2):
            record(client, TaskName.GITHUB_SYNC, RunOutcome.FAILED, error="GitHub said 502")
        assert [r.evaluate() for r in replicas] == [[], []]
        record(client, TaskName.GITHUB_SYNC, RunOutcome.FAILED, error="GitHub said 502")
        won = [r.evaluate() for r in replicas] + [r.evaluate() for r in replicas]
        assert sum(won, []) == [("task_failing:github_sync", "firing")]
        assert sum(drain(r) for r in replicas) == 1
        record(client, TaskName.GITHUB_SYNC, RunOutcome.FAILED)  # still failing: nothing new
        assert [r.evaluate() for r in replicas] == [[], []]
        record(client, TaskName.GITHUB_SYNC, RunOutcome.SUCCEEDED)
        won = [r.evaluate() for r in replicas] + [r.evaluate() for r in replicas]
        assert sum(won, []) == [("task_failing:github_sync", "resolved")]
        assert sum(drain(r) for r in replicas) == 1
    bodies = [body for _, _, body in hook.requests]
    assert [(b["alert"], b["state"]) for b in bodies] == [
        ("task_failing:github_sync", "firing"),
        ("task_failing:github_sync", "resolved"),
    ]
    assert "github_sync failed 3 runs in a row: GitHub said 502" in bodies[0]["text"]
    assert bodies[1]["text"].startswith(":white_check_mark: RESOLVED")
    assert all(path == "/hook/T000/B000/XXXX" for _, path, _ in hook.requests)
    assert client.hlen(FIRING) == 0 and client.llen(OUTBOX) == 0


def test_delivery_is_retried_with_backoff_and_the_url_is_never_logged(client, rendered_logs):
    waits = []
    with Receiver(failures=2) as hook:
        url = hook.url + "/services/very-secret-path"
        sender = WebhookSender(client, settings(url, alert_max_attempts=4), sleep=waits.append)
        assert sender.post({"text": "x", "alert": "a", "state": "firing"}) is True
    assert len(hook.requests) == 3 and waits == [1.0, 2.0]
    with Receiver(failures=10) as hook:
        url = hook.url + "/services/very-secret-path"
        sender = WebhookSender(client, settings(url, alert_max_attempts=2), sleep=waits.append)
        assert sender.post({"text": "x", "alert": "a", "state": "firing"}) is False
    text = rendered_logs()
    assert "alert not delivered" in text and "HTTP 500" in text
    assert "very-secret-path" not in text


def test_without_a_webhook_alerts_are_tracked_but_nothing_is_queued(client):
    loop = AlertLoop(client, WebSettings(alert_unserved_for_s=0))
    assert ("unserved:github_sync", "firing") in loop.evaluate()
    assert client.hexists(FIRING, "unserved:github_sync") and client.llen(OUTBOX) == 0


def test_every_condition(client):
    processes(client, roles=("ticker",))
    health_slot(client, 100, planned=10, checked=6)
    health_slot(client, 200, planned=10, checked=7)
    health_slot(client, 300, planned=10, checked=1)  # the newest: may be running, not counted
    record(
        client,
        TaskName.SERVER_SYNC,
        RunOutcome.FAILED,
        counters={"provider_unavailable": 1},
        error="Time4VPSUnavailable: 503",
    )
    record(client, TaskName.HEALTH_CHECKER, RunOutcome.SUCCEEDED, ago_s=3600)  # 2m schedule: stale
    snapshot = read_snapshot(client)
    first_seen = {task: snapshot.now for task in TaskName}
    found = conditions(snapshot, Thresholds(failures_in_a_row=3, stale_intervals=3), first_seen)
    assert "unserved:github_sync" in found and "no live worker" in found["unserved:github_sync"]
    assert "task_stale:health_checker" in found
    assert "task_stale:github_sync" not in found  # never succeeded, but only just seen
    assert found["health_slots_incomplete"].startswith("health_checker: 2 slots in a row")
    assert "Time4VPSUnavailable" in found["provider_outage"]
    later = {task: snapshot.now - 3600 for task in TaskName}
    assert "task_stale:github_sync" in conditions(snapshot, Thresholds(), later)
    health_slot(client, 400, planned=10, checked=10)
    health_slot(client, 500, planned=10, checked=0)
    again = conditions(read_snapshot(client), Thresholds(), first_seen)
    assert "health_slots_incomplete" not in again
    client.sadd(Keys.PAUSED, "health_checker")  # a paused task is not stale
    assert "task_stale:health_checker" not in conditions(read_snapshot(client), Thresholds(), first_seen)


def test_an_unserved_task_alerts_only_once_it_stayed_unserved(client):
    loop = AlertLoop(client, WebSettings(alert_unserved_for_s=60))
    assert loop.evaluate() == []  # just noticed: pending
    client.hset(PENDING, "unserved:github_sync", 0)  # as if first seen long ago
    assert loop.evaluate() == [("unserved:github_sync", "firing")]
    processes(client)
    assert loop.evaluate() == [("unserved:github_sync", "resolved")]
    assert not client.hexists(PENDING, "unserved:github_sync")
