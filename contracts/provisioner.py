"""``provisioner:queue``: the message the platform's infra service consumes.

Wire-compatible with the platform's own ``ProvisionerMessage`` (QueueMeta + BaseMessage):
one stream entry, field ``data``, holding this model's JSON. Stricter than the platform's on
our side, so that nothing it could misread leaves us: the handle is a Server handle (non-empty,
path-safe, ``contracts.platform.Handle``), timestamps must carry a timezone and are kept in UTC,
the version is "1", ids are non-empty, and unknown fields are refused (a typo is an error here,
not a silently dropped field there).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from .platform import Handle


class ProvisionerMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal["1"] = "1"
    correlation_id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1)
    timestamp: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    request_id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1)
    callback_stream: str | None = Field(default=None, min_length=1)
    server_handle: Handle
    force_reinstall: bool = False
    is_recovery: bool = False

    @field_validator("timestamp")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)
