"""Projects, their repositories, and the users who own them: the platform's ``/api/projects/``,
``/api/repositories/`` and ``/api/users/`` (codegen_orchestrator ``services/api``, head 4d764651).

- A Project is a UUID with a ``title`` and a lifecycle ``status`` (draft|active|paused|archived);
  creating one needs the owner's telegram id in ``X-Telegram-ID`` and an ``initiating_run_id``.
  The platform forbids unknown fields on ProjectCreate/ProjectUpdate (422), as we do.
- A project's code is a Repository: ``provider_repo_id`` (GitHub's numeric repository id, the
  natural key: ``GET /api/repositories/by-provider-id/{id}``), ``name``, ``git_url``, ``role``,
  ``visibility`` (public|private only), ``is_managed``. The platform ignores unknown fields on
  repositories; our write models still forbid them.
- A User is found by telegram id (``GET /api/users/by-telegram/{telegram_id}``).

Read models ignore fields they do not know; enums are strict on our side, so a listed item
with a value we do not understand is skipped (logged, counted) rather than misread.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ..text import WritableLine
from .common import Name, Patch, UtcDatetime

#: ``repositories.git_url`` is a ``varchar(512)`` on the platform
GitUrl = WritableLine(512)

#: the platform stores ``provider_repo_id`` in a PostgreSQL ``integer``: a larger id would be a
#: database error (500) there, so it is refused here
PROVIDER_REPO_ID_MAX = 2**31 - 1
ProviderRepoId = Annotated[int, Field(gt=0, le=PROVIDER_REPO_ID_MAX)]
#: ``ProjectCreate.initiating_run_id``: 1 to 64 characters
RunId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]


class ProjectStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class Project(BaseModel):
    """``ProjectRead``."""

    id: uuid.UUID
    title: str
    slug: str
    status: ProjectStatus = ProjectStatus.DRAFT
    config: dict[str, Any] = Field(default_factory=dict)
    owner_id: int
    project_spec: dict[str, Any] | None = None
    initiating_run_id: str | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime | None = None


class ProjectCreate(BaseModel):
    """``POST /api/projects/`` (with ``X-Telegram-ID`` of the owner). ``id`` may be chosen by
    the caller: a create retried with the same id cannot make a second project (the platform
    answers 400 "already exists")."""

    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID | None = None
    title: Name
    status: ProjectStatus = ProjectStatus.DRAFT
    config: dict[str, Any] = Field(default_factory=dict)
    initiating_run_id: RunId


class ProjectUpdate(Patch):
    """``PATCH /api/projects/{id}``: the platform applies ``title``, ``status``, ``config`` and
    ``project_spec``; a null is ignored there, so it is refused here (``Patch``)."""

    title: Name | None = None
    status: ProjectStatus | None = None
    config: dict[str, Any] | None = None
    project_spec: dict[str, Any] | None = None


class RepositoryRole(StrEnum):
    PRIMARY = "primary"
    DEPENDENCY = "dependency"


class RepositoryVisibility(StrEnum):
    """The platform knows two; GitHub's ``internal`` is mapped by the task that writes it."""

    PUBLIC = "public"
    PRIVATE = "private"


class Repository(BaseModel):
    """``RepositoryRead``. ``id`` is the platform's own (``repo-<hex>``); ``provider_repo_id``
    is GitHub's, null for a repository that is not on a provider."""

    id: str
    project_id: uuid.UUID
    name: str
    git_url: str
    provider_repo_id: int | None
    role: RepositoryRole
    visibility: RepositoryVisibility
    is_managed: bool
    acceptance_criteria: str | None = None
    bot_username: str | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime | None = None


class RepositoryCreate(BaseModel):
    """``POST /api/repositories/``."""

    model_config = ConfigDict(extra="forbid")

    project_id: uuid.UUID
    name: Name
    git_url: GitUrl
    provider_repo_id: ProviderRepoId
    role: RepositoryRole = RepositoryRole.PRIMARY
    visibility: RepositoryVisibility = RepositoryVisibility.PRIVATE
    is_managed: bool = True


class RepositoryUpdate(Patch):
    """``PATCH /api/repositories/{id}``: the fields github_sync may change. (The platform also
    takes ``provider_repo_id``, ``acceptance_criteria`` and ``bot_username``: not ours to write.)"""

    name: Name | None = None
    git_url: GitUrl | None = None
    role: RepositoryRole | None = None
    visibility: RepositoryVisibility | None = None
    is_managed: bool | None = None


class User(BaseModel):
    """``UserRead``: who owns projects (and whose documents RAG indexes)."""

    id: int
    telegram_id: int
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_admin: bool = False
    created_at: UtcDatetime
    updated_at: UtcDatetime | None = None
    last_seen: UtcDatetime | None = None


#: repositories per ``GET /api/repositories/`` answer at most (the platform's ``limit`` bound)
REPOSITORIES_PAGE_MAX = 200

__all__ = [
    "PROVIDER_REPO_ID_MAX",
    "REPOSITORIES_PAGE_MAX",
    "Project",
    "ProjectCreate",
    "ProjectStatus",
    "ProjectUpdate",
    "ProviderRepoId",
    "Repository",
    "RepositoryCreate",
    "RepositoryRole",
    "RepositoryUpdate",
    "RepositoryVisibility",
    "RunId",
    "User",
]
