"""The platform store's repositories: a project's code, found by GitHub id (``provider_repo_id``).

As on the platform: ``provider_repo_id`` is not unique (a by-provider-id lookup that finds two
is a server error), it is a 32-bit integer column, and the table has a ``status`` column
(active|missing) that no request or response carries (``set_repository_status`` for tests).
"""

from __future__ import annotations

import secrets
import sqlite3
import uuid
from typing import Any

from sandbox.platform.schema import REPOSITORY_COLUMNS, from_row, timestamp, to_column
from sandbox.platform.store_base import NotFound, StoreBase

_INT4_MAX = 2**31 - 1


class ServerFault(Exception):
    """What the platform answers with a 500 (a database error it does not handle)."""


def _public(row: sqlite3.Row) -> dict[str, Any]:
    out = from_row(row)
    return {name: out[name] for name in REPOSITORY_COLUMNS}


class RepositoriesStore(StoreBase):
    def create_repository(
        self,
        *,
        project_id: uuid.UUID | str,
        name: str,
        git_url: str,
        provider_repo_id: int | None = None,
        role: str = "primary",
        visibility: str = "private",
        is_managed: bool = True,
    ) -> dict[str, Any]:
        if provider_repo_id is not None and not -_INT4_MAX - 1 <= provider_repo_id <= _INT4_MAX:
            raise ServerFault("integer out of range")  # PostgreSQL's int4
        now = timestamp()
        with self._write() as db:
            seq = db.execute("SELECT ifnull(max(seq), 0) + 1 FROM repositories").fetchone()[0]
            try:
                row = db.execute(
                    "INSERT INTO repositories (id, project_id, name, git_url, provider_repo_id, role, visibility,"
                    " is_managed, acceptance_criteria, seq, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
                    (
                        f"repo-{secrets.token_hex(4)}",
                        str(uuid.UUID(str(project_id))),
                        name,
                        git_url,
                        provider_repo_id,
                        to_column(role),
                        to_column(visibility),
                        int(is_managed),
                        "- GET /health returns 200",
                        seq,
                        now,
                        now,
                    ),
                ).fetchone()
            except sqlite3.IntegrityError as exc:  # the project does not exist: a foreign-key error
                raise ServerFault(str(exc)) from None
        return _public(row)

    def list_repositories(
        self, *, project_id: uuid.UUID | str | None = None, role: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """The ``limit`` newest (of a project, of a role), newest first."""
        clauses, params = [], []
        if project_id is not None:
            clauses.append("project_id = ?")
            params.append(str(uuid.UUID(str(project_id))))
        if role:
            clauses.append("role = ?")
            params.append(role)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._read() as db:
            rows = db.execute(
                f"SELECT * FROM repositories{where} ORDER BY created_at DESC, seq DESC LIMIT ?", (*params, limit)
            ).fetchall()
        return [_public(r) for r in rows]

    def all_repositories(self) -> list[dict[str, Any]]:
        """Every repository, oldest first, with its hidden ``status`` (for tests and the demo)."""
        with self._read() as db:
            return [from_row(r) for r in db.execute("SELECT * FROM repositories ORDER BY seq")]

    def get_repository(self, repo_id: str) -> dict[str, Any]:
        with self._read() as db:
            row = db.execute("SELECT * FROM repositories WHERE id = ?", (repo_id,)).fetchone()
        if row is None:
            raise NotFound(f"Repository {repo_id} not found")
        return _public(row)

    def get_repository_by_provider_id(self, provider_repo_id: int) -> dict[str, Any]:
        with self._read() as db:
            rows = db.execute("SELECT * FROM repositories WHERE provider_repo_id = ?", (provider_repo_id,)).fetchall()
        if len(rows) > 1:
            raise ServerFault(f"{len(rows)} repositories have provider_repo_id={provider_repo_id}")
        if not rows:
            raise NotFound(f"Repository with provider_repo_id={provider_repo_id} not found")
        return _public(rows[0])

    def update_repository(self, repo_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Every field given is stored, a null included (a null where the column needs a value
        is a database error: ``ServerFault``)."""
        with self._write() as db:
            if db.execute("SELECT 1 FROM repositories WHERE id = ?", (repo_id,)).fetchone() is None:
                raise NotFound(f"Repository {repo_id} not found")
            if not changes:
                return _public(db.execute("SELECT * FROM repositories WHERE id = ?", (repo_id,)).fetchone())
            assignments = ", ".join(f"{name} = ?" for name in changes)
            try:
                row = db.execute(
                    f"UPDATE repositories SET {assignments}, updated_at = ? WHERE id = ? RETURNING *",
                    (*map(to_column, changes.values()), timestamp(), repo_id),
                ).fetchone()
            except sqlite3.IntegrityError as exc:
                raise ServerFault(str(exc)) from None
        return _public(row)

    def delete_repository(self, repo_id: str) -> dict[str, Any]:
        current = self.get_repository(repo_id)
        with self._write() as db:
            db.execute("DELETE FROM repositories WHERE id = ?", (repo_id,))
        return current

    def set_repository_status(self, repo_id: str, status: str) -> None:
        """The hidden ``status`` column (active|missing): no route writes it."""
        with self._write() as db:
            db.execute("UPDATE repositories SET status = ? WHERE id = ?", (status, repo_id))
