"""The platform store's projects tables and their operations."""


from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from contracts.platform import (
    ProjectCreate,
    ProjectStatus,
    ProjectUpdate,
)

from sandbox.platform.schema import (
    PROJECT_COLUMNS,
    from_row,
    in_clause,
    timestamp,
    to_column,
    where_clause,
)
from sandbox.platform.store_base import Conflict, StoreBase


class ProjectsStore(StoreBase):

    def list_projects(self, statuses: list[ProjectStatus] | None = None) -> list[dict[str, Any]]:
        where, params = where_clause(in_clause("status", statuses))
        with self._read() as db:
            return [from_row(r) for r in db.execute(f"SELECT * FROM projects{where} ORDER BY id", params)]

    def get_project(self, project_id: int) -> dict[str, Any]:
        with self._read() as db:
            return self._one(db, "SELECT * FROM projects WHERE id = ?", (project_id,),
                             f"project {project_id} not found")

    def create_project(self, project: ProjectCreate) -> dict[str, Any]:
        return self.bulk_insert_projects([project])[0]

    def bulk_insert_projects(self, projects: Iterable[ProjectCreate]) -> list[dict[str, Any]]:
        """Insert many in one transaction; all or nothing (409 on a duplicate github_repo_id)."""
        now = timestamp()
        columns = [c for c in PROJECT_COLUMNS if c != "id"]
        sql = (f"INSERT INTO projects ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
               "RETURNING *")
        out = []
        with self._write() as db:
            for project in projects:
                values = {**project.model_dump(), "created_at": now, "updated_at": now}
                try:
                    row = db.execute(sql, [to_column(values[c]) for c in columns]).fetchone()
                except sqlite3.IntegrityError:
                    raise Conflict(f"a project with github_repo_id {project.github_repo_id} exists") from None
                out.append(from_row(row))
        return out

    def update_project(self, project_id: int, changes: ProjectUpdate) -> dict[str, Any]:
        with self._write() as db:
            current = self._one(db, "SELECT * FROM projects WHERE id = ?", (project_id,),
                                f"project {project_id} not found")
            return self._patch(db, "projects", "id", current, changes)
