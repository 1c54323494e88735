"""Projects: the platform's records of the organisation's repositories."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

from .common import Description, Name, Patch, Url, UtcDatetime


class ProjectStatus(StrEnum):
    DISCOVERED = "discovered"
    ACTIVE = "active"
    MISSING = "missing"  # not seen in the organisation for a while; archived after N misses
    ARCHIVED = "archived"


class Visibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    INTERNAL = "internal"


class Project(BaseModel):
    """A GitHub repository known to the platform; ``github_repo_id`` is its identity
    (names change on rename and transfer, the id does not)."""

    id: int
    name: str
    full_name: str
    github_repo_id: int
    description: str | None = None
    default_branch: str = "main"
    visibility: Visibility = Visibility.PUBLIC
    html_url: str
    pushed_at: UtcDatetime | None = None
    status: ProjectStatus
    created_at: UtcDatetime
    updated_at: UtcDatetime


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    full_name: Name
    github_repo_id: int = Field(gt=0)
    description: Description | None = None
    default_branch: Name = "main"
    visibility: Visibility = Visibility.PUBLIC
    html_url: Url
    pushed_at: UtcDatetime | None = None
    status: ProjectStatus = ProjectStatus.DISCOVERED


class ProjectUpdate(Patch):
    """The identity (``github_repo_id``) cannot change; everything else can."""

    nullable_fields: ClassVar[frozenset[str]] = frozenset({"description", "pushed_at"})

    name: Name | None = None
    full_name: Name | None = None
    description: Description | None = None
    default_branch: Name | None = None
    visibility: Visibility | None = None
    html_url: Url | None = None
    pushed_at: UtcDatetime | None = None
    status: ProjectStatus | None = None


__all__ = [
    "Project",
    "ProjectCreate",
    "ProjectStatus",
    "ProjectUpdate",
    "Visibility",
]
