"""Fixtures every task's tests share: the platform API stand-in served on loopback."""

from __future__ import annotations

import pytest

from sandbox.http import ServedApp
from sandbox.platform.api import create_app


@pytest.fixture
def platform():
    """The sandbox platform API (SQLite in memory), served; ``platform.url`` is its base URL."""
    app = create_app()
    with ServedApp(app) as served:
        app.url = served.url
        yield app
