"""github_sync's own rules, from the environment (see README, "github_sync"). How GitHub is
reached (org, credentials, rate-limit reserve) is the GitHub adapter's: ``GitHubSettings``."""

from __future__ import annotations

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from process.durations import Seconds


class GitHubSyncSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    #: complete listings in a row without a repository before its project is marked missing
    github_missing_after: int = Field(default=3, ge=1)
    #: how long a project stays ``missing`` before it is archived: a duration (``24h``, ``90m``, ``3600``)
    github_archive_after_s: Seconds = Field(
        default=24 * 3600, ge=0, validation_alias=AliasChoices("GITHUB_ARCHIVE_AFTER", "github_archive_after_s")
    )

    #: the telegram id of the user who owns the projects github_sync creates (sent as
    #: ``X-Telegram-ID``); without it new repositories are only reported as discovered
    platform_owner_telegram_id: int | None = Field(default=None, gt=0)

    @field_validator("platform_owner_telegram_id", mode="before")
    @classmethod
    def _unset_when_empty(cls, value):
        return None if isinstance(value, str) and not value.strip() else value
