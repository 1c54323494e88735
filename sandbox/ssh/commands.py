"""What a sandbox SSH host prints for the health probe's commands, computed from its ``HostState``.

Pure functions, no I/O: ``run_command(line, state)`` parses the command line with ``shlex`` (as
``sh -c`` would split it) and answers in exactly the format the real tools print, so a parser
written against this output also reads a real server's. Nothing is ever executed.

``run_line(line, state)`` is what a host's shell does with a whole exec line: the little shell
the health probe's one script needs and nothing more, i.e. ``;``-separated commands (each one
through ``run_command``), ``$?`` (the previous command's exit status, unquoted or in double
quotes) and a trailing ``2>&1`` (that command's stderr into stdout). A line without these is
``run_command``'s; anything else (pipes, other redirections, ``$(...)``) is passed on to it
unchanged, as before: an argument the modelled tools do not know, or "not found".

Real samples the formats follow:

GNU coreutils ``df -P`` (columns are as wide as their widest cell; ``Capacity`` is
ceil(used / (used + available)), and ext4 reserves 5% so used + available < size)::

    Filesystem     1024-blocks      Used Available Capacity Mounted on
    /dev/vda1        524288000 199229440 298844160      40% /
    /dev/vdb1        524288000 473169920  24903680      95% /var/lib/docker

Docker CLI ``docker info --format '{{json .ServerVersion}}'``::

    "24.0.7"

Docker CLI ``docker ps --all --no-trunc --format '{{json .}}'`` (one object per line, keys sorted
and ``<>&`` escaped by Go's ``json.Marshal``; ``Status`` is the daemon's ``State.String()``)::

    {"Command":"\\"/docker-entrypoint.sh\\"","CreatedAt":"2024-05-01 09:12:44 +0000 UTC","ID":"4f1c…",
     "Image":"app:latest","Labels":"com.docker.compose.project=app,com.docker.compose.service=web",
     "LocalVolumes":"0","Mounts":"","Names":"web","Networks":"bridge","Ports":"",
     "RunningFor":"3 hours ago","Size":"0B","State":"running","Status":"Up 3 hours (healthy)"}

Docker down (stderr, exit status 1)::

    Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?

Linux ``cat /proc/loadavg``, ``cat /proc/uptime``, ``cat /proc/meminfo`` (the first lines)::

    0.15 0.10 0.05 1/123 4567
    864000.00 1728000.00
    MemTotal:        4028000 kB
    MemFree:         1611200 kB
    MemAvailable:    2819600 kB

A missing file (coreutils' message, exit status 1)::

    cat: /proc/nope: No such file or directory

A command no real host would know (dash's message, exit status 127)::

    sh: 1: frobnicate: not found
"""

from __future__ import annotations

import hashlib
import json
import math
import posixpath
import shlex
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from sandbox.ssh.hoststate import Container, HostState

# The probe's commands, exactly as it sends them (the fleet parses them, so variants work too).
DF_COMMAND = "df -P"
DF_MOUNTS_COMMAND = "df -P -k"  # followed by mount points: f"{DF_MOUNTS_COMMAND} {shlex.join(mounts)}"
DOCKER_VERSION_COMMAND = "docker info --format '{{json .ServerVersion}}'"
DOCKER_PS_COMMAND = "docker ps --all --no-trunc --format '{{json .}}'"
TRUE_COMMAND = "true"
ECHO_COMMAND = "echo ok"
PROBE_COMMANDS = (DF_COMMAND, DOCKER_VERSION_COMMAND, DOCKER_PS_COMMAND, TRUE_COMMAND, ECHO_COMMAND)

DOCKER_SERVER_VERSION = "24.0.7"
DOCKER_DOWN_MESSAGE = (
    "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
)
# Every filesystem is a 500 GiB ext4 volume with the default 5% reserved for root.
DISK_SIZE_KB = 524_288_000
DISK_RESERVED_KB = DISK_SIZE_KB * 5 // 100


@dataclass(frozen=True)
class CommandResult:
    stdout: str = ""
    stderr: str = ""
    exit_status: int = 0


def run_command(line: str, state: HostState, *, host_id: str = "", now: float | None = None) -> CommandResult:
    """The answer of a host in ``state`` to ``line``; ``host_id`` seeds container ids."""
    argv = _argv(line)
    if argv is None:
        return CommandResult(stderr="sh: 1: Syntax error: Unterminated quoted string\n", exit_status=2)
    if not argv:
        return CommandResult()
    program, args = argv[0], argv[1:]
    result = None
    if program == "true" and not args:
        result = CommandResult()
    elif program == "echo":
        result = CommandResult(stdout=" ".join(args) + "\n")
    elif program == "df":
        result = _df(args, state.disks)
    elif program == "docker":
        result = _docker(args, state, host_id, time.time() if now is None else now)
    elif program == "cat":
        result = _cat(args, state)
    # Anything the sandbox does not model answers like a host without that program.
    return result or CommandResult(stderr=f"sh: 1: {program}: not found\n", exit_status=127)


# --- the shell: ; $? 2>&1 ----------------------------------------------------------------

_UNQUOTED, _SINGLE, _DOUBLE, _ESCAPED, _SYNTAX = range(5)


def run_line(line: str, state: HostState, *, host_id: str = "", now: float | None = None) -> CommandResult:
    """``sh -c line`` for ``;`` sequences of modelled commands, ``$?`` and a trailing ``2>&1``."""
    plan = _plan_line(line)
    if isinstance(plan, CommandResult):  # a syntax error
        return plan
    if plan is None:
        return run_command(line, state, host_id=host_id, now=now)  # exactly as a single command always was
    stdout, stderr, status = [], [], 0
    for pieces, merged in plan:
        result = run_command(str(status).join(pieces), state, host_id=host_id, now=now)
        if merged:
            stdout += [result.stderr, result.stdout]  # df reports a missing path before printing its table
        else:
            stdout.append(result.stdout)
            stderr.append(result.stderr)
        status = result.exit_status
    return CommandResult("".join(stdout), "".join(stderr), status)


@lru_cache(maxsize=1024)
def _plan_line(line: str) -> tuple[tuple[tuple[str, ...], bool], ...] | CommandResult | None:
    """How the shell runs ``line``: per command, its text split at each ``$?`` to expand and whether
    ``2>&1`` ends it; None for one plain command; a ``CommandResult`` for a syntax error.

    Cached: a fleet host sees the same few probe lines over and over.
    """
    marks = _quoting(line)
    if marks is None:
        return CommandResult(stderr="sh: 1: Syntax error: Unterminated quoted string\n", exit_status=2)
    segments, start = [], 0
    for i, (char, mark) in enumerate(zip(line, marks)):
        if char == ";" and mark == _UNQUOTED:
            segments.append((line[start:i], marks[start:i]))
            start = i + 1
    segments.append((line[start:], marks[start:]))
    if len(segments) == 1 and "$?" not in line and "2>&1" not in line:
        return None
    if segments[-1][0].strip() == "" and len(segments) > 1:
        segments.pop()  # "a; b;" runs a and b
    empty = [i for i, (text, _) in enumerate(segments) if text.strip() == ""]
    if empty:  # dash: "a;; b" is a case-clause ";;", "; a" or "a; ; b" an empty command
        token = ";;" if any(segments[i][0] == "" and 0 < i for i in empty) else ";"
        return CommandResult(stderr=f'sh: 1: Syntax error: "{token}" unexpected\n', exit_status=2)
    plan = []
    for text, mark in segments:
        text, mark, merged = _merge_redirect(text, mark)
        plan.append((_split_status(text, mark), merged))
    return tuple(plan)


@lru_cache(maxsize=1024)
def _argv(line: str) -> tuple[str, ...] | None:
    """``line`` split as ``sh`` would (None: an unterminated quote)."""
    try:
        return tuple(shlex.split(line))
    except ValueError:
        return None


def _quoting(line: str) -> list[int] | None:
    """How each character of ``line`` is quoted (``_SYNTAX``: a quote or escape character itself)."""
    marks, state, i = [], _UNQUOTED, 0
    while i < len(line):
        char = line[i]
        if state == _SINGLE:
            marks.append(_SYNTAX if char == "'" else _SINGLE)
            state = _UNQUOTED if char == "'" else _SINGLE
        elif char == "\\" and i + 1 < len(line) and (state == _UNQUOTED or line[i + 1] in '$`"\\\n'):
            marks += [_SYNTAX, _ESCAPED]
            i += 1
        elif state == _DOUBLE:
            marks.append(_SYNTAX if char == '"' else _DOUBLE)
            state = _UNQUOTED if char == '"' else _DOUBLE
        elif char in "'\"":
            marks.append(_SYNTAX)
            state = _SINGLE if char == "'" else _DOUBLE
        else:
            marks.append(_UNQUOTED)
        i += 1
    return None if state != _UNQUOTED else marks


def _split_status(text: str, marks: list[int]) -> tuple[str, ...]:
    """``text`` split at each ``$?`` the shell expands (unquoted or in double quotes; single-quoted
    or escaped, it stays): joining the pieces with the status expands them."""
    pieces, start, i = [], 0, 0
    while i < len(text):
        if text.startswith("$?", i) and marks[i] in (_UNQUOTED, _DOUBLE) and marks[i + 1] == marks[i]:
            pieces.append(text[start:i])
            start = i = i + 2
        else:
            i += 1
    pieces.append(text[start:])
    return tuple(pieces)


def _merge_redirect(text: str, marks: list[int]) -> tuple[str, list[int], bool]:
    """Take a trailing, unquoted `` 2>&1`` off one command."""
    end = len(text.rstrip(" \t"))
    if (
        end >= 5
        and text[end - 4 : end] == "2>&1"
        and text[end - 5] in " \t"
        and all(m == _UNQUOTED for m in marks[end - 5 : end])
    ):
        return text[: end - 5], marks[: end - 5], True
    return text, marks, False


# --- df (GNU coreutils) --------------------------------------------------------------------


def _df(args: tuple[str, ...], disks: dict[str, int]) -> CommandResult | None:
    posix, paths, options_done = False, [], False
    for arg in args:
        if options_done or not arg.startswith("-") or arg == "-":
            paths.append(arg)
        elif arg == "--":
            options_done = True
        elif arg == "--portability":
            posix = True
        elif set(arg[1:]) <= {"P", "k"} and not arg.startswith("--"):
            posix = posix or "P" in arg
        else:
            return None  # an option the sandbox does not model

    devices = {mount: f"/dev/vd{chr(ord('a') + i)}1" for i, mount in enumerate(disks)}
    if not paths:
        mounts, errors = list(disks), []
    else:
        resolved = [(path, _mount_of(path, disks)) for path in paths]
        mounts = [mount for _, mount in resolved if mount is not None]
        errors = [f"df: {path}: No such file or directory\n" for path, mount in resolved if mount is None]
    if not mounts:  # GNU df prints no table at all then
        return CommandResult(stderr="".join(errors) or "df: no file systems processed\n", exit_status=1)

    header = [
        "Filesystem",
        "1024-blocks" if posix else "1K-blocks",
        "Used",
        "Available",
        "Capacity" if posix else "Use%",
        "Mounted on",
    ]
    rows = [header] + [[devices[m], *_usage(disks[m]), m] for m in mounts]
    return CommandResult(stdout=_align(rows), stderr="".join(errors), exit_status=1 if errors else 0)


def _mount_of(path: str, disks: dict[str, int]) -> str | None:
    """The mount point whose filesystem holds ``path``: the longest mount that is a prefix of it."""
    if not path.startswith("/"):
        return None
    path = posixpath.normpath(path)
    candidates = [m for m in disks if path == m or path.startswith(m.rstrip("/") + "/")]
    return max(candidates, key=len, default=None)


def _usage(percent: int) -> list[str]:
    """size, used, available and capacity cells for a filesystem ``percent`` full, as df shows them."""
    usable = DISK_SIZE_KB - DISK_RESERVED_KB
    used = usable * min(max(percent, 0), 100) // 100
    available = usable - used
    capacity = math.ceil(used * 100 / (used + available))
    return [str(DISK_SIZE_KB), str(used), str(available), f"{capacity}%"]


def _align(rows: list[list[str]]) -> str:
    """df's table: minimum widths 14/5/5/5/4, first and last columns left-aligned, one space apart."""
    minimum = [14, 5, 5, 5, 4, 0]
    widths = [max([minimum[i]] + [len(row[i]) for row in rows]) for i in range(len(minimum))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, 5)] + [row[5]]
        lines.append(" ".join(cells))
    return "\n".join(lines) + "\n"


# --- cat /proc/... (Linux) -----------------------------------------------------------------


def _cat(args: tuple[str, ...], state: HostState) -> CommandResult | None:
    if not args or any(a.startswith("-") for a in args):
        return None  # options the sandbox does not model
    out, err = [], []
    for path in args:
        text = _proc_file(path, state)
        if text is None:
            err.append(f"cat: {path}: No such file or directory\n")
        else:
            out.append(text)
    return CommandResult("".join(out), "".join(err), 1 if err else 0)


def _proc_file(path: str, state: HostState) -> str | None:
    if path == "/proc/loadavg":
        m1, m5, m15 = state.load
        return f"{m1:.2f} {m5:.2f} {m15:.2f} 1/123 4567\n"
    if path == "/proc/uptime":
        return f"{state.uptime_s:.2f} {state.uptime_s * 2:.2f}\n"
    if path == "/proc/meminfo":
        total = state.mem_total_kb
        available = total - total * min(max(state.mem_used_pct, 0), 100) // 100
        rows = [
            ("MemTotal", total),
            ("MemFree", available * 4 // 7),
            ("MemAvailable", available),
            ("Buffers", available // 20),
            ("Cached", available // 3),
            ("SwapCached", 0),
            ("Active", total // 4),
            ("Inactive", total // 5),
            ("SwapTotal", 0),
            ("SwapFree", 0),
            ("Dirty", 12),
            ("HugePages_Total", None),
        ]
        # the kernel's "%-15s %8lu kB" (HugePages_* are counts, without a unit)
        return "".join(
            f"{name + ':':<15}{value:>9} kB\n" if value is not None else f"{name + ':':<15}{0:>9}\n"
            for name, value in rows
        )
    return None


# --- docker (Docker CLI) -------------------------------------------------------------------


def _docker(args: tuple[str, ...], state: HostState, host_id: str, now: float) -> CommandResult | None:
    if not args or args[0] not in ("info", "ps"):
        return None
    flags, fmt = _docker_flags(args[1:])
    if flags is None:
        return None
    if not state.docker_running:
        return CommandResult(stderr=DOCKER_DOWN_MESSAGE + "\n", exit_status=1)
    if args[0] == "info":
        if flags or fmt not in ("{{json .ServerVersion}}", "{{.ServerVersion}}"):
            return None
        version = json.dumps(DOCKER_SERVER_VERSION) if "json" in fmt else DOCKER_SERVER_VERSION
        return CommandResult(stdout=version + "\n")
    if not flags <= {"all", "no-trunc"} or fmt not in ("{{json .}}", "json"):
        return None
    shown = [c for c in state.containers if "all" in flags or c.state in ("running", "restarting", "paused")]
    lines = [_go_json(_ps_row(c, host_id, now, trunc="no-trunc" not in flags)) + "\n" for c in shown]
    return CommandResult(stdout="".join(lines))


def _docker_flags(args: tuple[str, ...]) -> tuple[set[str] | None, str | None]:
    """(boolean flags, --format value); (None, None) for anything the sandbox does not model."""
    flags, fmt, rest = set(), None, list(args)
    while rest:
        arg = rest.pop(0)
        if arg in ("--format", "-f") and rest:
            fmt = rest.pop(0)
        elif arg.startswith("--format="):
            fmt = arg.split("=", 1)[1]
        elif arg in ("--all", "-a"):
            flags.add("all")
        elif arg == "--no-trunc":
            flags.add("no-trunc")
        else:
            return None, None
    return flags, fmt


def _ps_row(container: Container, host_id: str, now: float, trunc: bool) -> dict[str, str]:
    """The fields of Docker CLI's ``ContainerContext``, as ``{{json .}}`` renders them."""
    container_id = hashlib.sha256(f"{host_id}/{container.name}".encode()).hexdigest()
    command = "/docker-entrypoint.sh"
    created = int(now - container.since_s - 60)  # created a minute before it last (re)started
    return {
        "Command": '"' + (_ellipsis(command, 20) if trunc else command).replace('"', '\\"') + '"',
        "CreatedAt": datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC"),
        "ID": container_id[:12] if trunc else container_id,
        "Image": container.image,
        "Labels": f"com.docker.compose.project=app,com.docker.compose.service={container.name}",
        "LocalVolumes": "0",
        "Mounts": "",
        "Names": container.name,
        "Networks": "bridge",
        "Ports": "",
        "RunningFor": human_duration(now - created) + " ago",
        "Size": "0B",
        "State": container.state,
        "Status": container_status(container),
    }


def container_status(container: Container) -> str:
    """The daemon's ``State.String()``: ``Up 3 hours (healthy)``, ``Restarting (1) 5 seconds ago``…"""
    since = human_duration(container.since_s)
    if container.state == "running":
        if container.health is None:
            return f"Up {since}"
        health = "health: starting" if container.health == "starting" else container.health
        return f"Up {since} ({health})"
    if container.state == "paused":
        return f"Up {since} (Paused)"
    if container.state == "restarting":
        return f"Restarting ({container.exit_code}) {since} ago"
    if container.state == "exited":
        return f"Exited ({container.exit_code}) {since} ago"
    return {"created": "Created", "dead": "Dead", "removing": "Removal In Progress"}.get(container.state, "")


def human_duration(seconds: float) -> str:
    """go-units ``HumanDuration``, which Docker uses for ``Status`` and ``RunningFor``."""
    seconds_int = int(seconds)
    if seconds_int < 1:
        return "Less than a second"
    if seconds_int == 1:
        return "1 second"
    if seconds_int < 60:
        return f"{seconds_int} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = math.floor(seconds / 3600 + 0.5)  # Go's math.Round: halves away from zero
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def _ellipsis(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _go_json(value: dict) -> str:
    """Go's ``json.Marshal``: sorted keys, no spaces, UTF-8 kept, ``<>&`` and U+2028/9 escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text
