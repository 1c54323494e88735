"""``provisioner:queue``: the message the platform's infra service consumes.

Wire-compatible with the platform's own ``ProvisionerMessage`` (QueueMeta + BaseMessage):
one stream entry, field ``data``, holding this model's JSON.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field


class ProvisionerMessage(BaseModel):
    version: Literal["1"] = "1"
    correlation_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))
    request_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    callback_stream: str | None = None
    server_handle: str
    force_reinstall: bool = False
    is_recovery: bool = False
