"""Fixtures of the health checker's tests (pytest finds them here, beside the tests): the sandbox
SSH fleet, the platform API stand-in served on loopback, and the dependencies object a worker
process would build, here made of sandbox-backed parts."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydantic import SecretStr

import actors.adapters.ssh.probe as ssh_probe
from actors.adapters.platform.client import PlatformClient
from actors.adapters.ssh.probe import SshProbe
from actors.adapters.ssh.settings import SshSettings
from actors.tasks.deps import Dependencies
from actors.tasks.health_checker.settings import HealthCheckerSettings
from process.settings import Settings
from sandbox.platform.api import DEFAULT_API_KEY
from sandbox.ssh.fleet import SshFleet
from tests.platform_conformance import CheckedTransport


class _CheckedPerLoop(CheckedTransport):
    """The conformance checks, over one connection pool per event loop: a test may run several
    ``asyncio.run`` with one dependencies object (a worker has one loop)."""

    def __init__(self):
        super().__init__(httpx.AsyncHTTPTransport())
        self._pools: dict[int, httpx.AsyncHTTPTransport] = {}

    @property
    def inner(self) -> httpx.AsyncHTTPTransport:
        return self._pools.setdefault(id(asyncio.get_running_loop()), httpx.AsyncHTTPTransport())

    @inner.setter
    def inner(self, value) -> None:  # the base class's assignment
        pass


@pytest.fixture
def fleet():
    with SshFleet() as fleet:
        yield fleet


@pytest.fixture(autouse=True)
def known_hosts_looked_at_every_check(monkeypatch):
    """Hosts are added to the fleet's known_hosts as a test goes: the probe sees them at once."""
    monkeypatch.setattr(ssh_probe, "KNOWN_HOSTS_RECHECK_S", 0.0)


class Health:
    """``health(**options)`` makes ``health.deps`` anew from SSH and health options (any
    ``SshSettings`` or ``HealthCheckerSettings`` field); the fleet's client key and known_hosts are the
    defaults."""

    def __init__(self, redis_url, client, fleet, platform):
        self.redis_url, self.client, self.fleet, self.platform = redis_url, client, fleet, platform
        self.deps: Dependencies | None = None

    def __call__(self, **options) -> Dependencies:
        self.deps = self.build(self.redis_url, **options)
        return self.deps

    def build(self, redis_url: str, *, checked: bool = True, **options) -> Dependencies:
        """A dependencies object on the Redis at ``redis_url`` (the blocking client stays the test's);
        ``checked``: every platform exchange held against openapi.json (CPU in the event loop)."""
        ssh_options = {k: v for k, v in options.items() if k in SshSettings.model_fields}
        rules = {k: v for k, v in options.items() if k not in ssh_options}
        ssh = SshSettings(
            **{
                "ssh_private_key_path": self.fleet.client_key_path if self.fleet else None,
                "ssh_known_hosts": self.fleet.known_hosts_path if self.fleet else None,
                "health_connect_timeout_s": 2.0,
                "health_command_timeout_s": 2.0,
                **ssh_options,
            }
        )
        # every request the checker sends and every answer it reads, held against the real openapi.json
        platform = PlatformClient(
            self.platform.url,
            SecretStr(DEFAULT_API_KEY),
            max_attempts=2,
            backoff_base=0.01,
            transport=_CheckedPerLoop() if checked else None,
        )
        return Dependencies(
            Settings(redis_url=redis_url),
            self.client,
            platform=platform,
            probe=SshProbe(ssh.probe_config()),
            settings=(ssh, HealthCheckerSettings(**rules)),
        )


@pytest.fixture
def health(request, redis_url, client, platform):
    fleet = request.getfixturevalue("fleet") if "fleet" in request.fixturenames else None
    made = Health(redis_url, client, fleet, platform)
    if fleet is not None:
        made()
    return made
