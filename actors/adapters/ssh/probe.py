"""The SSH probe: one connection per server per check, constant commands, strict parsing.

- Key auth only, with the key given inline (``SSH_PRIVATE_KEY``) or at ``SSH_PRIVATE_KEY_PATH``
  (read once, kept in memory only), as the server record's ``ssh_user``; no agent, no
  ``~/.ssh/config``, no password.
- Host keys: the entries of ``SSH_KNOWN_HOSTS`` (or ``SSH_KNOWN_HOSTS_DATA``) for the host and
  port (the platform's Server has no field to pin them on), parsed once with
  ``asyncssh.read_known_hosts`` and reused (parsing 10,000 lines per connect would cost more
  than the checks), read again when the file changes. A key that matches none refuses the
  connection and becomes a ``host_key_mismatch`` finding naming the presented key's
  fingerprint; a server with no trusted key at all is not connected to (``host_key_unknown``).
  Nothing is ever accepted silently.
- The commands are the module constants below, run as ONE constant script on one exec
  channel (``health_script``: each command followed by ``echo <marker> <name> $?``, the docker
  and ``cat`` commands with ``2>&1``), which the server's login shell runs: disks (``df``), the
  Docker daemon and its containers, and the metrics the platform keeps (``/proc/loadavg``,
  ``/proc/uptime``, ``/proc/meminfo``); the output is split on the
  markers and each part parsed strictly (``health_parse.split_script_output``). One channel
  instead of three saves 20–30 % of the CPU of a check on both ends. No server field enters the
  script; the mount points come from the operator's configuration, are validated at start-up
  and are the same for every server.
- Connect and command timeouts; a process-wide semaphore bounds concurrent connections;
  output is capped (a host decides what it sends); a check that the tick's deadline would
  interrupt is cut (``None``) instead of being counted as a failure.
- Key exchange and cipher preferences put curve25519 and AES-GCM first (the other defaults
  stay as fallbacks): asyncssh's default post-quantum kex and ChaCha20 cost about 1.6x the
  CPU per connection, which is what bounds a 10,000-server check.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shlex
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncssh

from actors.adapters.kit import PerLoop
from actors.adapters.ssh.parse import (
    SCRIPT_MARKER,
    SCRIPT_SUBJECT,
    excerpt,
    finding,
    parse_df,
    parse_docker_info,
    parse_docker_ps,
    parse_loadavg,
    parse_meminfo,
    parse_uptime,
    split_script_output,
)
from actors.adapters.ssh.pool import ConnectionPool, PoolConfig
from contracts.health import CheckTarget, DockerState, Finding, FindingKind, ProbeResult
from process.logs import get_logger, register_secrets

log = get_logger(__name__)

#: df in POSIX format, 1024-byte blocks; the configured mount points follow (``/`` first)
DF_COMMAND = "df -P -k"
DOCKER_INFO_COMMAND = "docker info --format '{{json .ServerVersion}}'"
DOCKER_PS_COMMAND = "docker ps --all --no-trunc --format '{{json .}}'"
LOADAVG_COMMAND = "cat /proc/loadavg"
UPTIME_COMMAND = "cat /proc/uptime"
MEMINFO_COMMAND = "cat /proc/meminfo"
#: the parts of the script, in order: (name, command, whether its stderr is merged into stdout)
SCRIPT_PARTS = (
    ("df", None, False),
    ("docker info", DOCKER_INFO_COMMAND, True),
    ("docker ps", DOCKER_PS_COMMAND, True),
    ("loadavg", LOADAVG_COMMAND, True),
    ("uptime", UPTIME_COMMAND, True),
    ("meminfo", MEMINFO_COMMAND, True),
)
#: a marker carries one word: the part's name without spaces
_MARKER_NAMES = {
    "df": "df",
    "docker info": "info",
    "docker ps": "ps",
    "loadavg": "load",
    "uptime": "up",
    "meminfo": "mem",
}
#: asked for (sshd passes it on only where ``AcceptEnv LC_*``): tools print their C-locale headers
COMMAND_ENV = {"LC_ALL": "C"}
KEX_PREFERENCE = "^curve25519-sha256,curve25519-sha256@libssh.org"
CIPHER_PREFERENCE = "^aes128-gcm@openssh.com,aes256-gcm@openssh.com"
KNOWN_HOSTS_RECHECK_S = 1.0  # SSH_KNOWN_HOSTS is looked at (stat) at most this often for changes
MIN_BUDGET_S = 0.5  # a check with less time than this before the deadline is cut
CLOSE_GRACE_S = 2.0  # beyond the connect and command timeouts, for closing the connection
_MOUNT = re.compile(r"^/(?:[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*)?$")


@dataclass(frozen=True)
class ProbeConfig:
    private_key_path: Path | None = None
    known_hosts_path: Path | None = None
    connect_timeout_s: float = 10.0
    command_timeout_s: float = 15.0
    concurrency: int = 100
    mounts: tuple[str, ...] = ("/",)
    max_stdout_bytes: int = 2 * 1024 * 1024
    max_stderr_bytes: int = 64 * 1024
    private_key_passphrase: str | None = field(default=None, repr=False)
    #: the key's text itself (a host that gives config vars, not files); never written to disk
    private_key_data: str | None = field(default=None, repr=False)
    #: known_hosts lines themselves, instead of (or when no) ``known_hosts_path``
    known_hosts_data: str | None = field(default=None, repr=False)
    #: connections kept open across checks (``PoolConfig()``: none, a connection per check)
    pool: PoolConfig = PoolConfig()

    def __post_init__(self):
        if (self.private_key_path is None) == (self.private_key_data is None):
            raise ValueError("give the SSH private key exactly once: inline or as a path")
        for mount in self.mounts:
            if not _MOUNT.match(mount) or ".." in mount.split("/"):
                raise ValueError(f"a mount point to check must be a plain absolute path, got {mount!r}")
        if self.concurrency < 1 or self.connect_timeout_s <= 0 or self.command_timeout_s <= 0:
            raise ValueError("concurrency and timeouts must be positive")


def _unescape(text: str) -> str:
    """A config var pasted as one line carries its newlines as ``\\n``; a PEM needs real ones."""
    return text.replace("\\n", "\n") if "\n" not in text.strip() else text


def load_client_key(config: ProbeConfig) -> asyncssh.SSHKey:
    """The login key, from its text or its file. Raises ``asyncssh.KeyImportError`` (bad key or
    passphrase) or ``OSError``; neither quotes the key."""
    if config.private_key_data is not None:
        text = _unescape(config.private_key_data)
        # Scrubbed from any log line, whole or line by line (a traceback may quote a fragment).
        register_secrets([text, *(line for line in text.splitlines() if len(line) >= 16 and "-----" not in line)])
        return asyncssh.import_private_key(text, config.private_key_passphrase)
    return asyncssh.read_private_key(config.private_key_path, config.private_key_passphrase)


def load_known_hosts(config: ProbeConfig) -> asyncssh.SSHKnownHosts | None:
    """The trusted host keys from ``known_hosts_data`` or ``known_hosts_path`` (parsed once)."""
    if config.known_hosts_data is not None:
        return asyncssh.import_known_hosts(_unescape(config.known_hosts_data))
    return asyncssh.read_known_hosts(str(config.known_hosts_path)) if config.known_hosts_path else None


def _stamp(path: Path | None) -> tuple[int, int, int] | None:
    try:
        stat = path.stat() if path is not None else None
    except OSError:
        return None
    return stat and (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def df_command(mounts: tuple[str, ...]) -> str:
    paths = ("/", *(m for m in mounts if m != "/"))
    return f"{DF_COMMAND} {shlex.join(paths)}"


def health_script(mounts: tuple[str, ...]) -> str:
    """The one constant command line of a check, e.g. ``df -P -k /; echo M df $?; docker info … 2>&1; …``.

    df's stderr stays on the channel's stderr (only df writes there); each docker command's
    stderr goes into its own part, so a part holds everything that command printed.
    """
    steps = []
    for name, command, merged in SCRIPT_PARTS:
        command = df_command(mounts) if command is None else command
        steps.append(f"{command} 2>&1" if merged else command)
        steps.append(f"echo {SCRIPT_MARKER} {_MARKER_NAMES[name]} $?")
    return "; ".join(steps)


@dataclass
class Output:
    stdout: str = ""
    stderr: str = ""
    exit_status: int | None = None
    timed_out: bool = False
    too_large: bool = False


class _Cut(Exception):
    """The tick's deadline, not the server, ended this check."""


class _ConnectFailed(Exception):
    """No connection; ``finding`` says why (refused, timed out, host key, login...)."""

    def __init__(self, found: Finding):
        super().__init__(found.kind)
        self.finding = found


#: what opening a channel on a connection that is gone raises
DEAD_CONNECTION = (
    asyncssh.ChannelOpenError,
    asyncssh.ConnectionLost,
    asyncssh.DisconnectError,
    BrokenPipeError,
    ConnectionResetError,
)


def _dropped(conn: asyncssh.SSHClientConnection, output: Output) -> bool:
    """The connection died under the script: no exit status, and the connection is closed."""
    return output.exit_status is None and not output.timed_out and not output.too_large and conn.is_closed()


def pool_key(target: CheckTarget, trusted: tuple = ()) -> tuple:
    """Which kept connection serves ``target``: a changed address, port or user, or other keys
    trusted for it in ``SSH_KNOWN_HOSTS`` (``trusted``), make another one (the old one goes idle)."""
    return target.host, target.ssh_port, target.ssh_user, trusted


class _Client(asyncssh.SSHClient):
    """Remembers the host key a server presented when it matched no trusted one; tells the pool
    when the connection is gone."""

    def __init__(self, on_lost=None):
        self.rejected_key: asyncssh.SSHKey | None = None
        self.on_lost = on_lost
        self.conn: asyncssh.SSHClientConnection | None = None

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        self.conn = conn

    def connection_lost(self, exc: Exception | None) -> None:
        if self.on_lost is not None and self.conn is not None:
            self.on_lost(self.conn)

    def validate_host_public_key(self, host, addr, port, key) -> bool:
        self.rejected_key = key
        return False


class SshProbe:
    """Checks servers over SSH. One per process; ``check`` may run concurrently."""

    def __init__(self, config: ProbeConfig):
        self.config = config
        self.client_key = load_client_key(config)
        self.known_hosts = load_known_hosts(config)
        self._known_hosts_checked = time.monotonic()
        self._known_hosts_stamp = _stamp(config.known_hosts_path)
        self.paths = ("/", *(m for m in config.mounts if m != "/"))
        self.script = health_script(config.mounts)
        # the bound on checks at once, one per event loop (a semaphore belongs to its loop)
        self._semaphores = PerLoop(lambda: asyncio.Semaphore(self.config.concurrency))
        # the connections kept open across checks, one pool per event loop (actors.adapters.ssh.pool)
        self._pools = PerLoop(lambda: ConnectionPool(self.config.pool))
        self._trust_cache: dict[tuple[str, int], tuple] = {}
        self._trust_cache_of: asyncssh.SSHKnownHosts | None = None

    def pool(self) -> ConnectionPool:
        """The running loop's pool of kept connections (``HEALTH_SSH_POOL_MAX``; 0 keeps none)."""
        return self._pools.get()

    async def aclose(self) -> None:
        """Close the running loop's kept connections."""
        await self._pools.aclose(lambda pool: pool.aclose())

    @property
    def check_bound_s(self) -> float:
        """The longest one check takes once it has its turn: connect and command timeouts, closing."""
        return self.config.connect_timeout_s + self.config.command_timeout_s + CLOSE_GRACE_S

    def turn(self) -> asyncio.Semaphore:
        """The process's bound on checks at once (``HEALTH_SSH_CONCURRENCY``): a caller that must do
        something right before its check (claim the server) takes its turn here, then calls
        ``check(..., have_turn=True)``."""
        return self._semaphores.get()

    async def check(
        self, target: CheckTarget, until: float | None = None, *, have_turn: bool = False
    ) -> ProbeResult | None:
        """Check one server; ``until`` is a ``time.monotonic()`` deadline. None: cut by it."""
        async with contextlib.nullcontext() if have_turn else self._semaphores.get():
            started = time.monotonic()
            if until is not None and until - started < MIN_BUDGET_S:
                return None
            # a hard bound on the whole check, closing included: a frozen host never holds a slot for long
            bound, clamped = _budget(self.check_bound_s, until)
            try:
                async with asyncio.timeout(bound):
                    connected, findings, outputs = await self._session(target, until)
            except _Cut:
                return None
            except TimeoutError:
                if clamped:
                    return None
                connected, findings, outputs = (
                    False,
                    [finding(FindingKind.COMMAND_TIMEOUT, f"the check did not finish within {bound:g} s")],
                    {},
                )
            except Exception as exc:  # a bug or an exotic failure: one server's finding, not the batch's crash
                log.exception("ssh_probe.error", handle=target.handle)
                connected, findings, outputs = False, [finding(FindingKind.SSH_ERROR, f"probe error: {exc!r}")], {}
        result = self._result(target, connected, findings, outputs)
        return result.model_copy(update={"duration_ms": int((time.monotonic() - started) * 1000)})

    def _known_hosts(self) -> asyncssh.SSHKnownHosts | None:
        """The trusted keys; ``SSH_KNOWN_HOSTS`` is read again when the file changes (looked at
        at most once every ``KNOWN_HOSTS_RECHECK_S``), so a host added to it needs no restart."""
        path = self.config.known_hosts_path
        if path is None or self.config.known_hosts_data is not None:
            return self.known_hosts
        now = time.monotonic()
        if now - self._known_hosts_checked >= KNOWN_HOSTS_RECHECK_S:
            self._known_hosts_checked = now
            try:
                stat = path.stat()
                stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
                if stamp != self._known_hosts_stamp:
                    self.known_hosts, self._known_hosts_stamp = asyncssh.read_known_hosts(str(path)), stamp
            except (OSError, ValueError) as exc:  # keep what was trusted; say why once per look
                log.warning("ssh_probe.known_hosts_unreadable", path=str(path), error=str(exc)[:200])
        return self.known_hosts

    def _trust(self, target: CheckTarget, matched: list[bool]):
        """The host keys to trust for ``target``: the entries of ``SSH_KNOWN_HOSTS`` for its
        host and port (the platform's Server record has no field for pinned keys)."""
        known_hosts = self._known_hosts()
        if known_hosts is None:
            matched.append(False)
            return [], [], []

        def match(host: str, addr: str, port: int | None):
            found = known_hosts.match(host, addr, port)
            matched.append(bool(found[0] or found[1]))
            return found

        return match

    async def _session(self, target: CheckTarget, until: float | None):
        matched: list[bool] = []
        trust = self._trust(target, matched)
        if matched == [False]:
            return (
                False,
                [
                    finding(
                        FindingKind.HOST_KEY_UNKNOWN,
                        "no trusted host key: SSH_KNOWN_HOSTS has none for this host and port; not connecting",
                    )
                ],
                {},
            )
        pool = self._pools.get()
        key = pool_key(target, self._trusted_keys(target))
        for attempt in (1, 2):  # a second try only when a kept connection turned out dead
            try:
                async with pool.acquire(key, lambda: self._connect(target, trust, matched, until, key)) as lease:
                    timeout, clamped = _budget(self.config.command_timeout_s, until)
                    try:
                        output = await self._run(lease.conn, self.script, timeout)
                    except DEAD_CONNECTION:
                        if not lease.reused or attempt == 2:
                            raise
                        pool.discard(lease)
                        continue
                    if lease.reused and attempt == 1 and _dropped(lease.conn, output):
                        pool.discard(lease)
                        continue
            except _ConnectFailed as failed:
                return False, [failed.finding], {}
            break
        if clamped and output.timed_out:
            raise _Cut()
        findings, outputs = self._split(output, timeout)
        return True, findings, outputs

    def _trusted_keys(self, target: CheckTarget) -> tuple:
        """The keys ``SSH_KNOWN_HOSTS`` trusts for ``target``'s host name and port, as bytes: part of
        its kept connection's key, so an entry changed in the file makes a new, verified connection.
        Looked up once per (host, port) per reading of the file (a hashed file costs an HMAC per entry)."""
        known_hosts = self._known_hosts()
        if known_hosts is None:
            return ()
        if self._trust_cache_of is not known_hosts:
            self._trust_cache, self._trust_cache_of = {}, known_hosts
        where = (target.host, target.ssh_port)
        found = self._trust_cache.get(where)
        if found is None:
            host_keys, ca_keys, revoked, *_ = known_hosts.match(target.host, target.host, target.ssh_port)
            found = self._trust_cache[where] = (
                tuple(sorted(k.public_data for k in (*host_keys, *ca_keys)))
                + (b"revoked",)
                + tuple(sorted(k.public_data for k in revoked))
            )
        return found

    async def _connect(self, target: CheckTarget, trust, matched: list[bool], until: float | None, key):
        """A new authenticated connection, or ``_ConnectFailed`` with the finding that says why."""
        pool = self._pools.get()
        client = _Client(lambda conn: pool.lost(key, conn))
        timeout, clamped = _budget(self.config.connect_timeout_s, until)
        keepalive = (
            {"keepalive_interval": self.config.pool.keepalive_s, "keepalive_count_max": 3}
            if self.config.pool.enabled and self.config.pool.keepalive_s
            else {}
        )
        try:
            return await asyncssh.connect(
                target.host,
                target.ssh_port,
                username=target.ssh_user,
                client_keys=[self.client_key],
                known_hosts=trust,
                client_factory=lambda: client,
                agent_path=None,
                config=None,
                preferred_auth="publickey",
                connect_timeout=timeout,
                kex_algs=KEX_PREFERENCE,
                encryption_algs=CIPHER_PREFERENCE,
                x509_trusted_certs=None,
                **keepalive,
            )
        except asyncssh.HostKeyNotVerifiable as exc:
            raise _ConnectFailed(self._host_key_finding(target, client, any(matched), exc)) from None
        except asyncssh.PermissionDenied:
            raise _ConnectFailed(
                finding(FindingKind.AUTH_FAILED, f"login as {target.ssh_user!r} with the scheduler's key was refused")
            ) from None
        except ConnectionRefusedError:
            raise _ConnectFailed(
                finding(FindingKind.CONNECT_REFUSED, f"connection to port {target.ssh_port} refused")
            ) from None
        except TimeoutError:
            if clamped:
                raise _Cut() from None
            raise _ConnectFailed(finding(FindingKind.CONNECT_TIMEOUT, f"no SSH session within {timeout:g} s")) from None
        except OSError as exc:
            raise _ConnectFailed(finding(FindingKind.NETWORK_ERROR, f"network error: {exc.strerror or exc}")) from None
        except asyncssh.Error as exc:
            raise _ConnectFailed(finding(FindingKind.SSH_ERROR, f"SSH error: {exc.reason}")) from None
        except ValueError as exc:  # e.g. a user name SSH cannot carry (SASLprep refuses it)
            raise _ConnectFailed(
                finding(FindingKind.SSH_ERROR, f"unusable ssh_user or host on the record: {exc}")
            ) from None

    def _split(self, output: Output, timeout: float) -> tuple[list[Finding], dict[str, Output]]:
        """Each part of the script's output as the ``Output`` of its command; findings for the rest.

        What arrived before a timeout or the size cap still counts: the parts whose end marker
        came are parsed, the others are findings.
        """
        names = [_MARKER_NAMES[name] for name, _, _ in SCRIPT_PARTS]
        split = split_script_output(output.stdout, names)
        findings = list(split.findings)
        outputs: dict[str, Output] = {}
        for name, _, merged in SCRIPT_PARTS:
            part = split.parts.get(_MARKER_NAMES[name])
            if part is None:
                if output.timed_out:
                    findings.append(
                        finding(FindingKind.COMMAND_TIMEOUT, f"{name} did not answer within {timeout:g} s", name)
                    )
                elif output.too_large:
                    findings.append(
                        finding(FindingKind.OUTPUT_TOO_LARGE, f"{name} sent more output than the probe reads", name)
                    )
                elif not split.findings:  # the output ended early (the shell stopped, or is not a POSIX one)
                    status = "no exit status" if output.exit_status is None else f"exit status {output.exit_status}"
                    findings.append(
                        finding(
                            FindingKind.UNPARSABLE_OUTPUT,
                            f"the script's output ended before "
                            f"{name} had answered ({status}): {excerpt(output.stderr.strip())}",
                            name,
                        )
                    )
                continue
            text, status = part
            if not merged:  # df: its stderr is the channel's
                outputs[name] = Output(text, output.stderr, status)
            elif not name.startswith("docker"):  # cat: a failure's message is in its part, with its status
                outputs[name] = Output(text, "", status)
            elif status == 0:  # the Docker CLI warns on stderr ("WARNING: …") even when it answers
                answer = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("WARNING: "))
                outputs[name] = Output(answer, "", status)
            else:  # what a failing docker printed, on either stream, is its message
                outputs[name] = Output("", text, status)
        if output.too_large and not split.missing:
            findings.append(finding(FindingKind.OUTPUT_TOO_LARGE, "stderr beyond what the probe reads", SCRIPT_SUBJECT))
        return findings, outputs

    def _host_key_finding(self, target: CheckTarget, client: _Client, had_trusted: bool, exc) -> Finding:
        presented = client.rejected_key.get_fingerprint() if client.rejected_key else "unknown"
        source = "in SSH_KNOWN_HOSTS"
        if not had_trusted:
            return finding(
                FindingKind.HOST_KEY_UNKNOWN,
                f"no trusted host key {source} for this server (it presented {presented}); connection refused",
            )
        if client.rejected_key is None:
            return finding(FindingKind.HOST_KEY_MISMATCH, f"host key not verifiable: {exc.reason}")
        return finding(
            FindingKind.HOST_KEY_MISMATCH,
            f"host key mismatch: the server presented {presented}, which is not the key {source}; connection refused",
        )

    async def _run(self, conn: asyncssh.SSHClientConnection, command: str, timeout: float) -> Output:
        """Run ``command``; on a timeout or beyond the cap, what was read so far (complete lines count)."""
        collector = _Collector(self.config.max_stdout_bytes, self.config.max_stderr_bytes)
        channel = None
        try:
            async with asyncio.timeout(timeout):  # a channel the server never confirms is a timeout too
                channel, _ = await conn.create_session(lambda: collector, command, env=COMMAND_ENV, encoding=None)
                channel.write_eof()  # nothing on stdin
                await collector.done
        except TimeoutError:
            if channel is not None:
                channel.close()
            return _output(collector.stdout, collector.stderr, None, timed_out=True)
        if collector.too_large:
            return _output(collector.stdout, collector.stderr, None, too_large=True)
        return _output(collector.stdout, collector.stderr, channel.get_exit_status())

    def _result(
        self, target: CheckTarget, connected: bool, findings: list[Finding], outputs: dict[str, Output]
    ) -> ProbeResult:
        disks, docker, version, total, running, issues = [], DockerState.UNKNOWN, None, 0, 0, []
        if "df" in outputs:
            o = outputs["df"]
            df = parse_df(o.stdout, o.stderr, o.exit_status, self.paths)
            disks, findings = df.disks, findings + df.findings
        if "docker info" in outputs:
            o = outputs["docker info"]
            info = parse_docker_info(o.stdout, o.stderr, o.exit_status)
            docker, version, findings = info.state, info.version, findings + info.findings
        if "docker ps" in outputs and docker in (DockerState.RUNNING, DockerState.UNKNOWN):
            o = outputs["docker ps"]
            ps = parse_docker_ps(o.stdout, o.stderr, o.exit_status)
            if docker is DockerState.UNKNOWN:  # docker info timed out or was unreadable: ps tells
                docker = ps.state
            if docker is DockerState.RUNNING:
                total, running, issues, findings = ps.total, ps.running, ps.issues, findings + ps.findings
        proc = {}
        for name, parser, field_ in (
            ("loadavg", parse_loadavg, "load"),
            ("uptime", parse_uptime, "uptime_s"),
            ("meminfo", parse_meminfo, "memory"),
        ):
            if name in outputs:
                parsed = parser(outputs[name].stdout, outputs[name].exit_status)
                proc[field_], findings = getattr(parsed, field_), findings + parsed.findings
        return ProbeResult(
            handle=target.handle,
            checked_at=datetime.now(UTC),
            connected=connected,
            findings=findings,
            disks=disks,
            docker=docker,
            docker_version=version,
            containers_total=total,
            containers_running=running,
            container_issues=issues,
            **proc,
        )


def _budget(configured: float, until: float | None) -> tuple[float, bool]:
    """The timeout to use, and whether it is the deadline's rather than the configured one."""
    if until is None:
        return configured, False
    remaining = until - time.monotonic()
    return (remaining, True) if remaining < configured else (configured, False)


class _Collector(asyncssh.SSHClientSession):
    """One exec channel's stdout and stderr, each kept up to its cap; ``done`` when the channel closes.

    A plain session rather than ``create_process``: no reader tasks and streams per check, which
    matters at thousands of checks a minute. Beyond a cap the channel is closed (a host decides
    what it sends, not how much we hold).
    """

    def __init__(self, max_stdout: int, max_stderr: int):
        self.stdout, self.stderr = bytearray(), bytearray()
        self.caps = {None: max_stdout, asyncssh.EXTENDED_DATA_STDERR: max_stderr}
        self.too_large = False
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.channel: asyncssh.SSHClientChannel | None = None

    def connection_made(self, chan: asyncssh.SSHClientChannel) -> None:
        self.channel = chan

    def data_received(self, data: bytes, datatype: int | None) -> None:
        into = self.stderr if datatype == asyncssh.EXTENDED_DATA_STDERR else self.stdout
        room = self.caps.get(datatype, 0) - len(into)
        if len(data) > room:
            into += data[: max(room, 0)]
            self.too_large = True
            self.channel.close()
        else:
            into += data

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


def _output(stdout: bytearray, stderr: bytearray, exit_status: int | None, **flags) -> Output:
    return Output(stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"), exit_status, **flags)
