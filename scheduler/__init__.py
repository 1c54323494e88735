"""The shared runtime of the ticker and the workers: settings, logs, the Redis connection,
signals, the embedded Redis, the errors every layer raises. It imports only ``contracts``.

``scheduler.cli`` (the command line) is the top layer and lives here only for its name.
"""
