"""The platform API client's transport against the sandbox, served for real on loopback: errors,
retries, correlation ids, item-by-item validation, secrets. Each resource's methods are tested in
tests/adapters/test_platform_{projects,servers,incidents_metrics,rag}.py."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydantic import SecretStr

from actors.adapters.platform.client import (
    PlatformAPIError,
    PlatformClient,
    PlatformResponseError,
    PlatformUnavailable,
)
from actors.tasks.deps import Dependencies
from contracts.platform import (
    ServerCreate,
)
from process.embedded import free_port
from process.errors import ConfigurationError, TransientError
from process.settings import Settings
from sandbox.http import ServedApp
from sandbox.platform.api import create_app, sample_servers

SECRET = "planted-platform-key-5f1d9c"  # must never appear in any log line or error


class Recording(httpx.AsyncBaseTransport):
    """The real transport, keeping every exchange; optionally heals the sandbox's injected
    5xx after ``heal_after`` of them (a transient outage)."""

    def __init__(self, faults=None, heal_after: int | None = None):
        self.inner = httpx.AsyncHTTPTransport()
        self.faults, self.heal_after = faults, heal_after
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    async def handle_async_request(self, request):
        response = await self.inner.handle_async_request(request)
        self.exchanges.append((request, response))
        failures = sum(r.status_code >= 500 for _, r in self.exchanges)
        if self.heal_after is not None and failures >= self.heal_after:
            self.faults.update(error_rate=0)
        return response

    async def aclose(self):
        await self.inner.aclose()


@pytest.fixture
def platform():
    app = create_app(api_key=SECRET)
    with ServedApp(app) as served:
        app.url = served.url
        yield app


def run(url, scenario, **options):
    """Run ``scenario(client)`` on a fresh event loop, as a worker thread would."""
    options = {"backoff_base": 0.001, "max_attempts": 3, **options}

    async def main():
        async with PlatformClient(url, SecretStr(SECRET), **options) as client:
            return await scenario(client)

    return asyncio.run(main())


def test_a_4xx_is_raised_with_its_body_and_never_retried(platform):
    platform.store.bulk_insert_servers(sample_servers(1))
    duplicate = ServerCreate(
        handle="vps-1", host="10.0.0.1", public_ip="10.0.0.1", is_managed=True, labels={"provider_id": "2"}
    )  # the handle of another server

    with pytest.raises(PlatformAPIError) as conflict:
        run(platform.url, lambda client: client.create_server(duplicate), max_attempts=5)
    assert (conflict.value.status, conflict.value.method, conflict.value.path) == (400, "POST", "/api/servers/")
    assert (
        "already exists" in conflict.value.body and "exists" in conflict.value.detail and "400" in str(conflict.value)
    )
    assert not isinstance(conflict.value, TransientError)

    with pytest.raises(PlatformAPIError) as missing:
        run(platform.url, lambda client: client.get_server("vps-404"), max_attempts=5)
    assert missing.value.status == 404 and missing.value.detail == "Server not found"

    async def wrong_key():
        async with PlatformClient(platform.url, SecretStr("not-the-key"), max_attempts=5) as client:
            await client.list_servers()

    with pytest.raises(PlatformAPIError) as unauthorized:
        asyncio.run(wrong_key())
    assert unauthorized.value.status == 401
    assert platform.counters.requests["POST /api/servers/"] == 1
    assert platform.counters.requests["GET /api/servers/{handle}"] == 2, "the 400's look-up, and the 404"
    assert platform.counters.requests["GET /api/servers/"] == 1


def test_a_transient_5xx_is_retried_with_the_same_correlation_id(platform):
    platform.store.bulk_insert_servers(sample_servers(2))
    platform.faults.update(error_rate=1.0)
    transport = Recording(platform.faults, heal_after=2)

    listing = run(platform.url, lambda client: client.list_servers(), transport=transport, max_attempts=4)
    assert [s.handle for s in listing] == ["vps-1", "vps-2"]
    assert [r.status_code for _, r in transport.exchanges] == [503, 503, 200]
    assert len({q.headers["x-correlation-id"] for q, _ in transport.exchanges}) == 1
    assert platform.counters.faults["5xx"] == 2


def test_a_lasting_5xx_ends_in_platform_unavailable(platform):
    platform.faults.update(error_rate=1.0)
    with pytest.raises(PlatformUnavailable) as caught:
        run(platform.url, lambda client: client.list_projects(), max_attempts=3)
    assert isinstance(caught.value, TransientError)
    assert (caught.value.attempts, caught.value.last_error) == (3, "HTTP 503")
    assert "GET /api/projects" in str(caught.value)
    assert platform.counters.faults["5xx"] == 3


def test_network_errors_and_timeouts_end_in_platform_unavailable(platform):
    closed_port = free_port()  # nothing listens there
    with pytest.raises(PlatformUnavailable, match="ConnectError"):
        run(f"http://127.0.0.1:{closed_port}", lambda client: client.list_servers())

    platform.faults.update(timeout_rate=1.0, timeout_s=0.5)
    with pytest.raises(PlatformUnavailable, match="ReadTimeout") as caught:
        run(platform.url, lambda client: client.list_servers(), timeout=0.1, max_attempts=2)
    assert caught.value.attempts == 2


def test_a_malformed_body_is_a_clear_error(platform):
    platform.store.bulk_insert_servers(sample_servers(1))
    platform.store.execute_sql("UPDATE servers SET handle = 'vps 1' WHERE handle = 'vps-1'")
    with pytest.raises(PlatformResponseError, match="not a Server: handle"):
        run(platform.url, lambda client: client.get_server("vps 1"))

    platform.faults.update(malformed_rate=1.0)
    with pytest.raises(PlatformResponseError, match="not JSON"):
        run(platform.url, lambda client: client.list_projects())
    assert platform.counters.requests["GET /api/projects/"] == 1  # not retried


def test_a_bad_item_in_a_list_is_skipped_and_counted(platform, captured_logs):
    platform.store.bulk_insert_servers(sample_servers(3))
    platform.store.execute_sql("UPDATE servers SET status = 'hibernating' WHERE handle = 'vps-2'")

    listing = run(platform.url, lambda client: client.list_servers())
    assert [s.handle for s in listing] == ["vps-1", "vps-3"] and listing.skipped == 1
    skipped = [event for event in captured_logs if event["event"] == "platform_api.item_skipped"]
    assert len(skipped) == 1
    assert (skipped[0]["index"], skipped[0]["item"], skipped[0]["resource"]) == (1, "vps-2", "Server")
    assert skipped[0]["error"].startswith("status: Input should be")


def test_the_run_correlation_id_is_sent_and_echoed(platform):
    transport = Recording()

    async def scenario(client):
        await client.for_run("run-github_sync-1700000000").list_projects()  # a run's client carries its id
        await client.list_projects()
        await client.list_projects()

    run(platform.url, scenario, transport=transport)
    sent = [q.headers["x-correlation-id"] for q, _ in transport.exchanges]
    echoed = [r.headers["x-correlation-id"] for _, r in transport.exchanges]
    assert sent == echoed
    assert sent[0] == "run-github_sync-1700000000"
    assert len(set(sent[1:])) == 2 and sent[0] not in sent[1:]  # fresh per request when unbound
    assert [seen[2] for seen in platform.requests_seen] == sent


def test_the_api_key_never_appears_in_logs_or_errors(platform, rendered_logs, caplog):
    platform.store.bulk_insert_servers(sample_servers(2))
    platform.store.execute_sql("UPDATE servers SET status = 'hibernating' WHERE handle = 'vps-2'")
    errors = []

    async def scenario(client):
        await client.list_servers()
        for call in (
            lambda: client.get_server("vps-404"),
            lambda: client.create_server(
                ServerCreate(
                    handle="vps-1", host="h", public_ip="10.0.0.9", is_managed=False, labels={"provider_id": "9"}
                )
            ),
        ):
            try:
                await call()
            except PlatformAPIError as exc:
                errors.append(exc)
        platform.faults.update(error_rate=1.0)
        try:
            await client.list_projects()
        except PlatformUnavailable as exc:
            errors.append(exc)
        return repr(client)

    shown = run(platform.url, scenario)
    output = rendered_logs()
    assert "platform_api.retrying" in output and "platform_api.item_skipped" in output
    assert len(errors) == 3
    raw_records = [f"{r.msg} {r.args} {r.getMessage()}" for r in caplog.records]
    assert raw_records
    for text in (output, shown, *raw_records, *map(str, errors), *(repr(vars(e)) for e in errors)):
        assert SECRET not in text


def test_one_client_per_process_from_the_environment(platform, monkeypatch):
    monkeypatch.delenv("API_BASE_URL", raising=False)
    monkeypatch.setenv("INTERNAL_API_KEY", SECRET)
    with pytest.raises(ConfigurationError, match="API_BASE_URL") as missing:
        _ = Dependencies(Settings(redis_url="redis://127.0.0.1:1/0"), None).platform
    assert SECRET not in str(missing.value)

    monkeypatch.setenv("API_BASE_URL", platform.url)
    deps = Dependencies(Settings(redis_url="redis://127.0.0.1:1/0"), None)  # what a worker process builds once
    client = deps.platform
    assert deps.platform is client and SECRET not in repr(client)

    async def once():  # a short-lived event loop closes its pool before it ends
        try:
            return await client.list_servers()
        finally:
            await client.aclose()

    # The shared client serves every event loop it is used from, one after another.
    assert [asyncio.run(once()).items for _ in range(2)] == [[], []]


class Connections:
    """The served app, noting each request's client port (one per TCP connection) and the most
    requests it had in hand at once."""

    def __init__(self, app):
        self.app, self.ports, self.now, self.most = app, set(), 0, 0

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.ports.add(scope["client"][1])
            self.now += 1
            self.most = max(self.most, self.now)
            try:
                await asyncio.sleep(0.002)  # an answer takes a moment: requests overlap
                await self.app(scope, receive, send)
            finally:
                self.now -= 1
        else:
            await self.app(scope, receive, send)


def test_a_busy_worker_uses_its_few_connections_and_a_quiet_one_keeps_reusing_one():
    watched = Connections(create_app(api_key=SECRET))
    with ServedApp(watched) as served:

        async def scenario(client):
            await asyncio.gather(*(client.list_projects() for _ in range(120)))  # a batch's writes at once
            busy = set(watched.ports)
            for _ in range(20):
                await client.list_projects()
            return busy

        busy = run(served.url, scenario, max_connections=4)
    assert len(busy) == 4 and watched.most == 4, "every connection used, never more than 4 requests at once"
    assert watched.ports == busy, "the quiet requests went over a connection already open"
