"""Fixtures shared by the suite.

Every test talks to Redis over TCP: to a fakeredis server in this process by default, or to
the real Redis at ``REDIS_URL`` when it is set (CI runs the suite both ways). Multi-process
tests hand the same URL to the ticker and worker processes they start.
"""

from __future__ import annotations

import io
import logging
import os
import threading

import fakeredis
import pytest
import redis
import structlog

from process.logs import configure_logging
from process.settings import Settings
from tests.support import Clock


@pytest.fixture(scope="session")
def redis_server_url():
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    server = fakeredis.TcpFakeServer(("127.0.0.1", 0), server_type="redis")
    thread = threading.Thread(target=server.serve_forever, name="fakeredis", daemon=True)
    thread.start()
    host, port = server.server_address
    yield f"redis://{host}:{port}/0"
    server.shutdown()
    server.server_close()


@pytest.fixture
def redis_url(redis_server_url):
    client = redis.Redis.from_url(redis_server_url)
    client.flushdb()
    client.close()
    return redis_server_url


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
def settings(redis_url) -> Settings:
    return Settings(
        redis_url=redis_url,
        lock_ttl_ms=1_500,
        worker_threads=4,
        worker_shutdown_ms=1_000,
        retry_max=3,
        retry_min_backoff_ms=50,
        retry_max_backoff_ms=200,
        log_format="json",
    )


@pytest.fixture(scope="session", autouse=True)
def _logging():
    configure_logging("json", "INFO")  # to stderr, as in production
    # Loggers are not cached in tests, so that structlog.testing.capture_logs sees every one.
    structlog.configure(cache_logger_on_first_use=False)


@pytest.fixture(autouse=True)
def _uncached_loggers():
    """Each test starts and ends with structlog's logger cache off. configure_logging (called by a
    few tests, directly or through a process's main) turns it on, and a logger first used while it
    is on keeps that pipeline for the rest of the session, out of reach of ``captured_logs``: which
    later tests then failed depended on which tests ran in between."""
    structlog.configure(cache_logger_on_first_use=False)
    yield
    structlog.configure(cache_logger_on_first_use=False)


@pytest.fixture
def captured_logs():
    """Log events as structlog hands them over (``structlog.testing.capture_logs``), with the run's
    bound context (task, slot, correlation id) merged in: for asserting what was logged."""
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as events:
        yield events


@pytest.fixture
def rendered_logs():
    """Every line the process writes, rendered by the production pipeline (library lines at
    DEBUG included, redaction applied): for asserting what an operator could read, e.g. that no
    secret appears. Returns a function giving the text so far."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging(fmt="json", level="DEBUG")
    structlog.configure(cache_logger_on_first_use=False)
    written = io.StringIO()
    root.handlers[0].setStream(written)  # the process's own handler and formatter, into a buffer
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield written.getvalue
    root.handlers[:], _ = saved
    root.setLevel(saved[1])
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


@pytest.fixture
def clock():
    """A hand-moved clock for the stand-ins and adapters that take one (``tests.support.Clock``)."""
    return Clock()


@pytest.fixture
def app_options() -> dict:
    """Options of a sandbox app under test; overridden per test with
    ``@pytest.mark.parametrize("app_options", [{...}])``."""
    return {}
