"""Redis over TLS (``rediss://``) against a real redis-server with a self-signed CA, as hosted
Redis serves it: refused by default with a clear message, accepted with REDIS_SSL_CERT_REQS=none
or with the CA given, for the broker, a task lock, the CLI and the ticker alike."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from actors.runtime.lock import TaskLock
from actors.runtime.spec import TaskSpec
from contracts import RunOutcome, TaskName
from process import logs
from process.connection import RedisCertificateRefused, check_redis, redis_from_url
from process.settings import Settings
from tests.deploy.tls_redis import TlsRedis
from tests.support import ROOT, make_tick, running_worker, runs, send, spawn, stop, ticks, wait_until


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    server = TlsRedis(tmp_path_factory.mktemp("tls-redis")).start()
    yield server
    server.stop()


def tls_settings(**values) -> Settings:
    return Settings(
        lock_ttl_ms=1_500,
        worker_shutdown_ms=1_000,
        retry_max=1,
        retry_min_backoff_ms=50,
        retry_max_backoff_ms=100,
        **values,
    )


def test_the_default_refuses_a_self_signed_certificate_and_says_what_to_set(tls_redis):
    client = redis_from_url(tls_redis.url, tls_settings())
    with pytest.raises(RedisCertificateRefused) as refused:
        check_redis(client)
    message = str(refused.value)
    assert "self-signed certificate" in message
    assert "REDIS_SSL_CERT_REQS=none" in message and "REDIS_SSL_CA_CERTS" in message
    assert str(tls_redis.port) not in message, "the message names no host or URL"


@pytest.mark.parametrize("options", ["none", "ca_path", "ca_data"])
def test_none_or_the_ca_connects(tls_redis, options):
    values = {
        "none": {"redis_ssl_cert_reqs": "none"},
        "ca_path": {"redis_ssl_ca_certs": tls_redis.certs.ca_path},
        "ca_data": {"redis_ssl_ca_data": tls_redis.certs.ca_pem},
    }[options]
    client = redis_from_url(tls_redis.url, tls_settings(**values))
    check_redis(client)
    client.set("tls:probe", options)
    assert client.get("tls:probe") == options.encode()
    assert client.connection_pool.connection_kwargs["ssl_cert_reqs"] == values.get("redis_ssl_cert_reqs", "required")
    client.close()


def test_the_broker_and_the_task_lock_over_tls(tls_redis):
    settings = tls_settings(redis_ssl_ca_data=tls_redis.certs.ca_pem)
    client = redis_from_url(tls_redis.url, settings)
    client.flushdb()
    lock = TaskLock(client, "tls_lock_probe", ttl_ms=1_500)
    assert lock.acquire() and not TaskLock(client, "tls_lock_probe", ttl_ms=1_500).acquire()
    assert lock.release()
    calls = []
    with running_worker(client, [TaskSpec(TaskName.GITHUB_SYNC, lambda run: calls.append(run.tick.slot))], settings):
        send(client, make_tick(TaskName.GITHUB_SYNC, slot=4242))
        wait_until(lambda: runs(client, TaskName.GITHUB_SYNC))
    assert calls == [4242]
    assert runs(client, TaskName.GITHUB_SYNC)[0].outcome is RunOutcome.SUCCEEDED
    client.close()


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_")}
    return subprocess.run(
        [sys.executable, "-m", "scheduler.cli", *args],
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_cli_explains_a_refused_certificate_and_works_with_none(tls_redis):
    refused = cli("status", env={"REDIS_URL": tls_redis.url})
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "REDIS_SSL_CERT_REQS=none" in refused.stderr
    ok = cli("pause", "github_sync", env={"REDIS_URL": tls_redis.url, "REDIS_SSL_CERT_REQS": "none"})
    assert ok.returncode == 0, ok.stderr
    assert (
        cli(
            "status", env={"REDIS_URL": tls_redis.url, "REDIS_SSL_CA_CERTS": str(tls_redis.certs.ca_path)}
        ).stdout.count("(paused)")
        == 1
    )


def test_the_ticker_emits_over_tls_and_refuses_an_unverified_certificate(tls_redis, tmp_path):
    client = redis_from_url(tls_redis.url, tls_settings(redis_ssl_cert_reqs="none"))
    client.flushdb()
    env = {"REDIS_URL": tls_redis.url, "SCHEDULE_GITHUB_SYNC": "1s", "RELEASE_ID": "tls"}
    refused = spawn("from ticker.__main__ import main; raise SystemExit(main())", env, log=tmp_path / "refused.log")
    assert refused.wait(15) == 78
    assert "REDIS_SSL_CERT_REQS=none" in (tmp_path / "refused.log").read_text()

    ticker = spawn(
        "from ticker.__main__ import main; raise SystemExit(main())",
        {**env, "REDIS_SSL_CERT_REQS": "none"},
        log=tmp_path / "ticker.log",
    )
    try:
        wait_until(lambda: any(t.task is TaskName.GITHUB_SYNC for _, t in ticks(client)), timeout=15)
    finally:
        stop(ticker)
    assert ticker.returncode == 0
    client.close()


def test_a_one_line_ca_and_the_url_password_stay_out_of_logs(tls_redis):
    settings = tls_settings(redis_ssl_ca_data=tls_redis.certs.ca_pem.replace("\n", "\\n"))
    client = redis_from_url(tls_redis.url, settings)
    assert client.ping()
    client.close()
    logs.register_env_secrets({"REDIS_URL": "rediss://:p4ssw0rd-heroku@ec2.example:6380"})
    assert (
        logs._scrub("cannot reach rediss://:p4ssw0rd-heroku@ec2.example:6380")
        == f"cannot reach rediss://:{logs.REDACTED}@ec2.example:6380"
    )
