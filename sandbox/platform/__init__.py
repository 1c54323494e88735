"""The platform API stand-in: ``api`` (the HTTP endpoints the scheduler consumes), ``store`` (SQLite
persistence), ``schema`` (its tables)."""
