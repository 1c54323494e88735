"""server_sync's world on loopback (``stack``), for the chaos tests that kill its worker."""

from tests.tasks.server_sync.stack import stack  # noqa: F401  (the fixture)
