"""The parts of GitHub REST payloads the scheduler reads.

Shapes follow GitHub's OpenAPI description (``minimal-repository``, ``content-file``,
``content-directory``, ``git-tree``, ``rate-limit-overview``, ``installation-token``). Every model
ignores fields it does not name, so GitHub adding fields never breaks a sync. Pure data: decoding
file content is an explicit call that raises ``ContentDecodeError`` on bad base64.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, SecretStr


class _GitHubModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ContentDecodeError(ValueError):
    """A content body's ``content`` is not the base64 it claims to be (or not the text expected)."""


class RepositoryOwner(_GitHubModel):
    login: str
    id: int
    type: str | None = None  # "Organization" | "User"


class MinimalRepository(_GitHubModel):
    """One item of ``GET /orgs/{org}/repos``."""

    id: int
    node_id: str | None = None
    name: str
    full_name: str
    owner: RepositoryOwner
    private: bool
    html_url: str
    description: str | None
    fork: bool = False
    # Not required by the schema; GitHub always sends them for org listings.
    default_branch: str | None = None
    visibility: str | None = None  # public | private | internal
    archived: bool = False
    disabled: bool = False
    language: str | None = None
    topics: list[str] = Field(default_factory=list)
    pushed_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ContentFile(_GitHubModel):
    """``GET /repos/{owner}/{repo}/readme`` and ``/contents/{path}`` when the path is a file."""

    type: Literal["file"]
    encoding: str  # "base64"; "none" (with empty content) for files of 1-100 MB
    content: str
    name: str
    path: str
    sha: str
    size: int
    download_url: str | None = None
    html_url: str | None = None

    def decoded(self) -> bytes:
        """The file's bytes. GitHub wraps base64 at 60 characters with real newlines."""
        if self.encoding != "base64":
            raise ContentDecodeError(f"{self.path}: content encoding is {self.encoding!r}, not base64")
        try:
            return base64.b64decode("".join(self.content.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ContentDecodeError(f"{self.path}: content is not valid base64 ({exc})") from exc

    def text(self) -> str:
        """The file as UTF-8 text; raises ``ContentDecodeError`` on bad base64 or bytes that are not UTF-8."""
        try:
            return self.decoded().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ContentDecodeError(f"{self.path}: content is not UTF-8 ({exc.reason} at byte {exc.start})") from exc


class ContentEntry(_GitHubModel):
    """One item of a directory listing."""

    type: Literal["file", "dir", "symlink", "submodule"]
    name: str
    path: str
    sha: str
    size: int
    download_url: str | None = None


class DirectoryListing(RootModel[list[ContentEntry]]):
    """``GET /repos/{owner}/{repo}/contents/{path}`` on a directory: a bare JSON array."""

    def files(self) -> list[ContentEntry]:
        return [entry for entry in self.root if entry.type == "file"]

    def dirs(self) -> list[ContentEntry]:
        return [entry for entry in self.root if entry.type == "dir"]


class GitTreeEntry(_GitHubModel):
    path: str
    mode: str
    type: str  # blob | tree | commit (a submodule)
    sha: str
    size: int | None = None  # blobs only


class GitTree(_GitHubModel):
    """``GET /repos/{owner}/{repo}/git/trees/{tree_sha}`` (``?recursive=1`` for the whole tree)."""

    sha: str
    tree: list[GitTreeEntry]
    truncated: bool  # True: the listing hit GitHub's limit; walk sub-trees one by one instead

    def blobs(self, prefix: str = "", suffix: str = "") -> list[GitTreeEntry]:
        return [e for e in self.tree if e.type == "blob" and e.path.startswith(prefix) and e.path.endswith(suffix)]


class RateLimit(_GitHubModel):
    limit: int
    remaining: int
    reset: int  # UTC epoch seconds
    used: int


class RateLimitOverview(_GitHubModel):
    """``GET /rate_limit``. The top-level ``rate`` is closing down (API version 2026-03-10); read ``core``."""

    resources: dict[str, RateLimit]
    rate: RateLimit | None = None

    @property
    def core(self) -> RateLimit:
        return self.resources["core"]


class RateLimitHeaders(_GitHubModel):
    """The ``X-RateLimit-*`` and ``Retry-After`` headers of any answer (absent ones are ``None``)."""

    limit: int | None = None
    remaining: int | None = None
    used: int | None = None
    reset: int | None = None  # UTC epoch seconds
    resource: str | None = None
    retry_after: int | None = None  # seconds; sent with secondary limits

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitHeaders:
        lowered = {key.lower(): value for key, value in headers.items()}
        names = ("limit", "remaining", "used", "reset", "resource")
        values = {name: lowered.get(f"x-ratelimit-{name}") for name in names}
        values["retry_after"] = lowered.get("retry-after")
        return cls.model_validate(values)


class BasicError(_GitHubModel):
    """GitHub's error body: 401, 403 (including rate limits), 404, 429."""

    message: str = ""
    documentation_url: str | None = None
    status: str | None = None

    @property
    def is_secondary_rate_limit(self) -> bool:
        return "secondary rate limit" in self.message.lower()


class InstallationToken(_GitHubModel):
    """``POST /app/installations/{installation_id}/access_tokens``; do not assume a token length."""

    token: SecretStr  # never logged
    expires_at: datetime
    permissions: dict[str, str] = Field(default_factory=dict)
    repository_selection: Literal["all", "selected"] | None = None
