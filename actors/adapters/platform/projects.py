"""The platform client's methods for projects (``/api/projects/``) and users (``/api/users/``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable

from actors.adapters.platform.base import BaseClient, Listing, _values
from actors.adapters.platform.errors import PlatformAPIError, PlatformResponseError, PlatformUnavailable
from contracts.platform import (
    Project,
    ProjectCreate,
    ProjectStatus,
    ProjectUpdate,
    User,
)
from process.logs import get_logger

log = get_logger(__name__)


class ProjectsAPI(BaseClient):
    async def list_projects(
        self, status: ProjectStatus | Iterable[ProjectStatus] | None = None, *, owner_id: int | None = None
    ) -> Listing[Project]:
        """Every project (the platform does not page them); a status filter is one request per
        status (``?status=`` is a scalar there)."""
        params = {"owner_id": owner_id}
        statuses = _values(status)
        if statuses is None:
            return await self._list("/api/projects/", Project, params)
        return await self._list("/api/projects/", Project, params, each=("status", statuses))

    async def get_project(self, project_id: uuid.UUID | str) -> Project:
        return self._one(await self._request("GET", f"/api/projects/{uuid.UUID(str(project_id))}"), Project)

    async def find_project(self, project_id: uuid.UUID | str) -> Project | None:
        """The project, or None when the platform has none with that id (404)."""
        try:
            return await self.get_project(project_id)
        except PlatformAPIError as exc:
            if exc.status == 404:
                return None
            raise

    async def create_project(self, project: ProjectCreate, *, owner_telegram_id: int) -> Project:
        """Create a project owned by the user with that telegram id (``X-Telegram-ID``; the
        platform answers 400 without one and 404 for an unknown one).

        With a caller-chosen ``id`` it is made at most once: each POST is a single attempt, and
        after one whose answer was lost (5xx, timeout, a mangled body) the project is looked up
        by its id before another is sent; a 400 "exists" (a create a crash interrupted before
        its answer was read) returns the existing project too. Without an id, the usual retries."""
        body, headers = project.model_dump(mode="json"), {"X-Telegram-ID": str(int(owner_telegram_id))}
        if project.id is None:
            return self._one(await self._request("POST", "/api/projects/", body=body, headers=headers), Project)
        last: PlatformUnavailable | PlatformResponseError | None = None
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1:
                if (found := await self.find_project(project.id)) is not None:
                    log.info(
                        "platform_api.create_found_existing",
                        resource="project",
                        project_id=str(project.id),
                        attempts=attempt - 1,
                    )
                    return found
                await asyncio.sleep(self.backoff(attempt - 1))
            try:
                response = await self._request("POST", "/api/projects/", body=body, headers=headers, attempts=1)
            except PlatformAPIError as exc:
                if exc.status != 400 or (existing := await self.find_project(project.id)) is None:
                    raise
                log.info(
                    "platform_api.create_found_existing",
                    resource="project",
                    project_id=str(project.id),
                    attempts=attempt,
                )
                return existing
            except (PlatformUnavailable, PlatformResponseError) as exc:
                last = exc
                log.warning(
                    "platform_api.create_answer_lost",
                    resource="project",
                    project_id=str(project.id),
                    attempt=attempt,
                    error=str(exc)[:200],
                )
                continue
            try:
                return self._one(response, Project)
            except PlatformResponseError as exc:
                last = exc
        assert last is not None
        raise last

    async def update_project(self, project_id: uuid.UUID | str, changes: ProjectUpdate) -> Project:
        response = await self._request("PATCH", f"/api/projects/{uuid.UUID(str(project_id))}", body=changes.changes())
        return self._one(response, Project)

    # ---------------------------------------------------------------- users

    async def find_user_by_telegram(self, telegram_id: int) -> User | None:
        """The user with that telegram id (``GET /api/users/by-telegram/{id}``), None if none."""
        try:
            response = await self._request("GET", f"/api/users/by-telegram/{int(telegram_id)}")
        except PlatformAPIError as exc:
            if exc.status == 404:
                return None
            raise
        return self._one(response, User)
