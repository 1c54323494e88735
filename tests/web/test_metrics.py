"""/metrics, parsed by prometheus-client's own parser, and /healthz."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis
from prometheus_client.parser import text_string_to_metric_families
from redis.backoff import NoBackoff
from redis.retry import Retry
from starlette.testclient import TestClient

from contracts import Keys, RunOutcome, TaskName, Tick, TickReason
from scheduler.web.app import create_app
from scheduler.web.metrics import METRIC_LABELS
from scheduler.web.settings import WebSettings
from tests.web.support import announce, health_slot, processes, record
from ticker.emit import TickEmitter


def scrape(client: redis.Redis) -> dict:
    answer = TestClient(create_app(client, WebSettings())).get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(answer.text)}


def value(families: dict, name: str, sample: str | None = None, **labels) -> float:
    found = [
        s.value
        for s in families[name].samples
        if s.name == (sample or name) and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, (name, labels, families[name].samples)
    return found[0]


def populated(client: redis.Redis) -> None:
    for seconds in (0.05, 0.7, 3.0):
        record(client, TaskName.GITHUB_SYNC, RunOutcome.SUCCEEDED, seconds=seconds)
    record(client, TaskName.GITHUB_SYNC, RunOutcome.FAILED, seconds=1000, error="boom")
    record(client, TaskName.SERVER_SYNC, RunOutcome.SKIPPED_LOCKED)
    counted = {"records_failed": 2, "skipped_items": 1, "ingests": 5}
    record(client, TaskName.RAG_SUMMARIZER, RunOutcome.PARTIAL, counters=counted)
    now = datetime.now(UTC)
    TickEmitter(client).claim(
        Tick(
            task=TaskName.GITHUB_SYNC,
            slot=300,
            scheduled_at=now,
            deadline=now + timedelta(60),
            reason=TickReason.CATCH_UP,
            missed=2,
            emitted_by="t",
        ),
        None,
    )
    client.set(Keys.lock(TaskName.HEALTH_CHECKER), '{"owner": "w:1", "id": "x"}')
    health_slot(client, 100, planned=10, checked=10, healthy=7, degraded=2, unhealthy=1)
    health_slot(client, 200, planned=10, checked=4, healthy=4)
    client.hset(Keys.github_rate("acme"), mapping={"remaining": 4321, "reset": 1})
    for handle in ("a", "b", "c"):
        announce(client, handle)
    client.xgroup_create("provisioner:queue", "infra", id="0")
    client.xreadgroup("infra", "c1", {"provisioner:queue": ">"}, count=1)
    processes(client)


def test_every_metric_is_served_with_its_labels(client, monkeypatch):
    monkeypatch.delenv("GITHUB_ORG", raising=False)
    populated(client)
    families = scrape(client)
    for name, labels in METRIC_LABELS.items():
        assert name in families, f"{name} missing from /metrics"
        assert families[name].samples, f"{name} has no sample"
        for sample in families[name].samples:
            extra = {"le"} if sample.name.endswith("_bucket") else set()
            assert set(sample.labels) == set(labels) | extra, (name, sample)


def test_the_figures_are_what_redis_holds(client, monkeypatch):
    monkeypatch.delenv("GITHUB_ORG", raising=False)
    populated(client)
    f = scrape(client)
    assert value(f, "scheduler_runs", "scheduler_runs_total", task="github_sync", outcome="succeeded") == 3
    assert value(f, "scheduler_runs", "scheduler_runs_total", task="github_sync", outcome="failed") == 1
    assert value(f, "scheduler_runs", "scheduler_runs_total", task="server_sync", outcome="skipped_locked") == 1
    duration = "scheduler_run_duration_seconds"
    assert value(f, duration, duration + "_count", task="github_sync") == 4
    assert value(f, duration, duration + "_bucket", task="github_sync", le="0.1") == 1
    assert value(f, duration, duration + "_bucket", task="github_sync", le="1.0") == 2
    assert value(f, duration, duration + "_bucket", task="github_sync", le="600.0") == 3
    assert value(f, duration, duration + "_bucket", task="github_sync", le="+Inf") == 4
    assert abs(value(f, duration, duration + "_sum", task="github_sync") - 1003.75) < 1e-6
    assert value(f, "scheduler_consecutive_failures", task="github_sync") == 1
    assert value(f, "scheduler_ticks_emitted", "scheduler_ticks_emitted_total", task="github_sync") == 1
    assert value(f, "scheduler_ticks_missed", "scheduler_ticks_missed_total", task="github_sync") == 2
    assert value(f, "scheduler_lock_held", task="health_checker") == 1
    assert value(f, "scheduler_lock_held", task="github_sync") == 0
    assert value(f, "scheduler_live_processes", role="worker") == 1
    assert value(f, "scheduler_live_processes", role="web") == 0
    assert value(f, "scheduler_task_live_processes", task="github_sync", role="ticker") == 1
    # the newest slot (200) may be running: the counts come from the newest finished one
    assert value(f, "scheduler_fleet_servers", health="healthy") == 4
    assert value(f, "scheduler_health_slot_servers", kind="checked") == 4
    assert value(f, "scheduler_health_incomplete_slots_in_a_row") == 0
    assert value(f, "scheduler_github_rate_limit_remaining", org="acme") == 4321
    assert value(f, "scheduler_provisioner_stream_length") == 3
    assert value(f, "scheduler_provisioner_group_pending", group="infra") == 1
    assert value(f, "scheduler_provisioner_group_lag", group="infra") == 2
    # the last run's counters, by the names every task shares (contracts.counters); a task's own are not served
    items = "scheduler_last_run_items"
    assert value(f, items, task="rag_summarizer", counter="records_failed") == 2
    assert value(f, items, task="rag_summarizer", counter="skipped_items") == 1
    assert value(f, items, task="rag_summarizer", counter="rejected") == 0
    assert not [s for s in f[items].samples if s.labels["counter"] == "ingests"]
    last = value(f, "scheduler_last_success_timestamp_seconds", task="github_sync")
    assert abs(last - datetime.now(UTC).timestamp()) < 60


def dead_redis() -> redis.Redis:
    """Nothing listens there; no retries (redis-py's default backs off for about 4 s a call)."""
    return redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))


def test_a_scrape_without_redis_says_so():
    dead = dead_redis()
    f = scrape(dead)
    assert value(f, "scheduler_redis_up") == 0
    assert set(f) == {"scheduler_redis_up"}


def test_healthz_names_what_is_missing_and_passes_once_served(client):
    app = TestClient(create_app(client, WebSettings()))
    answer = app.get("/healthz")
    assert answer.status_code == 503
    assert "github_sync: no live ticker and no live worker" in answer.text
    processes(client, roles=("ticker",))
    answer = app.get("/healthz")
    assert answer.status_code == 503 and "github_sync: no live worker" in answer.text
    processes(client, roles=("worker",), tasks=[t for t in TaskName if t is not TaskName.SERVER_SYNC])
    answer = app.get("/healthz")
    assert answer.status_code == 503 and "server_sync: no live worker" in answer.text
    assert "github_sync" not in answer.text
    processes(client, roles=("worker",))
    answer = app.get("/healthz")
    assert answer.status_code == 200, answer.text


def test_healthz_without_redis_is_503():
    dead = dead_redis()
    answer = TestClient(create_app(dead, WebSettings())).get("/healthz")
    assert answer.status_code == 503 and "Redis does not answer" in answer.text
