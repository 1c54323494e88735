"""A fleet of sandbox SSH servers: many asyncssh hosts in one process, each on its own loopback address.

Each host listens on its own 127.x.y.z address (Linux routes all of 127.0.0.0/8 to ``lo``), on a
port common to the fleet, with its own ed25519 host key. It accepts the fleet's client key(s)
only, and answers the health probe's commands from its settable ``HostState`` (see
``sandbox.ssh.commands`` for the exact output formats):

- ``NORMAL``          answers at once;
- ``UNREACHABLE``     has no listener, so a connect is refused;
- ``SLOW``            answers each command after ``delay_s`` (also authentication if ``delay_handshake``);
- ``WRONG_HOST_KEY``  presents another key than the one in ``known_hosts`` / ``SshHost.public_key``.

The fleet runs its own event loop in a background thread, so sync tests, benchmarks and other
processes (over the network) can use it::

    with SshFleet() as fleet:
        host = fleet.add_host(state=HostState.disk_nearly_full())
        # SSH_PRIVATE_KEY_PATH=fleet.client_key_path, SSH_KNOWN_HOSTS=fleet.known_hosts_path
        fleet.set_mode(host.address, SshMode.UNREACHABLE)

Change ``mode`` through ``set_state`` / ``set_mode`` (they open or close listeners), or call
``sync()`` after changing it in place; the other fields of a host's ``state`` are read at each
command and may be changed in place.

``python -m sandbox.ssh.serve --hosts 10000`` serves a fleet to other processes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import resource
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from process.embedded import free_port
from sandbox.ssh.commands import run_line
from sandbox.ssh.hoststate import HostState, SshMode

log = logging.getLogger(__name__)

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
FIRST_ADDRESS = "127.1.0.1"  # 127.0.0.x is left to the other sandbox services and to clients
SERVER_VERSION = "OpenSSH_8.9p1 Ubuntu-3ubuntu0.10"  # what a stock Ubuntu 22.04 host announces
SPARE_FILES = 1024  # open files kept free beyond one listener per host: connections, logs, the rest


@dataclass
class HostCounters:
    connections: int = 0  # TCP connections accepted (whatever became of them)
    auth_failures: int = 0  # client public keys rejected
    commands: Counter = field(default_factory=Counter)  # command line -> times run

    @property
    def commands_run(self) -> int:
        return sum(self.commands.values())

    def add(self, other: HostCounters) -> None:
        self.connections += other.connections
        self.auth_failures += other.auth_failures
        self.commands.update(other.commands)


@dataclass(eq=False)
class SshHost:
    address: str
    port: int
    state: HostState
    host_key: asyncssh.SSHKey  # private; its public half is what known_hosts and pins hold
    counters: HostCounters = field(default_factory=HostCounters)
    impostor_key: asyncssh.SSHKey | None = None  # presented in WRONG_HOST_KEY mode
    listener: asyncssh.SSHAcceptor | None = field(default=None, repr=False)
    listening_key: asyncssh.SSHKey | None = field(default=None, repr=False)
    connections: set = field(default_factory=set, repr=False)

    @property
    def public_key(self) -> str:
        """OpenSSH one-line public host key, e.g. ``ssh-ed25519 AAAAC3Nz…``, for pinning."""
        return self.host_key.export_public_key("openssh").decode().strip()

    @property
    def known_hosts_line(self) -> str:
        name = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        return f"{name} {self.public_key}"

    @property
    def listening(self) -> bool:
        return self.listener is not None


class _HostServer(asyncssh.SSHServer):
    """One accepted connection to ``host``: counts it and checks the client's key."""

    def __init__(self, host: SshHost, authorized: set[bytes]):
        self.host = host
        self.authorized = authorized
        self.conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.host.counters.connections += 1
        self.host.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        self.host.connections.discard(self.conn)

    async def begin_auth(self, username: str) -> bool:
        state = self.host.state
        if state.mode == SshMode.SLOW and state.delay_handshake:
            await asyncio.sleep(state.delay_s)
        return True  # every user must authenticate

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if key.public_data in self.authorized:
            return True
        self.host.counters.auth_failures += 1
        return False


async def _answer(host: SshHost, process: asyncssh.SSHServerProcess) -> None:
    """Run one exec channel's command against the host's state; nothing touches the real machine."""
    command = process.command or ""
    host.counters.commands[command] += 1
    state = host.state
    if state.mode == SshMode.SLOW and state.delay_s > 0:
        await asyncio.sleep(state.delay_s)
    result = run_line(command, state, host_id=host.address)
    try:
        process.stdout.write(result.stdout)
        process.stderr.write(result.stderr)
        process.exit(result.exit_status)
    except (OSError, asyncssh.Error):
        pass  # the client gave up (e.g. its timeout was shorter than our delay)


class SshFleet:
    """Sandbox SSH hosts on loopback addresses, served from one background event loop.

    Parameters: ``directory`` for the client key and known_hosts (a temporary one, removed at
    ``stop``, when omitted); ``port`` shared by every host (0: a free one, chosen now);
    ``first_address`` where automatic addresses start; ``server_version`` announced in the banner.
    """

    def __init__(
        self,
        directory: str | os.PathLike | None = None,
        port: int = 0,
        first_address: str = FIRST_ADDRESS,
        server_version: str = SERVER_VERSION,
    ):
        self._tempdir = None if directory else tempfile.TemporaryDirectory(prefix="ssh-fleet-")
        self.directory = Path(directory or self._tempdir.name)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._next_address = ipaddress.ip_address(_check_address(first_address))
        self.port = port or free_port(first_address)
        self.server_version = server_version
        self.hosts: dict[str, SshHost] = {}
        self._lock = threading.RLock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

        self.client_key = asyncssh.generate_private_key("ssh-ed25519", comment="scheduler-sandbox")
        self.client_key_path = self.directory / "id_ed25519"
        self.client_key.write_private_key(self.client_key_path)
        self.client_key_path.chmod(0o600)  # ssh clients refuse keys others can read
        self.client_key.write_public_key(self.directory / "id_ed25519.pub")
        self._authorized = {self.client_key.public_data}
        self.known_hosts_path = self.directory / "known_hosts"
        self._write_known_hosts()

    # --- client keys ---------------------------------------------------------------------

    @property
    def client_public_key(self) -> str:
        return self.client_key.export_public_key("openssh").decode().strip()

    def authorize_client_key(self, public_key: str | asyncssh.SSHKey) -> None:
        """Accept another client key on every host (an ``authorized_keys`` line or a key)."""
        key = asyncssh.import_public_key(public_key) if isinstance(public_key, str) else public_key
        self._authorized.add(key.public_data)

    # --- hosts -----------------------------------------------------------------------------

    def add_host(self, address: str | None = None, state: HostState | None = None) -> SshHost:
        return self.add_hosts(
            1, addresses=[address] if address else None, make_state=(lambda: state) if state else HostState
        )[0]

    def add_hosts(self, count: int, addresses: list[str] | None = None, make_state=HostState) -> list[SshHost]:
        """Add ``count`` hosts (at ``addresses``, or the next free ones), listening at once if started."""
        with self._lock:
            if addresses is None:
                addresses = [self._allocate_address() for _ in range(count)]
            if len(addresses) != count:
                raise ValueError(f"{count} hosts but {len(addresses)} addresses")
            addresses = [_check_address(a) for a in addresses]
            taken = [a for a in addresses if a in self.hosts] or [a for a, n in Counter(addresses).items() if n > 1]
            if taken:
                raise ValueError(f"address already in the fleet: {', '.join(sorted(set(taken))[:5])}")
            _ensure_open_files(len(self.hosts) + count)
            added = [
                SshHost(a, self.port, make_state(), asyncssh.generate_private_key("ssh-ed25519")) for a in addresses
            ]
            for host in added:
                self.hosts[host.address] = host
            with self.known_hosts_path.open("a") as known_hosts:
                known_hosts.writelines(host.known_hosts_line + "\n" for host in added)
        if self.running:
            self._call(self._sync_listeners(added))
        return added

    def remove_host(self, address: str) -> None:
        """Forget a host: close its listener and connections, drop it from known_hosts."""
        with self._lock:
            host = self.hosts.pop(address)
            self._write_known_hosts()
        if self.running:
            self._call(self._close_host(host))

    def host(self, address: str) -> SshHost:
        return self.hosts[address]

    # --- runtime control -------------------------------------------------------------------

    def set_state(self, address: str, state: HostState) -> SshHost:
        """Replace a host's whole state; its listener follows the new mode before this returns."""
        host = self.hosts[address]
        host.state = state
        if self.running:
            self._call(self._sync_listeners([host]))
        return host

    def set_mode(self, address: str, mode: SshMode, delay_s: float | None = None) -> SshHost:
        host = self.hosts[address]
        host.state.mode = SshMode(mode)
        if delay_s is not None:
            host.state.delay_s = delay_s
        return self.set_state(address, host.state)

    def replace_host_key(self, address: str, *, drop_connections: bool = False) -> SshHost:
        """The host gets a new host key, as after a reinstall or an attacker in the middle. Its open
        connections stay up (sshd reloaded: sessions survive) unless ``drop_connections`` (sshd
        restarted); known_hosts is NOT rewritten: clients still trust the old key."""
        host = self.hosts[address]
        host.host_key = asyncssh.generate_private_key("ssh-ed25519")
        if self.running:
            self._call(self._relisten(host, drop_connections))
        return host

    def drop_connections(self, address: str) -> int:
        """Abort the host's open connections, listener kept (a network blip, a killed sshd child)."""
        host = self.hosts[address]
        connections = list(host.connections)
        if self.running:
            self._call(self._abort(connections))
        return len(connections)

    def sync(self, addresses: list[str] | None = None) -> None:
        """Make listeners follow modes changed in place (``host.state.mode = …``) or by swapping states."""
        if self.running:
            hosts = list(self.hosts.values()) if addresses is None else [self.hosts[a] for a in addresses]
            self._call(self._sync_listeners(hosts))

    def totals(self) -> HostCounters:
        total = HostCounters()
        for host in list(self.hosts.values()):
            total.add(host.counters)
        return total

    def reset_counters(self) -> None:
        for host in list(self.hosts.values()):
            host.counters = HostCounters()

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._loop is not None and self._loop.is_running()

    def start(self, timeout: float = 600.0) -> SshFleet:
        if self._thread is not None:
            raise RuntimeError("an SshFleet starts once; make a new one")
        _ensure_open_files(len(self.hosts))
        self._loop = asyncio.new_event_loop()
        started = threading.Event()
        self._thread = threading.Thread(target=self._run_loop, args=(started,), name="ssh-fleet", daemon=True)
        self._thread.start()
        started.wait(10)
        try:
            self._call(self._sync_listeners(list(self.hosts.values())), timeout)
        except BaseException:
            self.stop()  # e.g. an address already in use: leave no thread or listener behind
            raise
        return self

    def stop(self) -> None:
        if self.running:
            self._call(self._close_all())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
        if self._tempdir is not None:
            self._tempdir.cleanup()

    def __enter__(self) -> SshFleet:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- inside the fleet's loop -------------------------------------------------------------

    def _run_loop(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(started.set)
        self._loop.run_forever()

    def _call(self, coro, timeout: float = 600.0):
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("SshFleet's sync methods cannot be called from the fleet's own loop")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _sync_listeners(self, hosts: list[SshHost]) -> None:
        # A few dozen at a time: asyncssh builds each listener's options in a worker thread.
        for start in range(0, len(hosts), 50):
            await asyncio.gather(*(self._sync_listener(host) for host in hosts[start : start + 50]))

    async def _sync_listener(self, host: SshHost) -> None:
        """Make the host's listener match its mode: none, its own key, or an impostor key."""
        if host.state.mode == SshMode.UNREACHABLE:
            return await self._close_host(host)
        if host.state.mode == SshMode.WRONG_HOST_KEY:
            host.impostor_key = host.impostor_key or asyncssh.generate_private_key("ssh-ed25519")
        key = host.impostor_key if host.state.mode == SshMode.WRONG_HOST_KEY else host.host_key
        if host.listening_key is not key:
            await self._close_host(host)
            host.listener = await self._listen(host, key)
            host.listening_key = key

    async def _listen(self, host: SshHost, key: asyncssh.SSHKey) -> asyncssh.SSHAcceptor:
        try:
            return await asyncssh.listen(
                host.address,
                host.port,
                reuse_address=True,
                backlog=128,
                server_host_keys=[key],
                server_version=self.server_version,
                server_factory=lambda: _HostServer(host, self._authorized),
                process_factory=lambda process: _answer(host, process),
                encoding="utf-8",
                gss_host=None,
            )
        except OSError as exc:
            raise OSError(
                exc.errno, f"SSH fleet host {host.address}:{host.port} cannot listen: {exc.strerror}"
            ) from exc

    async def _relisten(self, host: SshHost, drop_connections: bool) -> None:
        if host.listener is not None:
            host.listener.close()
            host.listener, host.listening_key = None, None
        if drop_connections:
            await self._abort(list(host.connections))
        if host.state.mode == SshMode.NORMAL or host.state.mode == SshMode.SLOW:
            host.listener = await self._listen(host, host.host_key)  # not _sync_listener: it drops connections
            host.listening_key = host.host_key

    async def _abort(self, connections: list) -> None:
        for conn in connections:
            conn.abort()

    async def _close_host(self, host: SshHost) -> None:
        """Nothing listening any more, and no connection left open: a host that went away."""
        if host.listener is not None:
            host.listener.close()
            host.listener, host.listening_key = None, None
        for conn in list(host.connections):
            conn.abort()

    async def _close_all(self) -> None:
        for host in list(self.hosts.values()):
            await self._close_host(host)
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # --- helpers ---------------------------------------------------------------------------

    def _allocate_address(self) -> str:
        while True:
            address = self._next_address
            self._next_address += 1
            if address not in LOOPBACK:
                raise ValueError("ran out of loopback addresses")
            # x.y.z.0 and x.y.z.255 work on lo but read like network/broadcast addresses: skip them.
            if str(address) not in self.hosts and address.packed[3] not in (0, 255):
                return str(address)

    def _write_known_hosts(self) -> None:
        """Rewrite known_hosts atomically: clients may be reading it right now."""
        scratch = self.known_hosts_path.with_suffix(".tmp")
        scratch.write_text("".join(host.known_hosts_line + "\n" for host in self.hosts.values()))
        os.replace(scratch, self.known_hosts_path)


def _check_address(address: str) -> str:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"SSH fleet hosts need an IPv4 loopback address, got {address!r}") from None
    if parsed not in LOOPBACK:
        raise ValueError(f"the SSH fleet listens on loopback (127.0.0.0/8) only, got {address}")
    if str(parsed) in ("127.0.0.0", "127.0.0.1", "127.255.255.255"):
        raise ValueError(f"{address} is reserved (localhost, network or broadcast): use 127.1.0.1 and up")
    return str(parsed)


def _ensure_open_files(hosts: int) -> None:
    """One listening socket per host: raise the soft open-files limit to the hard one if needed."""
    needed = hosts + SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise RuntimeError(
            f"{hosts} SSH fleet hosts need about {needed} open files (a listening socket each, plus "
            f"{SPARE_FILES} for connections and the rest) but the hard limit is {hard}: raise it "
            f"(ulimit -Hn, LimitNOFILE=, docker --ulimit nofile=) or start fewer hosts"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    log.info("raised the open-files limit from %s to %s for %s SSH hosts", soft, hard, hosts)
