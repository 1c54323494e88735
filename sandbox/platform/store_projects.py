"""The platform store's users and projects, as the platform keeps them: a project is a UUID
owned by a user, created with that user's telegram id."""

from __future__ import annotations

import re
import sqlite3
import uuid
from typing import Any

from sandbox.platform.schema import (
    PROJECT_COLUMNS,
    from_row,
    timestamp,
    to_column,
)
from sandbox.platform.store_base import NotFound, StoreBase

#: what the platform adds to a new project's config when the caller names no agent
DEFAULT_AGENT_TYPE = "claude"
_SLUG_MAX = 40


def project_slug(title: str, project_id: uuid.UUID) -> str:
    """Like the platform's: the title's slug, cut so that ``-<uuid hex>`` fits in 40 characters."""
    base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    prefix = "" if base and base[0].isalpha() else "p"
    room = max(_SLUG_MAX - len(project_id.hex) - 1 - (len(prefix) + (1 if base and prefix else 0)), 0)
    base = base[:room].strip("-")
    return "-".join(part for part in (prefix, base, project_id.hex) if part)


class ProjectExists(Exception):
    """Answered as 400, as the platform does for a create with an id it holds."""


class ProjectsStore(StoreBase):
    # ---------------------------------------------------------------- users

    def create_user(self, telegram_id: int, *, username: str | None = None, is_admin: bool = False) -> dict[str, Any]:
        now = timestamp()
        with self._write() as db:
            row = db.execute(
                "INSERT INTO users (telegram_id, username, is_admin, created_at, updated_at, last_seen) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING *",
                (telegram_id, username, int(is_admin), now, now, now),
            ).fetchone()
        return from_row(row)

    def get_user(self, user_id: int) -> dict[str, Any]:
        with self._read() as db:
            return self._one(db, "SELECT * FROM users WHERE id = ?", (user_id,), "User not found")

    def find_user_by_telegram(self, telegram_id: int) -> dict[str, Any] | None:
        with self._read() as db:
            row = db.execute("SELECT * FROM users WHERE telegram_id = ?", (telegram_id,)).fetchone()
        return from_row(row) if row else None

    def list_users(self) -> list[dict[str, Any]]:
        with self._read() as db:
            return [from_row(r) for r in db.execute("SELECT * FROM users ORDER BY id")]

    # ---------------------------------------------------------------- projects

    def list_projects(self, status: str | None = None, owner_id: int | None = None) -> list[dict[str, Any]]:
        """One status at most: the platform's filter is a scalar."""
        clauses, params = [], []
        if status:
            clauses.append("status = ?")
            params.append(status)
        if owner_id is not None:
            clauses.append("owner_id = ?")
            params.append(owner_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._read() as db:
            return [from_row(r) for r in db.execute(f"SELECT * FROM projects{where} ORDER BY created_at, id", params)]

    def get_project(self, project_id: uuid.UUID | str) -> dict[str, Any]:
        with self._read() as db:
            return self._one(
                db, "SELECT * FROM projects WHERE id = ?", (str(uuid.UUID(str(project_id))),), "Project not found"
            )

    def create_project(
        self,
        *,
        title: str,
        owner_id: int,
        initiating_run_id: str,
        status: str = "draft",
        config: dict | None = None,
        project_id: uuid.UUID | None = None,
    ) -> dict[str, Any]:
        """Insert a project (``ProjectExists`` for an id already held)."""
        project_id = project_id or uuid.uuid4()
        config = dict(config or {})
        config.setdefault("agent_type", DEFAULT_AGENT_TYPE)
        now = timestamp()
        values = {
            "id": str(project_id),
            "title": title,
            "slug": project_slug(title, project_id),
            "status": to_column(status),
            "config": config,
            "owner_id": owner_id,
            "project_spec": None,
            "initiating_run_id": initiating_run_id,
            "created_at": now,
            "updated_at": now,
        }
        sql = (
            f"INSERT INTO projects ({', '.join(PROJECT_COLUMNS)}) VALUES ({', '.join('?' * len(PROJECT_COLUMNS))}) "
            "RETURNING *"
        )
        with self._write() as db:
            if db.execute("SELECT 1 FROM projects WHERE id = ?", (str(project_id),)).fetchone():
                raise ProjectExists("Project with this ID already exists")
            try:
                row = db.execute(sql, [to_column(values[c]) for c in PROJECT_COLUMNS]).fetchone()
            except sqlite3.IntegrityError as exc:  # e.g. an owner that does not exist
                raise NotFound(f"cannot create project: {exc}") from None
        return from_row(row)

    def update_project(self, project_id: uuid.UUID | str, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply the fields given, as the platform does: a null is ignored, not stored."""
        changes = {name: value for name, value in changes.items() if value is not None}
        with self._write() as db:
            current = self._one(
                db, "SELECT * FROM projects WHERE id = ?", (str(uuid.UUID(str(project_id))),), "Project not found"
            )
            if "config" in changes and "agent_type" not in changes["config"] and "agent_type" in current["config"]:
                changes["config"] = {**changes["config"], "agent_type": current["config"]["agent_type"]}
            diff = {
                name: to_column(value)
                for name, value in changes.items()
                if to_column(value) != to_column(current[name])
            }
            if not diff:
                return current
            diff["updated_at"] = timestamp()
            assignments = ", ".join(f"{name} = ?" for name in diff)
            row = db.execute(
                f"UPDATE projects SET {assignments} WHERE id = ? RETURNING *", (*diff.values(), current["id"])
            ).fetchone()
        return from_row(row)
