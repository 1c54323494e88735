"""Types every platform resource shares: UTC timestamps, handles, partial updates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from ..text import DESCRIPTION_MAX, NAME_MAX, URL_MAX, WritableLine, WritableText

#: the text fields of a project as the platform stores them (see ``contracts.text``)
Name = WritableLine(NAME_MAX)
Url = WritableLine(URL_MAX)
Description = WritableText(DESCRIPTION_MAX)


def _as_utc(value: datetime) -> datetime:
    # A naive timestamp from the platform's database is UTC; everything we hold is aware.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: A timestamp, always timezone-aware UTC once validated (naive input is taken as UTC).
UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]

#: A server's identity, e.g. ``vps-12345``; it appears in URL paths, so it is path-safe.
Handle = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]

#: A pinned public host key in OpenSSH one-line format: ``ssh-ed25519 AAAA... [comment]``.
HostKey = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9@.-]* [A-Za-z0-9+/]+={0,3}( \S.*)?$")]


def server_handle(provider_id: str | int, prefix: str = "vps") -> str:
    """The handle of a provider's server: ``vps-<provider id>``."""
    return f"{prefix}-{provider_id}"


class Patch(BaseModel):
    """Base of partial updates: every field is optional, and only the fields set are sent.

    Setting a field to null is allowed only for fields listed in ``nullable_fields``: for the
    others null is not a value but a mistake, and it is refused here rather than by the server.
    """

    model_config = ConfigDict(extra="forbid")
    nullable_fields: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required_columns(self):
        bad = sorted(f for f in self.model_fields_set if getattr(self, f) is None and f not in self.nullable_fields)
        if bad:
            raise ValueError(f"may not be null: {', '.join(bad)}")
        return self

    def changes(self) -> dict[str, Any]:
        """The JSON body of the PATCH: only the fields that were set."""
        return self.model_dump(mode="json", exclude_unset=True)


__all__ = [
    "Description",
    "Handle",
    "HostKey",
    "Name",
    "Patch",
    "Url",
    "UtcDatetime",
    "server_handle",
]
