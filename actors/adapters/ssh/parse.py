"""Strict, pure parsers of the health probe's command output. No I/O.

Each parser takes what one command gave back (stdout, stderr, exit status: ``None`` when the
channel closed without one) and returns typed facts plus ``Finding``s. Output that cannot be
read is a finding (``unparsable_output``), never an exception: a host controls its output, so
anything may come back — huge lines, ANSI escapes, binary, negative numbers, missing columns.
Lines longer than ``MAX_LINE`` are refused before any regular expression sees them.

The formats are those the real tools print (see ``sandbox/ssh/commands.py`` for samples):
GNU coreutils / BusyBox ``df -P``, Docker CLI ``docker info --format '{{json .ServerVersion}}'``
and ``docker ps --all --no-trunc --format '{{json .}}'`` (one JSON object per line), and Linux's
``/proc/loadavg``, ``/proc/uptime`` and ``/proc/meminfo`` (read with ``cat``).
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from contracts.health import ContainerIssue, DiskUsage, DockerState, Finding, FindingKind, LoadAverage, MemoryUsage

MAX_LINE = 8192
MAX_LINES = 10_000
EXCERPT = 120

_DF_HEADER = re.compile(r"^Filesystem\s+(1024|1K)-blocks\s+Used\s+Available\s+(Capacity|Use%)\s+Mounted on\s*$")
# The filesystem name and the mount point may hold spaces; the four numbers may not.
_DF_ROW = re.compile(
    r"^(?P<fs>\S.*?)\s+(?P<size>\d{1,20})\s+(?P<used>\d{1,20})\s+(?P<avail>\d{1,20})\s+"
    r"(?P<cap>\d{1,3}%|-)\s+(?P<mount>/.*)$"
)
_DF_MISSING = re.compile(r"^df: (?P<path>.+?): No such file or directory$")
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+~_-]{0,63}$")
_DAEMON_DOWN = ("Cannot connect to the Docker daemon", "Is the docker daemon running", "error during connect")
_DENIED = "permission denied while trying to connect to the Docker daemon"
_NOT_FOUND = re.compile(r"(?:^|[\s:])(?:docker|df): (?:command )?not found|command not found: (?:docker|df)\b")
_CONTAINER_STATES = {"created", "running", "paused", "restarting", "removing", "exited", "dead"}
_PROBLEM_STATES = {"restarting", "dead"}


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """A short, printable rendering of untrusted text for a finding or a log line."""
    clean = "".join(c if c.isprintable() else "?" for c in text[: limit + 1].replace("\n", " | "))
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def finding(kind: FindingKind, message: str, subject: str | None = None) -> Finding:
    """A finding whose untrusted text is cut and made printable."""
    return Finding(kind=kind, message=excerpt(message, 480), subject=subject and excerpt(subject, 200))


def _lines(text: str, subject: str) -> tuple[list[str], Finding | None]:
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        return [], finding(FindingKind.UNPARSABLE_OUTPUT, f"{len(lines)} lines of output", subject)
    longest = max((len(line) for line in lines), default=0)
    if longest > MAX_LINE:
        return [], finding(FindingKind.UNPARSABLE_OUTPUT, f"a line of {longest} characters", subject)
    return lines, None


def _command_failed(subject: str, stderr: str, exit_status: int | None) -> Finding:
    status = "no exit status" if exit_status is None else f"exit status {exit_status}"
    detail = excerpt(stderr.strip()) if stderr.strip() else "no message"
    kind = FindingKind.COMMAND_FAILED
    if exit_status == 127 or _NOT_FOUND.search(stderr):
        return finding(kind, f"{subject} is not installed ({status}: {detail})", subject)
    return finding(kind, f"{subject} failed ({status}): {detail}", subject)


# --------------------------------------------------------------------------- df -P


@dataclass
class DfResult:
    disks: list[DiskUsage] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def parse_df(stdout: str, stderr: str, exit_status: int | None, paths: Sequence[str] = ("/",)) -> DfResult:
    """``df -P -k PATH...``: the usage of the filesystem holding each of ``paths``.

    Every data row must be well formed (four non-negative numbers, a capacity of 0–100 %, an
    absolute mount point); one bad row makes the output unparsable, as a half-read table
    could hide the full disk. A path no row covers is ``mount_missing``.
    """
    result = DfResult()
    lines, problem = _lines(stdout, "df")
    if problem:
        result.findings.append(problem)
        return result
    lines = [line for line in lines if line.strip()]
    if not lines:
        missing = [m.group("path") for m in map(_DF_MISSING.match, stderr.splitlines()) if m]
        if missing:
            result.findings += [
                finding(FindingKind.MOUNT_MISSING, f"{p}: no such file or directory", p) for p in missing
            ]
        else:
            result.findings.append(
                _command_failed("df", stderr, exit_status)
                if exit_status
                else finding(FindingKind.UNPARSABLE_OUTPUT, "df printed nothing", "df")
            )
        return result
    if not _DF_HEADER.match(lines[0]):
        result.findings.append(finding(FindingKind.UNPARSABLE_OUTPUT, f"unexpected df header: {lines[0]}", "df"))
        return result
    rows: dict[str, DiskUsage] = {}
    for line in lines[1:]:
        row = _DF_ROW.match(line)
        if row is None:
            result.findings.append(finding(FindingKind.UNPARSABLE_OUTPUT, f"unexpected df row: {line}", "df"))
            return result
        if row["cap"] == "-":  # a pseudo filesystem without a size (proc, sysfs...)
            continue
        size, used, avail, capacity = int(row["size"]), int(row["used"]), int(row["avail"]), int(row["cap"][:-1])
        if capacity > 100 or used > size or avail > size:
            result.findings.append(finding(FindingKind.UNPARSABLE_OUTPUT, f"impossible df figures: {line}", "df"))
            return result
        mount = row["mount"].rstrip()
        rows[mount] = DiskUsage(
            mount=excerpt(mount, 200), size_kb=size, used_kb=used, available_kb=avail, capacity_pct=capacity
        )
    absent = {m.group("path") for m in map(_DF_MISSING.match, stderr.splitlines()) if m}
    seen: dict[str, DiskUsage] = {}
    for path in paths:
        if path in absent:
            result.findings.append(finding(FindingKind.MOUNT_MISSING, f"{path}: no such file or directory", path))
            continue
        mount = _covering_mount(path, rows)
        if mount is None:
            result.findings.append(finding(FindingKind.MOUNT_MISSING, f"{path}: not in df's output", path))
        else:
            seen.setdefault(mount, rows[mount])
    result.disks = list(seen.values())
    return result


def _covering_mount(path: str, rows: dict[str, DiskUsage]) -> str | None:
    path = posixpath.normpath(path)
    candidates = [m for m in rows if path == m or m == "/" or path.startswith(m.rstrip("/") + "/")]
    return max(candidates, key=len, default=None)


# --------------------------------------------------------------------------- docker info


@dataclass
class DockerInfoResult:
    state: DockerState = DockerState.UNKNOWN
    version: str | None = None
    findings: list[Finding] = field(default_factory=list)


def parse_docker_info(stdout: str, stderr: str, exit_status: int | None) -> DockerInfoResult:
    """``docker info --format '{{json .ServerVersion}}'``: is the daemon up, and which version."""
    subject = "docker info"
    if _DENIED in stderr:
        return DockerInfoResult(findings=[finding(FindingKind.DOCKER_DENIED, excerpt(stderr.strip()), subject)])
    if any(marker in stderr for marker in _DAEMON_DOWN):
        return DockerInfoResult(DockerState.DOWN, findings=[])
    if exit_status == 127 or (exit_status and _NOT_FOUND.search(stderr)):
        return DockerInfoResult(DockerState.NOT_INSTALLED)
    if exit_status != 0:
        return DockerInfoResult(findings=[_command_failed(subject, stderr, exit_status)])
    lines, problem = _lines(stdout, subject)
    text = "\n".join(lines).strip()
    if problem or not text or "\n" in text:
        message = "no output" if not text else f"unexpected output: {text}"
        return DockerInfoResult(findings=[problem or finding(FindingKind.UNPARSABLE_OUTPUT, message, subject)])
    try:
        version = json.loads(text)
    except ValueError:
        version = None
    if version == "":  # the CLI answered, the daemon did not: no server version
        return DockerInfoResult(DockerState.DOWN)
    if not isinstance(version, str) or not _VERSION.match(version):
        return DockerInfoResult(
            findings=[finding(FindingKind.UNPARSABLE_OUTPUT, f"not a JSON version string: {text}", subject)]
        )
    return DockerInfoResult(DockerState.RUNNING, version)


# --------------------------------------------------------------------------- docker ps


@dataclass
class DockerPsResult:
    state: DockerState = DockerState.UNKNOWN
    total: int = 0
    running: int = 0
    issues: list[ContainerIssue] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def parse_docker_ps(stdout: str, stderr: str, exit_status: int | None) -> DockerPsResult:
    """``docker ps --all --no-trunc --format '{{json .}}'``: containers unhealthy, restarting or dead.

    A line that is not a container object is skipped and reported (one finding for all of
    them); the rest still count.
    """
    subject = "docker ps"
    info = parse_docker_info("", stderr, exit_status) if exit_status != 0 else None
    if info is not None:  # the same failure modes as docker info: down, not installed, denied
        return DockerPsResult(info.state, findings=info.findings)
    lines, problem = _lines(stdout, subject)
    if problem:
        return DockerPsResult(findings=[problem])
    result = DockerPsResult(DockerState.RUNNING)
    bad: list[str] = []
    for line in filter(str.strip, lines):
        container = _container(line)
        if container is None:
            bad.append(line)
            continue
        result.total += 1
        name, state, status = container
        result.running += state == "running"
        if state in _PROBLEM_STATES or "(unhealthy)" in status:
            result.issues.append(ContainerIssue(name=excerpt(name, 200), state=state, status=excerpt(status, 200)))
    if bad:
        result.findings.append(
            finding(FindingKind.UNPARSABLE_OUTPUT, f"{len(bad)} unreadable line(s), first: {bad[0]}", subject)
        )
    return result


def _container(line: str) -> tuple[str, str, str] | None:
    try:
        row = json.loads(line)
    except ValueError:
        return None
    if not isinstance(row, dict):
        return None
    name, status, state = row.get("Names"), row.get("Status"), row.get("State")
    if not isinstance(name, str) or not name or not isinstance(status, str):
        return None
    if state is None:  # Docker before 20.10 has no State column: derive it from Status
        state = _state_from_status(status)
    if not isinstance(state, str) or state not in _CONTAINER_STATES:
        return None
    return name, state, status


def _state_from_status(status: str) -> str | None:
    for prefix, state in (
        ("Up ", "running"),
        ("Restarting", "restarting"),
        ("Exited", "exited"),
        ("Created", "created"),
        ("Dead", "dead"),
        ("Removal", "removing"),
    ):
        if status.startswith(prefix):
            return "paused" if state == "running" and status.endswith("(Paused)") else state
    return None


# --------------------------------------------------------------------------- /proc


@dataclass
class ProcResult:
    load: LoadAverage | None = None
    uptime_s: float | None = None
    memory: MemoryUsage | None = None
    findings: list[Finding] = field(default_factory=list)


_LOADAVG = re.compile(
    r"^(?P<m1>\d{1,6}\.\d{2}) (?P<m5>\d{1,6}\.\d{2}) (?P<m15>\d{1,6}\.\d{2}) \d{1,9}/\d{1,9} \d{1,10}$"
)
_UPTIME = re.compile(r"^(?P<up>\d{1,12}(?:\.\d{1,2})?) \d{1,14}(?:\.\d{1,2})?$")
_MEMINFO_ROW = re.compile(r"^(?P<name>[A-Za-z0-9_()]{1,40}):\s+(?P<value>\d{1,20})(?: kB)?$")


def _proc_text(name: str, stdout: str, exit_status: int | None) -> tuple[list[str] | None, Finding | None]:
    """The lines ``cat <file>`` printed (its stderr merged in), or the finding that it failed."""
    subject = f"cat {name}"
    if exit_status != 0:
        return None, _command_failed(subject, stdout, exit_status)
    lines, problem = _lines(stdout, subject)
    if problem:
        return None, problem
    return [line for line in lines if line.strip()], None


def parse_loadavg(stdout: str, exit_status: int | None) -> ProcResult:
    """``/proc/loadavg``: ``0.15 0.10 0.05 1/123 4567``: the 1, 5 and 15 minute load averages."""
    lines, problem = _proc_text("/proc/loadavg", stdout, exit_status)
    if problem:
        return ProcResult(findings=[problem])
    row = _LOADAVG.match(lines[0]) if len(lines) == 1 else None
    if row is None:
        return ProcResult(
            findings=[
                finding(
                    FindingKind.UNPARSABLE_OUTPUT,
                    f"unexpected /proc/loadavg: {' | '.join(lines) or 'nothing'}",
                    "cat /proc/loadavg",
                )
            ]
        )
    return ProcResult(load=LoadAverage(m1=float(row["m1"]), m5=float(row["m5"]), m15=float(row["m15"])))


def parse_uptime(stdout: str, exit_status: int | None) -> ProcResult:
    """``/proc/uptime``: ``864000.12 1700000.34``: seconds since boot (then idle seconds)."""
    lines, problem = _proc_text("/proc/uptime", stdout, exit_status)
    if problem:
        return ProcResult(findings=[problem])
    row = _UPTIME.match(lines[0]) if len(lines) == 1 else None
    if row is None:
        return ProcResult(
            findings=[
                finding(
                    FindingKind.UNPARSABLE_OUTPUT,
                    f"unexpected /proc/uptime: {' | '.join(lines) or 'nothing'}",
                    "cat /proc/uptime",
                )
            ]
        )
    return ProcResult(uptime_s=float(row["up"]))


def parse_meminfo(stdout: str, exit_status: int | None) -> ProcResult:
    """``/proc/meminfo``: ``MemTotal`` and ``MemAvailable`` (kB). Every line must be a
    ``Name: value [kB]`` row; a kernel before 3.14 has no ``MemAvailable``: ``MemFree + Buffers
    + Cached`` stands in for it."""
    subject = "cat /proc/meminfo"
    lines, problem = _proc_text("/proc/meminfo", stdout, exit_status)
    if problem:
        return ProcResult(findings=[problem])
    values: dict[str, int] = {}
    for line in lines:
        row = _MEMINFO_ROW.match(line.strip())
        if row is None:
            return ProcResult(
                findings=[finding(FindingKind.UNPARSABLE_OUTPUT, f"unexpected /proc/meminfo row: {line}", subject)]
            )
        values.setdefault(row["name"], int(row["value"]))
    total = values.get("MemTotal")
    available = values.get("MemAvailable")
    if available is None and {"MemFree", "Buffers", "Cached"} <= values.keys():
        available = values["MemFree"] + values["Buffers"] + values["Cached"]
    if not total or available is None or available > total:
        return ProcResult(
            findings=[
                finding(
                    FindingKind.UNPARSABLE_OUTPUT, "/proc/meminfo without a usable MemTotal and MemAvailable", subject
                )
            ]
        )
    return ProcResult(memory=MemoryUsage(total_kb=total, available_kb=available))


# --------------------------------------------------------------------------- the health script


#: Ends each command's output in the probe's one script: ``echo <SCRIPT_MARKER> <name> $?``.
SCRIPT_MARKER = "HEALTHCHECK-7d3f91c2"
SCRIPT_SUBJECT = "health script"
_SCRIPT_END = re.compile(rf"^{SCRIPT_MARKER} (?P<name>[a-z]{{1,16}}) (?P<status>\d{{1,3}})$")


@dataclass
class ScriptParts:
    """Each command's output (its stdout, with stderr too where the script merged it) and exit status.

    ``parts`` holds only the commands whose end marker arrived; ``missing`` the others, in order
    (the output ended before them: a timeout, the size cap, a shell that stopped).
    """

    parts: dict[str, tuple[str, int]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def split_script_output(stdout: str, names: Sequence[str]) -> ScriptParts:
    """Split the script's stdout on its end markers, strictly.

    A marker is a whole line ``<SCRIPT_MARKER> <name> <status>``. Every line that starts with
    ``SCRIPT_MARKER`` must be the next expected marker: anything else (a malformed marker, one
    out of order, one too many, e.g. printed by a command) makes the whole output unreadable, as
    no part of it can then be told apart. A line that merely contains the marker further on is
    content (e.g. a container's status in ``docker ps``); a command output lacking its final
    newline runs into its marker, which is then missing. Output after the last marker, or a
    partial line, is a finding; the parts before are kept.
    """
    result = ScriptParts()
    lines = stdout.split("\n")
    tail = lines.pop()  # after the last newline: "" for complete output
    if len(lines) > MAX_LINES * len(names):
        result.missing = list(names)
        result.findings.append(finding(FindingKind.UNPARSABLE_OUTPUT, f"{len(lines)} lines of output", SCRIPT_SUBJECT))
        return result
    current: list[str] = []
    for line in lines:
        if not line.startswith(SCRIPT_MARKER):
            current.append(line)
            continue
        marker = _SCRIPT_END.match(line)
        expected = names[len(result.parts)] if len(result.parts) < len(names) else None
        if marker is None or marker["name"] != expected or int(marker["status"]) > 255:
            return ScriptParts(
                missing=list(names),
                findings=[finding(FindingKind.UNPARSABLE_OUTPUT, f"unexpected marker line: {line}", SCRIPT_SUBJECT)],
            )
        result.parts[expected] = ("".join(f"{content}\n" for content in current), int(marker["status"]))
        current = []
    result.missing = list(names[len(result.parts) :])
    if not result.missing and (current or tail):
        leftover = "\n".join(current + [tail]).strip("\n")
        result.findings.append(
            finding(FindingKind.UNPARSABLE_OUTPUT, f"output after the last command: {leftover}", SCRIPT_SUBJECT)
        )
    return result
