"""The platform store's server metrics history: one row per snapshot, pruned by age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.platform.schema import from_row, timestamp, to_column
from sandbox.platform.store_base import NotFound, StoreBase


class MetricsStore(StoreBase):
    def _server_exists(self, db, handle: str) -> bool:
        return db.execute("SELECT 1 FROM servers WHERE handle = ?", (handle,)).fetchone() is not None

    def add_metrics_history(
        self, handle: str, metrics: dict[str, Any], recorded_at: datetime | None = None
    ) -> dict[str, Any]:
        """A snapshot now (``recorded_at`` for tests that plant old ones); NotFound for an unknown server."""
        with self._write() as db:
            if not self._server_exists(db, handle):
                raise NotFound("Server not found")
            row = db.execute(
                "INSERT INTO server_metrics_history (server_handle, recorded_at, metrics) VALUES (?, ?, ?) RETURNING *",
                (handle, timestamp(recorded_at), to_column(metrics)),
            ).fetchone()
        return from_row(row)

    def metrics_history(self, handle: str, hours: int = 24) -> list[dict[str, Any]]:
        """The server's snapshots of the last ``hours``, newest first; NotFound for an unknown server."""
        cutoff = timestamp(datetime.now(UTC) - timedelta(hours=hours))
        with self._read() as db:
            if not self._server_exists(db, handle):
                raise NotFound("Server not found")
            return [
                from_row(r)
                for r in db.execute(
                    "SELECT * FROM server_metrics_history WHERE server_handle = ? AND recorded_at >= ? "
                    "ORDER BY recorded_at DESC, id DESC",
                    (handle, cutoff),
                )
            ]

    def prune_metrics_history(self, retention_hours: int) -> int:
        """Delete every server's snapshots older than ``retention_hours``; how many went."""
        cutoff = timestamp(datetime.now(UTC) - timedelta(hours=retention_hours))
        with self._write() as db:
            return db.execute("DELETE FROM server_metrics_history WHERE recorded_at < ?", (cutoff,)).rowcount

    def metrics_history_count(self, handle: str | None = None) -> int:
        """How many snapshots are kept (of one server, or of all): for tests and benchmarks."""
        with self._read() as db:
            if handle is None:
                return db.execute("SELECT count(*) FROM server_metrics_history").fetchone()[0]
            return db.execute(
                "SELECT count(*) FROM server_metrics_history WHERE server_handle = ?", (handle,)
            ).fetchone()[0]
