"""A scheduler's Redis state written through the real writers (run recording, the tick emitter,
the heartbeat writer, the health checker's slot keys), for the web tests."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis

from actors.runtime.middleware.recording import record_run
from contracts import PROVISIONER_STREAM, Keys, RunOutcome, RunRecord, TaskName, TickReason, queue_name
from contracts.provisioner import ProvisionerMessage
from process.heartbeats import HeartbeatWriter


def record(
    client: redis.Redis,
    task: TaskName,
    outcome: RunOutcome,
    *,
    seconds: float = 1.0,
    slot: int = 1_000,
    counters: dict | None = None,
    error: str | None = None,
    ago_s: float = 0.0,
) -> RunRecord:
    finished = datetime.now(UTC) - timedelta(seconds=ago_s)
    run = RunRecord(
        task=task,
        slot=slot,
        reason=TickReason.SCHEDULE,
        outcome=outcome,
        started_at=finished - timedelta(seconds=seconds),
        finished_at=finished,
        counters=counters or {},
        error=error,
        worker="host:1",
    )
    record_run(client, run, slot_done=outcome is not RunOutcome.SKIPPED_LOCKED)
    return run


def health_slot(
    client: redis.Redis,
    slot: int,
    *,
    planned: int,
    checked: int,
    healthy: int = 0,
    degraded: int = 0,
    unhealthy: int = 0,
    cut: int = 0,
    batches: int = 1,
) -> None:
    """What the health checker writes for a slot: its counters and its set of checked servers."""
    client.hset(
        Keys.health_slot(slot),
        mapping={
            "servers": planned,
            "batches": batches,
            "batches_done": batches,
            "healthy": healthy,
            "degraded": degraded,
            "unhealthy": unhealthy,
            "cut": cut,
        },
    )
    if checked:
        client.sadd(Keys.health_slot_checked(slot), *[f"srv-{i}" for i in range(checked)])
    client.zadd(Keys.HEALTH_SLOTS, {str(slot): slot})


def processes(client: redis.Redis, roles=("ticker", "worker"), tasks=tuple(TaskName)) -> list[HeartbeatWriter]:
    """One beat of a ticker and of a worker serving ``tasks`` (no background thread)."""
    writers = []
    for role in roles:
        writer = HeartbeatWriter(
            client,
            role,
            release="test",
            interval_s=60,
            queues=[queue_name(t) for t in tasks] if role == "worker" else (),
            tasks=[t.value for t in tasks],
        )
        writer.beat()
        writers.append(writer)
    return writers


def announce(client: redis.Redis, handle: str) -> None:
    client.xadd(PROVISIONER_STREAM, {"data": ProvisionerMessage(server_handle=handle).model_dump_json()})


class Receiver:
    """A loopback webhook / ping endpoint: records each request (path, JSON body); answers
    ``failures`` 500s first, then 200s."""

    def __init__(self, failures: int = 0):
        self.requests: list[tuple[str, str, dict | None]] = []
        self.failures = failures
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self, method):
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                outer.requests.append((method, self.path, json.loads(raw) if raw else None))
                failing = outer.failures > 0
                outer.failures -= 1 if failing else 0
                self.send_response(500 if failing else 200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def do_POST(self):
                self._handle("POST")

            def do_GET(self):
                self._handle("GET")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
