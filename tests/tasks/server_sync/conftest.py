from tests.tasks.server_sync.stack import stack  # noqa: F401  (the fixture)
