"""The platform client's methods for repositories (``/api/repositories/``).

The platform pages repositories only with ``limit`` (1..200, newest first, no offset), so
``list_all_repositories`` reads one page of 200 and, if it is full, one page per project (8 at a
time); a project with 200 or more leaves the listing incomplete (``RepositoryListing.complete``).

``create_repository`` never sends a create twice blindly: a POST is sent once, and when its
answer is lost (5xx, timeout, a mangled body) the repository is looked up by its natural key
(``GET /api/repositories/by-provider-id/{id}``) before the create is sent again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from actors.adapters.platform.base import BaseClient, Listing
from actors.adapters.platform.errors import PlatformAPIError, PlatformResponseError, PlatformUnavailable
from contracts.platform import (
    REPOSITORIES_PAGE_MAX,
    Repository,
    RepositoryCreate,
    RepositoryRole,
    RepositoryUpdate,
)
from process.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class RepositoryListing(Listing[Repository]):
    """The repositories read, how many were skipped, whether that is all of them, and how many
    requests it took."""

    complete: bool = True
    requests: int = 1


class RepositoriesAPI(BaseClient):
    async def list_repositories(
        self,
        *,
        project_id: uuid.UUID | str | None = None,
        role: RepositoryRole | None = None,
        limit: int = REPOSITORIES_PAGE_MAX,
    ) -> Listing[Repository]:
        """One page: the ``limit`` newest repositories (of one project, of one role)."""
        if not 1 <= limit <= REPOSITORIES_PAGE_MAX:
            raise ValueError(f"limit must be 1..{REPOSITORIES_PAGE_MAX}")
        params = {
            "project_id": project_id and str(uuid.UUID(str(project_id))),
            "role": role and role.value,
            "limit": limit,
        }
        return await self._list("/api/repositories/", Repository, params)

    async def list_all_repositories(
        self, project_ids: Iterable[uuid.UUID], *, concurrency: int = 8
    ) -> RepositoryListing:
        """Every repository of those projects (the projects listed just before): one request
        while the platform holds fewer than 200, else one per project (``concurrency`` at once)."""
        first = await self.list_repositories()
        if len(first) + first.skipped < REPOSITORIES_PAGE_MAX:
            return RepositoryListing(first.items, first.skipped, complete=True, requests=1)
        gate = asyncio.Semaphore(concurrency)

        async def one(project_id: uuid.UUID) -> Listing[Repository]:
            async with gate:
                return await self.list_repositories(project_id=project_id)

        ids = list(project_ids)
        pages = await asyncio.gather(*(one(project_id) for project_id in ids))
        items: list[Repository] = []
        skipped, complete = 0, True
        for project_id, page in zip(ids, pages, strict=True):
            items.extend(page.items)
            skipped += page.skipped
            if len(page) + page.skipped >= REPOSITORIES_PAGE_MAX:
                complete = False
                log.warning(
                    "platform_api.repositories_truncated",
                    project_id=str(project_id),
                    limit=REPOSITORIES_PAGE_MAX,
                    note="a project with this many repositories is not listed whole",
                )
        return RepositoryListing(items, skipped, complete=complete, requests=1 + len(ids))

    async def get_repository(self, repo_id: str) -> Repository:
        return self._one(await self._request("GET", f"/api/repositories/{_path_id(repo_id)}"), Repository)

    async def find_repository_by_provider_id(self, provider_repo_id: int) -> Repository | None:
        """The repository with that GitHub id, or None (404)."""
        try:
            response = await self._request("GET", f"/api/repositories/by-provider-id/{int(provider_repo_id)}")
        except PlatformAPIError as exc:
            if exc.status == 404:
                return None
            raise
        return self._one(response, Repository)

    async def create_repository(self, repository: RepositoryCreate) -> Repository:
        """Create it, at most once: each POST is a single attempt, and after one whose answer
        was lost the repository is looked up by ``provider_repo_id`` before another is sent."""
        body = repository.model_dump(mode="json")
        last: PlatformUnavailable | PlatformResponseError | None = None
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1:
                found = await self.find_repository_by_provider_id(repository.provider_repo_id)
                if found is not None:
                    log.info(
                        "platform_api.create_found_existing",
                        resource="repository",
                        repo_id=found.id,
                        provider_repo_id=repository.provider_repo_id,
                        attempts=attempt - 1,
                    )
                    return found
                await asyncio.sleep(self.backoff(attempt - 1))
            try:
                return self._one(await self._request("POST", "/api/repositories/", body=body, attempts=1), Repository)
            except (PlatformUnavailable, PlatformResponseError) as exc:
                last = exc
                log.warning(
                    "platform_api.create_answer_lost",
                    resource="repository",
                    provider_repo_id=repository.provider_repo_id,
                    attempt=attempt,
                    error=str(exc)[:200],
                )
        assert last is not None
        raise last

    async def update_repository(self, repo_id: str, changes: RepositoryUpdate) -> Repository:
        response = await self._request("PATCH", f"/api/repositories/{_path_id(repo_id)}", body=changes.changes())
        return self._one(response, Repository)


def _path_id(repo_id: str) -> str:
    if not repo_id or "/" in repo_id or repo_id in (".", ".."):
        raise ValueError(f"not a repository id: {repo_id!r}")
    return repo_id
