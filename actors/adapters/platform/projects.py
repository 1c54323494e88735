"""The platform client's methods for projects."""

from __future__ import annotations

from collections.abc import Iterable

from contracts.platform import (
    Project,
    ProjectCreate,
    ProjectStatus,
    ProjectUpdate,
)

from actors.adapters.platform.base import BaseClient, Listing, _values


class ProjectsAPI(BaseClient):

    async def list_projects(self, status: ProjectStatus | Iterable[ProjectStatus] | None = None) -> Listing[Project]:
        return self._many(await self._request("GET", "/api/projects", params={"status": _values(status)}), Project)

    async def get_project(self, project_id: int) -> Project:
        return self._one(await self._request("GET", f"/api/projects/{int(project_id)}"), Project)

    async def create_project(self, project: ProjectCreate) -> Project:
        return self._one(await self._request("POST", "/api/projects", body=project.model_dump(mode="json")), Project)

    async def update_project(self, project_id: int, changes: ProjectUpdate) -> Project:
        response = await self._request("PATCH", f"/api/projects/{int(project_id)}", body=changes.changes())
        return self._one(response, Project)

