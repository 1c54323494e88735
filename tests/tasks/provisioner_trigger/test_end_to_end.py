"""provisioner_trigger end to end: the platform API stand-in on loopback, real tickers and workers,
and a consumer written the way the platform's infra service reads ``provisioner:queue``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest
import redis
from pydantic import SecretStr

from actors.adapters.platform.client import PlatformClient
from actors.adapters.provisioner.publisher import ProvisionerPublisher
from actors.tasks.deps import Dependencies
from actors.tasks.provisioner_trigger import SPEC
from contracts import PROVISIONER_STREAM, Keys, ProvisionerMessage, RunOutcome, TaskName, TickReason
from contracts.platform import ServerStatus
from process.settings import Settings
from sandbox.platform.api import DEFAULT_API_KEY
from sandbox.platform.store import sample_servers
from tests.support import ROOT, make_tick, run_async, running_worker, runs, send, spawn, stop, wait_until
from ticker.loop import Ticker
from ticker.slots import Interval

TASK = TaskName.PROVISIONER_TRIGGER


class InfraConsumer:
    """The platform's infra service, as it reads the stream: a consumer group, ``>``, field ``data``
    validated as ``ProvisionerMessage`` version "1" and against the exported JSON Schema, XACK."""

    GROUP = "infrastructure-workers"

    def __init__(self, client: redis.Redis, schema: dict):
        self.client, self.schema = client, schema
        try:
            client.xgroup_create(PROVISIONER_STREAM, self.GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self) -> list[ProvisionerMessage]:
        got = []
        for _, entries in self.client.xreadgroup(self.GROUP, "infra-1", {PROVISIONER_STREAM: ">"}, count=1000) or []:
            for entry_id, fields in entries:
                assert set(fields) == {b"data"}
                jsonschema.validate(json.loads(fields[b"data"]), self.schema)
                message = ProvisionerMessage.model_validate_json(fields[b"data"])
                assert message.version == "1"
                got.append(message)
                self.client.xack(PROVISIONER_STREAM, self.GROUP, entry_id)
        return got


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    out = tmp_path_factory.mktemp("schemas")
    subprocess.run(
        [sys.executable, "-m", "scheduler.cli", "contracts", "export", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return json.loads((out / "provisioner_message.schema.json").read_text())


def seed(platform) -> set[str]:
    """Four stuck servers (three pending_setup, one provisioning for two hours) among others; their handles."""
    store = platform.store
    store.bulk_insert_servers(sample_servers(3, status=ServerStatus.PENDING_SETUP))
    store.bulk_insert_servers(sample_servers(1, start=4, status=ServerStatus.PENDING_SETUP, managed=False))
    store.bulk_insert_servers(sample_servers(2, start=5, status=ServerStatus.PROVISIONING))
    store.bulk_insert_servers(sample_servers(1, start=7, status=ServerStatus.READY))
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    store.execute_sql("UPDATE servers SET updated_at = ? WHERE handle = 'vps-5'", [two_hours_ago])
    return {"vps-1", "vps-2", "vps-3", "vps-5"}


def deps_for(redis_url, client, platform) -> Dependencies:
    api = PlatformClient(platform.url, SecretStr(DEFAULT_API_KEY), max_attempts=2, backoff_base=0.01)
    return Dependencies(Settings(redis_url=redis_url), client, platform=api)


def run_once(client, deps, settings, slot: int):
    with running_worker(client, [SPEC], settings, deps=deps):
        send(client, make_tick(TASK, slot=slot, reason=TickReason.STARTUP))
        return wait_until(lambda: next((r for r in runs(client, TASK) if r.slot == slot and not r.will_retry), None))


def test_each_stuck_server_is_announced_once_and_the_consumer_reads_exactly_those(
    redis_url, client, settings, platform, schema
):
    stuck = seed(platform)
    consumer = InfraConsumer(client, schema)
    deps = deps_for(redis_url, client, platform)
    first = run_once(client, deps, settings, 1)
    assert first.outcome is RunOutcome.SUCCEEDED and first.counters["published"] == 4
    assert platform.counters.requests["GET /api/servers/"] == 2, "one request per status: a filter is a scalar"
    messages = consumer.read()
    assert sorted(m.server_handle for m in messages) == sorted(stuck)
    assert not any(m.is_recovery for m in messages) and len({m.request_id for m in messages}) == 4
    assert all(client.pttl(Keys.provisioner_cooldown(h)) > 0 for h in stuck), "each entry with its cooldown"

    again = run_once(client, deps, settings, 2)  # a restart storm, or a second release soon after
    assert again.counters.get("published", 0) == 0 and again.counters["skipped_cooldown"] == 4
    assert consumer.read() == []


def test_at_most_max_per_run_the_rest_in_later_runs(redis_url, client, settings, platform, monkeypatch):
    monkeypatch.setenv("PROVISIONER_MAX_PER_RUN", "3")
    platform.store.bulk_insert_servers(sample_servers(7, status=ServerStatus.PENDING_SETUP))
    deps = deps_for(redis_url, client, platform)
    counts = [run_once(client, deps, settings, slot).counters for slot in (1, 2, 3, 4)]
    assert [(c.get("published", 0), c.get("held_back", 0)) for c in counts] == [(3, 4), (3, 1), (1, 0), (0, 0)]
    assert client.xlen(PROVISIONER_STREAM) == 7


def test_a_server_announced_by_another_task_is_not_announced_again(redis_url, client, settings, platform):
    seed(platform)

    async def server_sync_announces(aclient):  # as server_sync does for a new managed server
        return await ProvisionerPublisher(aclient).publish(ProvisionerMessage(server_handle="vps-2"), 1800)

    assert run_async(client, server_sync_announces)
    record = run_once(client, deps_for(redis_url, client, platform), settings, 1)
    assert (record.counters["published"], record.counters["skipped_cooldown"]) == (3, 1)
    handles = [
        ProvisionerMessage.model_validate_json(f[b"data"]).server_handle for _, f in client.xrange(PROVISIONER_STREAM)
    ]
    assert sorted(handles) == ["vps-1", "vps-2", "vps-3", "vps-5"] and handles.count("vps-2") == 1


def test_redis_failing_between_two_publishes_leaves_nothing_half_published(
    redis_url, client, settings, platform, monkeypatch
):
    stuck = seed(platform)
    real_publish, calls = ProvisionerPublisher.publish, []

    async def failing_after_two(self, message, cooldown_s):
        calls.append(message.server_handle)
        if len(calls) == 3:
            raise redis.ConnectionError("Connection reset by peer")
        return await real_publish(self, message, cooldown_s)

    monkeypatch.setattr(ProvisionerPublisher, "publish", failing_after_two)
    deps = deps_for(redis_url, client, platform)
    with running_worker(client, [SPEC], settings, deps=deps):
        send(client, make_tick(TASK, slot=1))
        wait_until(lambda: any(r.slot == 1 and not r.will_retry for r in runs(client, TASK)), timeout=20)
    # The failed run was retried (a transient error) and completed the rest; nothing twice.
    handles = [
        ProvisionerMessage.model_validate_json(f[b"data"]).server_handle for _, f in client.xrange(PROVISIONER_STREAM)
    ]
    assert sorted(handles) == sorted(stuck)
    assert {h for h in stuck if client.exists(Keys.provisioner_cooldown(h))} == stuck
    assert [r.outcome for r in runs(client, TASK)][:1] == [RunOutcome.FAILED]


def test_the_publish_script_writes_entry_and_cooldown_together_or_neither(client):
    client.set(PROVISIONER_STREAM, "not a stream")  # a stream key that cannot take the entry

    async def publish(aclient):
        return await ProvisionerPublisher(aclient).publish(ProvisionerMessage(server_handle="vps-9"), 60)

    with pytest.raises(redis.ResponseError, match="nothing published"):
        run_async(client, publish)
    assert not client.exists(Keys.provisioner_cooldown("vps-9")), "no cooldown without its entry"


def test_a_periodic_schedule_runs_the_same_task_with_the_same_guarantees(redis_url, client, settings, platform):
    stuck = seed(platform)
    ticker = Ticker(client, {TASK: Interval(1)}, release="periodic")
    thread = threading.Thread(target=ticker.run, daemon=True)
    with running_worker(client, [SPEC], settings, deps=deps_for(redis_url, client, platform)):
        thread.start()
        try:
            wait_until(
                lambda: len([r for r in runs(client, TASK) if r.outcome is RunOutcome.SUCCEEDED]) >= 3, timeout=20
            )
        finally:
            ticker.stop.set()
            thread.join(5)
    done = [r for r in runs(client, TASK) if r.outcome is RunOutcome.SUCCEEDED]
    assert sum(r.counters.get("published", 0) for r in done) == len(stuck) == client.xlen(PROVISIONER_STREAM)


@pytest.mark.slow
def test_once_per_release_with_two_tickers_and_two_workers_restarted_twice(redis_url, client, platform, schema):
    stuck = seed(platform)
    consumer = InfraConsumer(client, schema)
    env = {
        "REDIS_URL": redis_url,
        "API_BASE_URL": platform.url,
        "INTERNAL_API_KEY": DEFAULT_API_KEY,
        "SCHEDULE_GITHUB_SYNC": "off",
        "SCHEDULE_HEALTH_CHECKER": "off",
        "SCHEDULE_SERVER_SYNC": "off",
        "SCHEDULE_RAG_SUMMARIZER": "off",
        "RETRY_MIN_BACKOFF_MS": "100",
        "RETRY_MAX_BACKOFF_MS": "500",
    }

    def start(release: str) -> list:
        code = {
            "ticker": "from ticker.__main__ import main; raise SystemExit(main())",
            "worker": "from actors.__main__ import main; raise SystemExit(main())",
        }
        return [spawn(code[kind], {**env, "RELEASE_ID": release}) for kind in ("ticker", "worker") * 2]

    def finished_runs() -> int:
        return len([r for r in runs(client, TASK) if not r.will_retry])

    processes = start("r1")
    try:
        wait_until(lambda: finished_runs() == 1, timeout=60)
        for _ in range(2):  # everything killed and started again: same release, nothing again
            for process in processes:
                stop(process, signal.SIGKILL)
            client.delete(Keys.SCHEDULES)
            processes = start("r1")
            wait_until(lambda: client.exists(Keys.SCHEDULES), timeout=30)  # a ticker has looked since
        assert finished_runs() == 1
        for process in processes:
            stop(process)
        processes = start("r2")  # a new release soon after: it runs, and the cooldown holds
        wait_until(lambda: finished_runs() == 2, timeout=60)
    finally:
        for process in processes:
            stop(process)
    first, second = [r for r in runs(client, TASK) if not r.will_retry]
    assert first.counters["published"] == 4 and second.counters["skipped_cooldown"] == 4
    assert sorted(m.server_handle for m in consumer.read()) == sorted(stuck)
