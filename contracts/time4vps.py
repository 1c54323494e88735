"""The parts of Time4VPS user-API payloads the scheduler reads.

``GET /server`` answers a JSON array of ``ServerListItem``; ``GET /server/{id}`` answers one
``ServerDetails``, which carries no id (the caller keeps the one from the URL). Dates come in two
formats: ``2017-01-31 15:35:00`` (no zone; kept naive because the provider does not state one) in
the list, ISO 8601 with an offset in the details. Errors are ``{"error": [reason, "unauthorized"]}``
with HTTP 401 for all three reasons, so only ``Time4VpsError.kind`` tells them apart.

Hostile values are refused here, item by item: an id must be a positive whole number (an integer or
a string of digits; never a boolean), an address must parse as an IPv4 or IPv6 address (``""`` and
``null`` mean none), and the quantities the platform stores (cores, RAM, disk) are whole numbers in
a plausible range, so nothing out of range reaches a database column. Texts (labels, domains, the
OS name) are kept verbatim: they are data, never put in a command or markup.
"""

from __future__ import annotations

import ipaddress
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

#: Placeholders that mean "no date" in billing systems of this kind.
_NO_DATE = {"", "0000-00-00", "0000-00-00 00:00:00"}


def _whole_number(value: Any) -> Any:
    # pydantic would read True as 1: a boolean where a number belongs is a malformed item
    if isinstance(value, bool):
        raise ValueError("a number, not a boolean")
    return value


def _ip_address(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ValueError("an IP address is a string")
    return str(ipaddress.ip_address(value.strip()))  # raises ValueError on anything else


#: A provider id: positive, whole, and small enough for any database column.
ServerId = Annotated[int, BeforeValidator(_whole_number), Field(gt=0, le=2**53)]
#: An address as the provider reports it, normalised (``"1.2.3.4"``); None when it reports none.
IpAddress = Annotated[str | None, BeforeValidator(_ip_address)]
#: A count or size (cores, MB): whole, non-negative, at most 2**40 (a petabyte in MB).
Quantity = Annotated[int | None, BeforeValidator(_whole_number), Field(ge=0, le=2**40)]


class _Time4VpsModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    @field_validator("date_created", "synch_date", mode="before", check_fields=False)
    @classmethod
    def _empty_date_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip() in _NO_DATE else value


class ServerListItem(_Time4VpsModel):
    """One element of ``GET /server`` (only active servers are listed)."""

    server_id: ServerId  # an integer here, though other endpoints send ids as strings
    domain: str
    ip: IpAddress = None
    label: str | None = None
    type: str | None = None  # virtualisation, e.g. "KVM", "OpenVZ"
    date_created: date | None = None
    synch_date: datetime | None = None


class ServerComponent(_Time4VpsModel):
    id: int
    name: str
    selected: bool = False


class ServerDetails(_Time4VpsModel):
    """``GET /server/{id}``. Units of ram_*, disk_* and bw_* are not stated (MB in practice)."""

    domain: str | None = None
    label: str | None = None
    status: str | None = None  # "Active", ...
    ip: IpAddress = None
    additional_ip: list[str] = Field(default_factory=list)
    os: str | None = None  # may be empty
    package_id: int | None = None
    cpu_frequency: int | None = None
    cpu_cores: Quantity = None
    ram_limit: Quantity = None
    ram_used: int | None = None
    disk_limit: Quantity = None
    disk_usage: int | None = None
    bw_limit: int | None = None
    bw_in: int | None = None
    bw_out: int | None = None
    dns_servers: list[str] | None = None
    components: list[ServerComponent] = Field(default_factory=list)
    active_task: Any = None  # truthy while the provider runs a task on the server
    last_tasks: Any = None
    synch_date: datetime | None = None

    @field_validator("additional_ip", "components", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @property
    def busy(self) -> bool:
        return bool(self.active_task)


class Time4VpsErrorKind(StrEnum):
    WRONG_LOGIN = "wronglogin"  # bad username or password
    IP_NOT_ALLOWED = "ipnotallowed"  # right login, caller's address not on the API allowlist
    THROTTLED = "wait_x_between_action"  # too fast; wait ``wait_seconds``
    OTHER = "other"


class Time4VpsError(BaseModel):
    """``{"error": [reason, "unauthorized"]}``; reason is a string or ``["wait_x_between_action", seconds]``."""

    model_config = ConfigDict(frozen=True)

    error: list[str | list[str | int]] = Field(min_length=1)

    @property
    def reason(self) -> str:
        first = self.error[0]
        return str(first[0]) if isinstance(first, list) and first else str(first)

    @property
    def kind(self) -> Time4VpsErrorKind:
        try:
            return Time4VpsErrorKind(self.reason)
        except ValueError:
            return Time4VpsErrorKind.OTHER

    @property
    def wait_seconds(self) -> int | None:
        first = self.error[0]
        if self.kind is Time4VpsErrorKind.THROTTLED and isinstance(first, list) and len(first) > 1:
            try:
                return max(0, int(first[1]))
            except ValueError:  # "wait_x_between_action" with no number we can read
                return None
        return None


def parse_error(body: Any) -> Time4VpsError | None:
    """The error in a decoded body, or ``None`` when it is not an error body.

    Time4VPS's own library ignores the HTTP status and looks only for an ``error`` key; so do we.
    """
    if not isinstance(body, dict) or "error" not in body:
        return None
    try:
        return Time4VpsError.model_validate(body)
    except ValidationError:
        return Time4VpsError(error=[str(body["error"])])
