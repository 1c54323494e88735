"""server_sync's plan: pure functions from what was observed to the changes that make the
platform's Server records match the Time4VPS account. No I/O; every rule of the task lives here.

- identity is the provider id, in ``labels.provider_id`` (the platform's ``provider_id``) with
  ``labels.provider`` = ``time4vps``; a record without ``labels.provider`` but with a provider id
  of digits is ours too (the platform's own sync writes no provider name; a non-numeric id is
  another tool's), and so is one without either
  whose handle is ``vps-<id>`` (the natural key): both are given the labels. A new record's
  handle is ``vps-<id>``, an existing record keeps its own. Records of other providers are never
  touched. Labels are written whole (the platform replaces them), others' keys kept.
- ``public_ip`` follows the provider's primary IP, and so does ``host`` (where SSH connects) while
  it follows ``public_ip``: a record whose host was pointed elsewhere (a private address, a tunnel)
  keeps it. ``capacity_cpu``, ``capacity_ram_mb``, ``capacity_disk_mb`` (MB, as the provider
  gives them) and ``os_template`` come from the details; a value the provider does not give is
  left alone. The platform ignores ``capacity_disk_mb`` on create, and ``os_template`` is no
  create field: a create is followed by an update with them (``Create.after``).
- the allowlist (``TIME4VPS_MANAGED_SERVER_IDS``, or ``TIME4VPS_MANAGE_ALL``) decides
  ``is_managed``, fail-closed. A new managed server is ``pending_setup``; a new unmanaged one is
  ``reserved`` (never provisioned nor health-checked). A server taken off the list becomes
  unmanaged (``pending_setup`` -> ``reserved``); one put on it that was never provisioned
  (``reserved``/``discovered``) becomes ``pending_setup``. A provisioned server taken off the
  list keeps its status, unmanaged. Announcing is not the plan's: every managed ``pending_setup``
  server is announced by ``actors.tasks.announcements`` until it moves on.
- the provider's status maps to the platform's by ``PROVIDER_STATUSES`` (the one table): a status
  it imposes replaces the record's, which is remembered (``held``) and given back when the provider
  says ``Active`` again. An unknown provider status is reported and leaves the status alone.
- absent from ``missing_after`` complete listings in a row -> ``missing`` (the rule of
  ``actors.tasks.absence``; nothing deleted, one alert); the status it had is remembered and given
  back when it is listed again. A listing is complete when every item of it was validated.
- drift -> one update with only the changed fields; an unchanged server -> nothing at all.
- details are read (``details_wanted``) for servers without a record, missing ones, and those
  whose list ``synch_date`` differs from the one their details were last read for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from actors.tasks.absence import Absence, absence, remember
from contracts.platform import (
    LABEL_PROVIDER,
    LABEL_PROVIDER_ID,
    Server,
    ServerCreate,
    ServerStatus,
    ServerUpdate,
    server_handle,
)
from contracts.time4vps import ServerDetails, ServerListItem

PROVIDER = "time4vps"
#: the fields the details give, compared field by field
SPEC_FIELDS = ("capacity_cpu", "capacity_ram_mb", "capacity_disk_mb", "os_template")

#: Time4VPS's status (details ``status``, case-insensitive) -> the platform status it imposes;
#: None: the server runs, so the record's own lifecycle status (pending_setup, ready...) stands.
PROVIDER_STATUSES: Mapping[str, ServerStatus | None] = {
    "active": None,
    "pending": ServerStatus.DISCOVERED,  # ordered, not yet built: nothing to provision yet
    "suspended": ServerStatus.UNREACHABLE,  # switched off by the provider
    "fraud": ServerStatus.UNREACHABLE,  # suspended for review
    "terminated": ServerStatus.DECOMMISSIONED,
    "cancelled": ServerStatus.DECOMMISSIONED,
}
#: statuses server_sync itself sets; a remembered status is only given back from one of these
OWN_STATUSES = frozenset({ServerStatus.MISSING, *(s for s in PROVIDER_STATUSES.values() if s)})
#: statuses of a server never provisioned: the allowlist alone decides between them
NEVER_PROVISIONED = frozenset({ServerStatus.RESERVED, ServerStatus.DISCOVERED, ServerStatus.PENDING_SETUP})


@dataclass(frozen=True)
class Allowlist:
    """``TIME4VPS_MANAGED_SERVER_IDS``, read as the platform reads the same variable: positive
    Time4VPS ids separated by commas; unset or empty manages none. "All" is not spelled in it
    (the platform refuses to start on a ``*`` there) but by ``TIME4VPS_MANAGE_ALL=true``, which
    the platform does not read, and which goes with an empty list."""

    ids: frozenset[str] = frozenset()
    everything: bool = False

    @classmethod
    def parse(cls, text: str | None, manage_all: bool = False) -> Allowlist:
        tokens = [t.strip() for t in (text or "").split(",") if t.strip()]
        if "*" in tokens:
            raise ValueError(
                "'*' is not an id (the platform refuses it in this same variable): set "
                "TIME4VPS_MANAGE_ALL=true and leave TIME4VPS_MANAGED_SERVER_IDS empty to manage all"
            )
        bad = [t for t in tokens if not (t.isascii() and t.isdecimal() and int(t) > 0)]
        if bad:
            raise ValueError("Time4VPS server ids (positive integers) separated by commas")
        if manage_all and tokens:
            raise ValueError(
                "TIME4VPS_MANAGE_ALL=true manages every server: leave TIME4VPS_MANAGED_SERVER_IDS "
                "empty, or list the ids and drop TIME4VPS_MANAGE_ALL"
            )
        return cls(frozenset(str(int(t)) for t in tokens), everything=manage_all)

    def manages(self, provider_id: str) -> bool:
        return self.everything or provider_id in self.ids


@dataclass(frozen=True)
class Memory:
    """What Redis remembers between runs, by provider id."""

    #: the list ``synch_date`` the server's details were last read for
    seen: Mapping[str, str] = field(default_factory=dict)
    #: complete listings in a row without the server
    misses: Mapping[str, int] = field(default_factory=dict)
    #: the status the record had before server_sync set one of its own
    held: Mapping[str, ServerStatus] = field(default_factory=dict)


@dataclass(frozen=True)
class Observed:
    servers: Sequence[ServerListItem]
    #: every item of the listing validated
    complete: bool
    records: Sequence[Server]
    #: details read this run, by provider id
    details: Mapping[str, ServerDetails] = field(default_factory=dict)
    memory: Memory = field(default_factory=Memory)


@dataclass(frozen=True)
class Rules:
    allowlist: Allowlist = field(default_factory=Allowlist)
    missing_after: int = 3


@dataclass(frozen=True)
class Create:
    provider_id: str
    server: ServerCreate
    #: what the create cannot set (``capacity_disk_mb``, ``os_template``), written right after it
    after: ServerUpdate | None = None


@dataclass(frozen=True)
class Update:
    handle: str
    provider_id: str
    previous: ServerStatus
    changes: ServerUpdate
    #: the counters this update moves once written (``missing``, ``restored``, ``unmanaged``...)
    events: tuple[str, ...] = ()
    misses: int = 0  # the absence count that made it missing


@dataclass(frozen=True)
class Plan:
    creates: tuple[Create, ...] = ()
    updates: tuple[Update, ...] = ()
    #: provider id -> new absence count; 0 forgets it
    misses: Mapping[str, int] = field(default_factory=dict)
    #: provider id -> the status to remember; None forgets it
    held: Mapping[str, ServerStatus | None] = field(default_factory=dict)
    #: provider id -> the ``synch_date`` its details were read for this run; None forgets it
    seen: Mapping[str, str | None] = field(default_factory=dict)
    #: listed servers whose record the platform would refuse (no address, values out of range)
    rejected: tuple[str, ...] = ()
    #: (provider id, status) for provider statuses not in PROVIDER_STATUSES
    unknown_statuses: tuple[tuple[str, str], ...] = ()
    other_providers: int = 0

    @property
    def empty(self) -> bool:
        return not (self.creates or self.updates or self.misses or self.held or self.seen)


def synch_key(item: ServerListItem) -> str:
    return item.synch_date.isoformat() if item.synch_date else ""


def _time4vps_id(text: str) -> str | None:
    """``text`` as a Time4VPS server id (a positive decimal, as the platform's own policy reads one)."""
    return str(int(text)) if text.isascii() and text.isdecimal() and int(text) > 0 else None


def _handle_id(handle: str) -> str | None:
    """The provider id a ``vps-<id>`` handle names, if it names one."""
    prefix, _, rest = handle.partition("-")
    return _time4vps_id(rest) if prefix == "vps" else None


def ours(records: Iterable[Server]) -> dict[str, Server]:
    """The Time4VPS records by provider id: labelled ``provider: time4vps``, or with no provider name
    and a provider id that is a Time4VPS id (digits: the platform's own sync writes no name; any
    other id is someone else's), else unlabelled with a ``vps-<id>`` handle. A labelled record wins over an
    adopted one, and the first over a later one, should the platform hold two."""
    by_id: dict[str, Server] = {}
    adopted: dict[str, Server] = {}
    for record in records:
        provider = record.provider
        if provider is not None and provider.lower() != PROVIDER:
            continue
        if record.provider_id:
            pid = record.provider_id.strip()
            if provider is not None or _time4vps_id(pid) is not None:  # unnamed: only a Time4VPS-shaped id
                by_id.setdefault(pid, record)
        elif provider is None and (pid := _handle_id(record.handle)) is not None:
            adopted.setdefault(pid, record)
    return {**adopted, **by_id}


def labels_for(record: Server | None, pid: str) -> dict:
    """The labels a record of ours carries: its own, with the provider's name and id."""
    return {**(record.labels if record else {}), LABEL_PROVIDER: PROVIDER, LABEL_PROVIDER_ID: pid}


def details_wanted(servers: Sequence[ServerListItem], records: Sequence[Server], seen: Mapping[str, str]) -> list[str]:
    """Provider ids whose details to read, servers without a record first."""
    by_id = ours(records)
    new: list[str] = []
    changed: list[str] = []
    judged: set[str] = set()
    for item in servers:
        pid, record = str(item.server_id), by_id.get(str(item.server_id))
        if pid in judged:
            continue
        judged.add(pid)
        if record is None:
            new.append(pid)
        elif record.status is ServerStatus.MISSING or seen.get(pid) != synch_key(item):
            changed.append(pid)
    return new + changed


def specs_of(details: ServerDetails) -> dict:
    """The record's fields the details give (a value they do not give is not in it)."""
    values = {
        "capacity_cpu": details.cpu_cores,
        "capacity_ram_mb": details.ram_limit,
        "capacity_disk_mb": details.disk_limit,
        "os_template": (details.os or "").strip()[:100] or None,
    }
    return {name: value for name, value in values.items() if value is not None}


def provider_status(details: ServerDetails | None) -> tuple[bool, ServerStatus | None]:
    """(whether the provider's status is known, the platform status it imposes)."""
    if details is None or details.status is None:
        return False, None
    key = details.status.strip().lower()
    return key in PROVIDER_STATUSES, PROVIDER_STATUSES.get(key)


def allowed(status: ServerStatus, managed: bool) -> ServerStatus:
    """A never-provisioned status as the allowlist wants it; any other status stands."""
    if status not in NEVER_PROVISIONED:
        return status
    return ServerStatus.PENDING_SETUP if managed else ServerStatus.RESERVED


def plan_sync(observed: Observed, rules: Rules = Rules()) -> Plan:
    """The changes that make the Time4VPS records match the listing. No I/O."""
    memory = observed.memory
    listed: dict[str, ServerListItem] = {}
    for item in observed.servers:
        listed.setdefault(str(item.server_id), item)
    records = ours(observed.records)
    out = _Builder()
    for pid, item in listed.items():
        try:
            _listed(pid, item, records.get(pid), observed, rules, out)
        except (ValidationError, NoAddress):
            out.rejected.append(pid)
        before = memory.misses.get(pid, 0)
        remember(
            out.misses,
            pid,
            before,
            absence(before, listed=True, complete=observed.complete, missing_after=rules.missing_after),
        )
    for pid, record in records.items():
        if pid not in listed:
            _absent(pid, record, memory, rules, out, observed.complete)
    for pid in memory.misses.keys() | memory.held.keys() | memory.seen.keys():
        if pid not in listed and pid not in records:  # a server that left for good: forget it
            out.misses.update({pid: 0} if pid in memory.misses else {})
            out.held.update({pid: None} if pid in memory.held else {})
            out.seen.update({pid: None} if pid in memory.seen else {})
    return Plan(
        tuple(out.creates),
        tuple(out.updates),
        out.misses,
        out.held,
        out.seen,
        tuple(out.rejected),
        tuple(out.unknown),
        other_providers=len(observed.records) - len(records),
    )


@dataclass
class _Builder:
    creates: list[Create] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    misses: dict[str, int] = field(default_factory=dict)
    held: dict[str, ServerStatus | None] = field(default_factory=dict)
    seen: dict[str, str | None] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)


def _listed(
    pid: str, item: ServerListItem, record: Server | None, observed: Observed, rules: Rules, out: _Builder
) -> None:
    managed = rules.allowlist.manages(pid)
    details = observed.details.get(pid)
    known, imposed = provider_status(details)
    if details is not None and details.status is not None and not known:
        out.unknown.append((pid, details.status))
    held = observed.memory.held.get(pid)
    if held is ServerStatus.MISSING:
        held = None  # never a status to give back: a memory written by mistake is not obeyed
    ip = item.ip or (details.ip if details else None)

    if record is None:
        base = allowed(ServerStatus.DISCOVERED, managed)
        status = imposed or base
        if ip is None:
            raise NoAddress(pid)
        specs = specs_of(details) if details else {}
        at_create = {k: v for k, v in specs.items() if k in ("capacity_cpu", "capacity_ram_mb")}
        after = {k: v for k, v in specs.items() if k not in at_create}
        out.creates.append(
            Create(
                pid,
                ServerCreate(
                    handle=server_handle(pid),
                    host=ip,
                    public_ip=ip,
                    is_managed=managed,
                    status=status,
                    labels=labels_for(None, pid),
                    **at_create,
                ),
                ServerUpdate(**after) if after else None,
            )
        )
        _remember(out, pid, observed.memory, base if status != base else None, details, item)
        return

    current = record.status
    own = held is not None and current in OWN_STATUSES  # the record's status is one we set
    if current is ServerStatus.MISSING:
        base = held or allowed(ServerStatus.DISCOVERED, managed)  # without a memory: as a new server
    else:
        base = held if own else current
    base = allowed(base, managed)
    if known:
        status = imposed or base
    elif own and current is not ServerStatus.MISSING:
        status = current  # no news from the provider: the status it imposed stands
    else:
        status = base
    changes: dict = {}
    if managed != record.is_managed:
        changes["is_managed"] = managed
    if status != current:
        changes["status"] = status
    if ip and ip != record.public_ip:
        changes["public_ip"] = ip
        if record.host == record.public_ip:
            changes["host"] = ip
    if details is not None:
        changes.update({k: v for k, v in specs_of(details).items() if getattr(record, k) != v})
    if record.labels.get(LABEL_PROVIDER) != PROVIDER or record.labels.get(LABEL_PROVIDER_ID) != pid:
        changes["labels"] = labels_for(record, pid)
    if changes:
        out.updates.append(
            Update(record.handle, pid, current, ServerUpdate(**changes), events=_events(record, changes, managed))
        )
    _remember(out, pid, observed.memory, base if status != base else None, details, item)


def _remember(
    out: _Builder,
    pid: str,
    memory: Memory,
    held: ServerStatus | None,
    details: ServerDetails | None,
    item: ServerListItem,
) -> None:
    if held != memory.held.get(pid):
        out.held[pid] = held
    if details is not None and memory.seen.get(pid) != synch_key(item):
        out.seen[pid] = synch_key(item)


def _events(record: Server, changes: dict, managed: bool) -> tuple[str, ...]:
    events = []
    if record.status is ServerStatus.MISSING and "status" in changes:
        events.append("restored")
    elif changes.get("status") in OWN_STATUSES:
        events.append("provider_status")
    if "is_managed" in changes:
        events.append("managed" if managed else "unmanaged")
    if "public_ip" in changes:
        events.append("ip_changed")
    if changes.keys() & set(SPEC_FIELDS):
        events.append("specs_changed")
    if "labels" in changes:
        events.append("labelled")
    return tuple(events)


def _absent(pid: str, record: Server, memory: Memory, rules: Rules, out: _Builder, complete: bool) -> None:
    """One more listing without the server."""
    before = memory.misses.get(pid, 0)
    if record.status in (ServerStatus.MISSING, ServerStatus.DECOMMISSIONED):
        after = Absence(0)  # its status says it already: nothing to count
    else:
        after = absence(before, listed=False, complete=complete, missing_after=rules.missing_after)
    remember(out.misses, pid, before, after)
    if not after.missing:
        return
    out.updates.append(
        Update(
            record.handle,
            pid,
            record.status,
            ServerUpdate(status=ServerStatus.MISSING),
            events=("missing",),
            misses=after.count,
        )
    )
    held = memory.held.get(pid)
    if held is None or record.status not in OWN_STATUSES:
        out.held[pid] = record.status  # what it gets back when it is listed again


class NoAddress(ValueError):
    """A new server the provider reports no IP address for: there is nothing to connect to yet."""
