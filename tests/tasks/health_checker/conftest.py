"""Fixtures of the health checker's tests (pytest finds them here, beside the tests): the sandbox
SSH fleet, the platform API stand-in served on loopback, and the checker's settings."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from actors.tasks.health_checker.settings import HealthSettings
from actors.adapters.platform.client import PlatformClient, set_platform_client
from actors.tasks.health_checker.task import configure
from sandbox.http import ServedApp
from sandbox.platform_api import DEFAULT_API_KEY, create_app
from sandbox.ssh_fleet import SshFleet


@pytest.fixture
def fleet():
    with SshFleet() as fleet:
        yield fleet


@pytest.fixture
def platform():
    app = create_app()
    with ServedApp(app) as served:
        set_platform_client(PlatformClient(served.url, SecretStr(DEFAULT_API_KEY), max_attempts=2, backoff_base=0.01))
        yield app
    set_platform_client(None)


@pytest.fixture
def health(client, fleet):
    def setup(**options) -> HealthSettings:
        values = {"ssh_private_key_path": fleet.client_key_path, "health_connect_timeout_s": 2.0,
                  "health_command_timeout_s": 2.0, **options}
        settings = HealthSettings(**values)
        configure(settings=settings, client=client)
        return settings
    setup()
    yield setup
    configure()
