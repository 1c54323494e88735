"""The platform store's servers table and its operations, as the real service behaves.

- create: the columns of its ``ServerCreate`` less ``capacity_disk_mb`` and ``notes`` (accepted,
  not stored: the column keeps its default); a duplicate handle is ``Duplicate`` (400).
- update: a free object of which only ``PATCH_FIELDS`` are applied, everything else dropped
  without a word; ``provider_id`` is written into the labels (those sent with it, else the
  stored ones), null removes it; ``labels`` replaces the labels whole; ``status`` is not
  validated; a timestamp's offset is stripped, not converted; a value its column cannot hold
  (a string for a number, a null for a NOT NULL column) is ``ColumnError`` (500, as the real
  service's database error).
- rows go out as ``ServerRead``: ``provider_id`` read from ``labels.provider_id``, no key, no
  provisioning counters; ``created_at``/``updated_at`` aware UTC, the other timestamps naive.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from sandbox.platform.schema import SERVER_COLUMNS, from_row, to_column
from sandbox.platform.store_base import NotFound, StoreBase


class Duplicate(Exception):
    """Answered as 400, as the real service does for a handle that exists."""


class ColumnError(Exception):
    """A value its column cannot hold: the real service's database refuses it (500)."""


#: what ``POST /api/servers/`` stores (``capacity_disk_mb`` and ``notes`` are accepted, not stored)
CREATE_FIELDS = (
    "handle",
    "host",
    "public_ip",
    "ssh_user",
    "ssh_key",
    "capacity_cpu",
    "capacity_ram_mb",
    "is_managed",
    "status",
    "labels",
)
#: what ``PATCH /api/servers/{handle}`` applies; anything else is dropped silently
PATCH_FIELDS = frozenset(
    {
        "host",
        "public_ip",
        "status",
        "notes",
        "is_managed",
        "labels",
        "ssh_user",
        "provisioning_started_at",
        "capacity_cpu",
        "capacity_ram_mb",
        "capacity_disk_mb",
        "used_ram_mb",
        "used_disk_mb",
        "os_template",
        "cpu_usage_pct",
        "load_avg_1m",
        "load_avg_5m",
        "load_avg_15m",
        "network_rx_errors",
        "network_tx_errors",
        "container_count_running",
        "container_count_total",
        "uptime_seconds",
        "last_health_check",
    }
)
_NAIVE_TIMES = frozenset({"provisioning_started_at", "last_health_check"})
_INTS = frozenset(
    {
        "capacity_cpu",
        "capacity_ram_mb",
        "capacity_disk_mb",
        "used_ram_mb",
        "used_disk_mb",
        "network_rx_errors",
        "network_tx_errors",
        "container_count_running",
        "container_count_total",
    }
)
_INT32 = frozenset(
    {
        "capacity_cpu",
        "capacity_ram_mb",
        "capacity_disk_mb",
        "used_ram_mb",
        "used_disk_mb",
        "container_count_running",
        "container_count_total",
    }
)
_FLOATS = frozenset({"cpu_usage_pct", "load_avg_1m", "load_avg_5m", "load_avg_15m", "uptime_seconds"})
_NOT_NULL = frozenset(
    {
        "host",
        "public_ip",
        "ssh_user",
        "capacity_cpu",
        "capacity_ram_mb",
        "capacity_disk_mb",
        "used_ram_mb",
        "used_disk_mb",
        "is_managed",
        "status",
        "labels",
    }
)
_TEXT_255 = frozenset({"host", "public_ip"})
_HIDDEN = ("ssh_key_enc", "provisioning_attempts", "provisioning_episode_id", "last_incident")


def now_aware() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def naive_utc(value: Any) -> str:
    """A timestamp as the real service stores it on PATCH: the offset stripped, not converted."""
    if isinstance(value, datetime):
        parsed = value
    else:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed.replace(tzinfo=None).isoformat()


def server_read(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored row as ``ServerRead``."""
    out = {k: v for k, v in row.items() if k not in _HIDDEN}
    labels = out.get("labels") or {}
    out["provider_id"] = labels.get("provider_id") if isinstance(labels, dict) else None
    return out


def _column_value(name: str, value: Any) -> Any:
    if value is None:
        if name in _NOT_NULL:
            raise ColumnError(f"null value in column {name!r} violates not-null constraint")
        return None
    if name in _INTS and (isinstance(value, bool) or not isinstance(value, int)):
        raise ColumnError(f"invalid input for integer column {name!r}")
    if name in _INT32 and not -(2**31) <= value < 2**31:
        raise ColumnError(f"value out of range for integer column {name!r}")
    if name in _FLOATS and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ColumnError(f"invalid input for real column {name!r}")
    if name == "is_managed" and not isinstance(value, bool):
        raise ColumnError("invalid input for boolean column 'is_managed'")
    if name == "labels" and not isinstance(value, dict):
        raise ColumnError("labels must be a JSON object")
    if name in _TEXT_255 | {"ssh_user", "status", "notes", "os_template"} and not isinstance(value, str):
        raise ColumnError(f"invalid input for text column {name!r}")
    if name in _TEXT_255 and len(value) > 255 or name == "os_template" and len(value) > 100:
        raise ColumnError(f"value too long for column {name!r}")
    if name in _NAIVE_TIMES:
        try:
            return naive_utc(value)
        except (TypeError, ValueError):
            raise ColumnError(f"invalid timestamp for column {name!r}") from None
    return to_column(value)


class ServersStore(StoreBase):
    def list_servers(self, status: str | None = None, is_managed: bool | None = None) -> list[dict[str, Any]]:
        """As ``GET /api/servers/``: one status (a scalar), managed or not."""
        clauses, params = [], []
        if status is not None:
            clauses.append("status = ?")
            params.append(str(getattr(status, "value", status)))
        if is_managed is not None:
            clauses.append("is_managed = ?")
            params.append(int(is_managed))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._read() as db:
            rows = db.execute(f"SELECT * FROM servers{where} ORDER BY handle", params).fetchall()
        return [server_read(from_row(r)) for r in rows]

    def get_server(self, handle: str) -> dict[str, Any]:
        with self._read() as db:
            return server_read(self._one(db, "SELECT * FROM servers WHERE handle = ?", (handle,), "Server not found"))

    def create_server(self, server: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
        """``POST /api/servers/``: only the create fields are stored."""
        given = server.model_dump(mode="json") if isinstance(server, BaseModel) else dict(server)
        return self.bulk_insert_servers([{k: given[k] for k in CREATE_FIELDS if k in given}])[0]

    def bulk_insert_servers(self, servers: Iterable[BaseModel | Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Seed many in one transaction, all or nothing; any column may be given (a test back door:
        ``capacity_disk_mb``, ``os_template``, metrics...). A duplicate handle is ``Duplicate``."""
        out = []
        with self._write() as db:
            for server in servers:
                given = server.model_dump(mode="json") if isinstance(server, BaseModel) else dict(server)
                key = given.pop("ssh_key", None)
                now = now_aware()
                values = {
                    "created_at": now,
                    "updated_at": now,
                    "labels": {},
                    **{k: _column_value(k, v) for k, v in given.items() if k in SERVER_COLUMNS},
                }
                if key:
                    values["ssh_key_enc"] = "encrypted:" + str(len(key))  # never the key itself
                values["labels"] = to_column(given.get("labels") or {})
                names = list(values)
                sql = f"INSERT INTO servers ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) RETURNING *"
                try:
                    row = db.execute(sql, [values[n] for n in names]).fetchone()
                except sqlite3.IntegrityError:
                    raise Duplicate("Server with this handle already exists") from None
                out.append(server_read(from_row(row)))
        return out

    def update_server(self, handle: str, updates: Mapping[str, Any]) -> dict[str, Any]:
        """``PATCH /api/servers/{handle}`` with a free object (see the module's notes)."""
        updates = dict(updates)
        with self._write() as db:
            row = db.execute("SELECT * FROM servers WHERE handle = ?", (handle,)).fetchone()
            if row is None:
                raise NotFound("Server not found")
            current = from_row(row)
            assignments: dict[str, Any] = {}
            if "ssh_key" in updates:
                key = updates.pop("ssh_key")
                assignments["ssh_key_enc"] = "encrypted:" + str(len(key)) if key else None
            if "provider_id" in updates:
                provider_id = updates.pop("provider_id")
                labels = dict(updates.get("labels", current["labels"]) or {})
                if provider_id is None:
                    labels.pop("provider_id", None)
                else:
                    labels["provider_id"] = str(provider_id)
                updates["labels"] = labels
            for name, value in updates.items():
                if name in PATCH_FIELDS:
                    assignments[name] = _column_value(name, value)
            changed = {k: v for k, v in assignments.items() if v != to_column(current.get(k))}
            if not changed:
                return server_read(current)
            changed["updated_at"] = now_aware()
            sets = ", ".join(f"{name} = ?" for name in changed)
            row = db.execute(
                f"UPDATE servers SET {sets} WHERE handle = ? RETURNING *", (*changed.values(), handle)
            ).fetchone()
            return server_read(from_row(row))
