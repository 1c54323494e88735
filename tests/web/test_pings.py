"""Dead-man pings around runs (PING_URL_<TASK>): start, success, fail, sent off the run's thread."""

from __future__ import annotations

import socket
import time

from actors.runtime.middleware.pings import SHUTDOWN_FLUSH_S, DeadManPings, ping_urls
from actors.runtime.spec import TaskSpec
from contracts import RunOutcome, TaskName
from tests.support import make_tick, running_worker, runs, send, wait_until
from tests.web.support import Receiver


def test_ping_urls_from_the_environment():
    env = {"PING_URL_GITHUB_SYNC": "https://hc.example/abc/", "PING_URL_SERVER_SYNC": " ", "OTHER": "x"}
    assert ping_urls(env) == {TaskName.GITHUB_SYNC: "https://hc.example/abc"}


def test_a_run_pings_start_then_success_or_fail(client, settings, monkeypatch, rendered_logs):
    def body(run):
        if run.tick.slot == 2:
            raise ValueError("not transient: no retry")

    with Receiver() as hook:
        monkeypatch.setenv("PING_URL_HEALTH_CHECKER", hook.url + "/ping/uuid-1234")
        with running_worker(client, [TaskSpec(TaskName.HEALTH_CHECKER, body)], settings) as broker:
            pings = next(m for m in broker.middleware if isinstance(m, DeadManPings))
            send(client, make_tick(slot=1))
            wait_until(lambda: len(runs(client)) == 1)
            send(client, make_tick(slot=2))
            wait_until(lambda: len(runs(client)) == 2)
            send(client, make_tick(slot=1))  # already done: skipped, no ping
            wait_until(lambda: len(runs(client)) == 3)
            assert pings.flush()
    assert [r.outcome for r in runs(client)] == [RunOutcome.SUCCEEDED, RunOutcome.FAILED, RunOutcome.SKIPPED_DONE]
    assert [path for _, path, _ in hook.requests] == [
        "/ping/uuid-1234/start",
        "/ping/uuid-1234",
        "/ping/uuid-1234/start",
        "/ping/uuid-1234/fail",
    ]
    assert "uuid-1234" not in rendered_logs()


def test_a_hanging_ping_endpoint_does_not_hold_up_runs(client, settings, monkeypatch):
    silent = socket.socket()  # accepts connections (the backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    monkeypatch.setenv("PING_URL_HEALTH_CHECKER", f"http://127.0.0.1:{silent.getsockname()[1]}/hangs")
    try:
        with running_worker(client, [TaskSpec(TaskName.HEALTH_CHECKER, lambda run: None)], settings):
            for slot in range(1, 4):
                send(client, make_tick(slot=slot))
                wait_until(lambda slot=slot: len(runs(client)) == slot, timeout=10)
    finally:
        silent.close()
    assert all(r.outcome is RunOutcome.SUCCEEDED for r in runs(client))
    # each ping would wait its 5 s timeout: the runs did not
    assert all(r.duration_s < 2 for r in runs(client)), [r.duration_s for r in runs(client)]


def test_a_stopping_worker_sends_what_is_queued_then_ends_its_sender():
    with Receiver() as hook:
        pings = DeadManPings({TaskName.SERVER_SYNC: hook.url + "/ping/u"})
        pings._ping(TaskName.SERVER_SYNC, "start")
        pings._ping(TaskName.SERVER_SYNC, "success")
        sender = pings._thread
        pings.after_worker_shutdown(None, None)
        sender.join(timeout=5)
    assert [path for _, path, _ in hook.requests] == ["/ping/u/start", "/ping/u"]
    assert not sender.is_alive()


def test_a_dead_ping_endpoint_does_not_hold_up_a_stopping_worker(captured_logs):
    silent = socket.socket()  # accepts connections (the backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        pings = DeadManPings({TaskName.SERVER_SYNC: f"http://127.0.0.1:{silent.getsockname()[1]}/u"}, timeout_s=1.0)
        for _ in range(5):
            pings._ping(TaskName.SERVER_SYNC, "start")
        sender, started = pings._thread, time.monotonic()
        pings.after_worker_shutdown(None, None)
        assert time.monotonic() - started < SHUTDOWN_FLUSH_S + 1
        sender.join(timeout=5)  # the ping in flight ends with its own timeout; the rest are dropped
    finally:
        silent.close()
    assert not sender.is_alive()
    dropped = [e for e in captured_logs if e["event"].startswith("pings dropped")]
    assert dropped and dropped[0]["dropped"] >= 2
