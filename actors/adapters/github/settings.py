"""``GITHUB_*``: where the organisation is, how the scheduler authenticates (a token or a GitHub
App), and the listing's limits."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from actors.adapters.github.auth import AppAuth, Auth, TokenAuth
from actors.adapters.github.errors import (
    GitHubAuthError,
)
from actors.adapters.kit import settings_from_env
from process.misconfiguration import Problem


class GitHubSettings(BaseSettings):
    """``GITHUB_*`` environment. Auth: ``GITHUB_APP_ID`` (+ its key, and optionally the
    installation id, else looked up on the org) makes it a GitHub App, else ``GITHUB_TOKEN``."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")
    #: a task using GitHub is "not configured" while none of these is set (``TaskSpec.credentials``)
    CREDENTIALS: ClassVar[frozenset[str]] = frozenset({"GITHUB_TOKEN", "GITHUB_APP_ID"})

    github_api_url: str = "https://api.github.com"
    github_org: str = Field(min_length=1)
    github_token: SecretStr | None = None
    github_app_id: int | None = None
    github_app_installation_id: int | None = None
    github_app_private_key: SecretStr | None = None
    github_app_private_key_path: Path | None = None
    github_per_page: int = Field(default=100, ge=1, le=100)
    #: stop listing when this few rate-limit points remain (left for other users of the credential)
    github_rate_limit_reserve: int = Field(default=100, ge=0)
    #: the longest rate-limit wait sat out inside a run; longer ones stop the walk
    github_max_wait_s: float = Field(default=30.0, ge=0)
    github_timeout_s: float = Field(default=15.0, gt=0)
    github_max_attempts: int = Field(default=3, ge=1)

    @classmethod
    def from_env(cls) -> GitHubSettings:
        return settings_from_env(cls, "GitHub", GitHubAuthError)

    @classmethod
    def configuration_problems(cls, settings: GitHubSettings | None, needed_by: str) -> list[Problem]:
        """What ``auth()`` would say later, said at start so that one message lists everything:
        no credential at all, or an app key that does not load."""
        if settings is None:
            given = {name.upper() for name, value in os.environ.items() if value}
            if given & {"GITHUB_TOKEN", "GITHUB_APP_ID"}:
                return []
            return [Problem("GITHUB_TOKEN", "is not set, nor GITHUB_APP_ID", needed_by)]
        try:
            settings.auth()  # parses the app's key, if any
        except GitHubAuthError as exc:
            variable = "GITHUB_APP_PRIVATE_KEY" if settings.github_app_id is not None else "GITHUB_TOKEN"
            return [Problem(variable, str(exc), needed_by)]
        return []

    def auth(self, clock: Callable[[], float] = time.time) -> Auth:
        if self.github_app_id is not None:
            key: SecretStr | bytes | None = self.github_app_private_key
            if key is None and self.github_app_private_key_path is not None:
                try:
                    key = SecretStr(self.github_app_private_key_path.read_text())
                except OSError as exc:
                    raise GitHubAuthError(f"GITHUB_APP_PRIVATE_KEY_PATH is not readable: {exc.strerror}") from None
            if key is None:
                raise GitHubAuthError("GITHUB_APP_ID is set: set GITHUB_APP_PRIVATE_KEY or _PATH too")
            # Without an installation id, the app looks up its installation on GITHUB_ORG.
            return AppAuth(self.github_app_id, self.github_app_installation_id, key, org=self.github_org, clock=clock)
        if self.github_token is None:
            raise GitHubAuthError("GitHub not configured: set GITHUB_TOKEN, or GITHUB_APP_ID with its key")
        return TokenAuth(self.github_token)
