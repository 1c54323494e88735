"""github_sync's own rules, from the environment (see README, "github_sync"). How GitHub is
reached (org, credentials, rate-limit reserve) is the GitHub adapter's: ``GitHubSettings``."""

from __future__ import annotations

import re

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)?\s*$")
_UNIT_S = {None: 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class GitHubSyncSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    #: complete listings in a row without a repository before its project is marked missing
    github_missing_after: int = Field(default=3, ge=1)
    #: how long a project stays ``missing`` before it is archived: ``24h``, ``90m``, ``3600`` (seconds)
    github_archive_after_s: int = Field(
        default=24 * 3600, ge=0, validation_alias=AliasChoices("GITHUB_ARCHIVE_AFTER", "github_archive_after_s")
    )

    #: the telegram id of the user who owns the projects github_sync creates (sent as
    #: ``X-Telegram-ID``); without it new repositories are only reported as discovered
    platform_owner_telegram_id: int | None = Field(default=None, gt=0)

    @field_validator("platform_owner_telegram_id", mode="before")
    @classmethod
    def _unset_when_empty(cls, value):
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("github_archive_after_s", mode="before")
    @classmethod
    def _duration(cls, value):
        if isinstance(value, str):
            match = _DURATION.match(value.lower())
            if not match:
                raise ValueError("a duration: seconds, or a number with s, m, h or d (e.g. 24h)")
            return int(match.group(1)) * _UNIT_S[match.group(2)]
        return value
