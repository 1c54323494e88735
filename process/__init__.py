"""What every process of the service stands on — the ticker, the workers, the command line and
the web process alike: its settings (and the one message that explains bad ones), logs, the Redis
connection, heartbeats, signals, open-file limits, the embedded Redis, the errors every layer
raises. It imports only ``contracts``."""
