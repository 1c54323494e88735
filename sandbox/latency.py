"""A loopback latency shim: a TCP proxy that delays every segment by a fixed one-way time.

tc/netem is not available on the benchmark machines, so latency is emulated in user space: for
each route the proxy listens on one address and relays to a target, holding every chunk it reads
for ``one_way_s`` before writing it on (in both directions, order preserved: the delay is the same
for every chunk of a direction, so one FIFO in due order serves every connection). EOF and close travel the same
way, after the data ahead of them.

The TCP handshake is emulated too: the client's ``connect()`` returns at once (the kernel accepts),
but the proxy opens the upstream connection only after three one-way trips (SYN, SYN-ACK, ACK), so
the server accepts — and sends its first byte — 1.5 RTT after the client started, as on a real link.
A route may add ``answer_delay_s`` to that: a host that answers late (loaded, swapping, far away).

One process serves thousands of routes (one listening socket each). It is written against asyncio's
protocol API (no streams, one timer for the whole proxy) because on a
2-core machine its CPU is taken from the processes being measured; ``python -m sandbox.latency``
prints its own CPU time on exit so a benchmark can say what it cost.

    python -m sandbox.latency --known-hosts FLEET/known_hosts --dir OUT --rtt-ms 50 --slow-every 100

reads an SSH fleet's known_hosts, listens for each host ``H`` on ``H`` + 0.1.0.0 (127.1.x.y ->
127.2.x.y, same port), writes ``OUT/known_hosts`` naming the proxy addresses with the same keys,
prints ``SSH_KNOWN_HOSTS=...`` and ``READY``, and relays until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import ipaddress
import os
import resource
import signal
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

_EOF, _CLOSE = object(), object()  # markers queued behind the data, so they keep its order
ADDRESS_SHIFT = 1 << 16  # 127.1.x.y -> 127.2.x.y
READ_BUFFER = 256 * 1024


@dataclass(frozen=True)
class Route:
    listen_host: str
    listen_port: int
    target_host: str
    target_port: int
    answer_delay_s: float = 0.0  # extra time before the upstream accepts (a host slow to answer)


class _Clock:
    """Every delayed delivery of the proxy in ONE FIFO with ONE timer.

    The delay is the same for every chunk, so the FIFO is in due order and a single timer at its head
    serves all connections: no timer object per chunk. A flush runs ``GATHER_S`` after the head is due,
    so chunks due together leave in one write (each chunk is late by at most that, never early).
    """

    GATHER_S = 0.001

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float):
        self.loop, self.delay = loop, delay
        self.queue: collections.deque = collections.deque()
        self.timer: asyncio.TimerHandle | None = None

    def push(self, writer: _DelayedWriter, item) -> None:
        due = self.loop.time() + self.delay
        self.queue.append((due, writer, item))
        if self.timer is None:
            self.timer = self.loop.call_at(due + self.GATHER_S, self.flush)

    def flush(self) -> None:
        self.timer = None
        now, queue, touched = self.loop.time(), self.queue, {}
        while queue and queue[0][0] <= now:
            _, writer, item = queue.popleft()
            writer.outbox.append(item)
            touched[writer] = None
        for writer in touched:
            writer.deliver()
        if queue:
            self.timer = self.loop.call_at(queue[0][0] + self.GATHER_S, self.flush)

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class _DelayedWriter:
    """One direction of a relayed connection: what the clock hands it, written to ``transport`` in order."""

    __slots__ = ("clock", "outbox", "transport")

    def __init__(self, clock: _Clock):
        self.clock = clock
        self.outbox: list = []  # due items not written yet (all of them while the far side is not connected)
        self.transport: asyncio.Transport | None = None

    def feed(self, item) -> None:
        self.clock.push(self, item)

    def attach(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.deliver()

    def deliver(self) -> None:
        if self.transport is None or not self.outbox:
            return
        items, self.outbox, chunks = self.outbox, [], []
        for item in items:
            if item is _EOF or item is _CLOSE:
                self._write(chunks)
                chunks = []
                if item is _CLOSE:
                    self.transport.close()
                    return
                if self.transport.can_write_eof() and not self.transport.is_closing():
                    try:
                        self.transport.write_eof()
                    except OSError:  # the peer is already gone: nothing left to half-close
                        self.transport.close()
                        return
            else:
                chunks.append(item)
        self._write(chunks)

    def _write(self, chunks: list[bytes]) -> None:
        if chunks and not self.transport.is_closing():
            self.transport.write(b"".join(chunks) if len(chunks) > 1 else chunks[0])


class _Side(asyncio.Protocol):
    """One end of a relayed connection: what it reads goes, delayed, to ``out`` (the other end's writer)."""

    def __init__(self, out: _DelayedWriter, inbound: _DelayedWriter):
        self.out, self.inbound = out, inbound  # inbound: the writer that writes to this side's transport
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:  # latency is ours to add: no Nagle on top of it
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.set_write_buffer_limits(high=4 * READ_BUFFER)
        self.inbound.attach(transport)

    def data_received(self, data: bytes) -> None:
        self.out.feed(data)

    def eof_received(self) -> bool:
        self.out.feed(_EOF)
        return True  # keep the other direction open (a half-close)

    def connection_lost(self, exc: Exception | None) -> None:
        self.out.feed(_CLOSE)


class LatencyProxy:
    """Relays each route with ``one_way_s`` added to every segment in each direction.

    Use inside an event loop (``await proxy.start()`` / ``proxy.close()``), or from sync code in a
    background thread (``with LatencyProxy(...).running(): ...``).
    """

    def __init__(self, routes: list[Route], one_way_s: float):
        self.routes, self.one_way_s = routes, one_way_s
        self.servers: list[asyncio.Server] = []
        self.connections = 0
        self.clock: _Clock | None = None

    async def start(self) -> LatencyProxy:
        loop = asyncio.get_running_loop()
        self.clock = _Clock(loop, self.one_way_s)
        for route in self.routes:
            self.servers.append(
                await loop.create_server(
                    lambda route=route: self._accept(loop, route),
                    route.listen_host,
                    route.listen_port,
                    reuse_address=True,
                    backlog=1024,
                )
            )
        return self

    def _accept(self, loop: asyncio.AbstractEventLoop, route: Route) -> _Side:
        self.connections += 1
        to_client, to_server = _DelayedWriter(self.clock), _DelayedWriter(self.clock)
        client = _Side(out=to_server, inbound=to_client)
        # SYN, SYN-ACK, ACK: the server accepts 1.5 RTT after the client's connect, plus a slow host's delay
        loop.call_later(
            3 * self.one_way_s + route.answer_delay_s, self._open_upstream, loop, route, to_client, to_server, client
        )
        return client

    def _open_upstream(
        self, loop, route: Route, to_client: _DelayedWriter, to_server: _DelayedWriter, client: _Side
    ) -> None:
        if client.transport is None or client.transport.is_closing():
            return  # the client gave up before the handshake completed

        async def connect() -> None:
            try:
                await loop.create_connection(
                    lambda: _Side(out=to_client, inbound=to_server), route.target_host, route.target_port
                )
            except OSError:  # nothing listens there: the client sees the connection reset
                client.transport.abort()

        loop.create_task(connect())

    def close(self) -> None:
        for server in self.servers:
            server.close()
        if self.clock is not None:
            self.clock.close()

    def running(self) -> _Background:
        return _Background(self)


class _Background:
    """Runs a ``LatencyProxy`` on its own event loop in a daemon thread (for sync tests)."""

    def __init__(self, proxy: LatencyProxy):
        self.proxy = proxy
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="latency-proxy", daemon=True)

    def __enter__(self) -> LatencyProxy:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self.loop).result(60)
        return self.proxy

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.proxy.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


# --------------------------------------------------------------------------- in front of an SSH fleet


def shifted(address: str) -> str:
    """The proxy's address for a fleet host: the next /16 (127.1.x.y -> 127.2.x.y)."""
    return str(ipaddress.ip_address(address) + ADDRESS_SHIFT)


def fleet_routes(known_hosts: Path, slow_every: int = 0, slow_s: float = 0.0) -> tuple[list[Route], list[str]]:
    """A route per ``[address]:port`` line of a fleet's known_hosts, and the proxy's known_hosts lines.

    Every ``slow_every``-th host (the 100th, 200th... with ``slow_every=100``: 1 %) answers ``slow_s`` late.
    """
    routes, lines = [], []
    for index, line in enumerate(known_hosts.read_text().splitlines(), start=1):
        name, key = line.split(" ", 1)
        address, port = name[1:].split("]:")
        slow = slow_every and index % slow_every == 0
        routes.append(Route(shifted(address), int(port), address, int(port), slow_s if slow else 0.0))
        lines.append(f"[{shifted(address)}]:{port} {key}")
    return routes, lines


def _raise_open_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _serve(routes: list[Route], one_way_s: float) -> LatencyProxy:
    proxy = await LatencyProxy(routes, one_way_s).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("READY", flush=True)
    await stop.wait()
    proxy.close()
    return proxy


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.latency", description=__doc__.splitlines()[0])
    parser.add_argument("--known-hosts", type=Path, required=True, help="the SSH fleet's known_hosts")
    parser.add_argument("--dir", type=Path, required=True, help="where to write the proxy's known_hosts")
    parser.add_argument("--rtt-ms", type=float, default=50.0, help="round-trip time to add")
    parser.add_argument("--slow-every", type=int, default=0, help="every Nth host answers late (0: none)")
    parser.add_argument("--slow-s", type=float, default=2.0, help="how late those hosts answer")
    args = parser.parse_args(argv)
    _raise_open_files()
    routes, lines = fleet_routes(args.known_hosts, args.slow_every, args.slow_s)
    args.dir.mkdir(parents=True, exist_ok=True)
    (args.dir / "known_hosts").write_text("".join(line + "\n" for line in lines))
    print(f"SSH_KNOWN_HOSTS={args.dir / 'known_hosts'}", flush=True)
    proxy = asyncio.run(_serve(routes, args.rtt_ms / 2000))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"connections={proxy.connections} cpu_s={usage.ru_utime + usage.ru_stime:.2f}", flush=True)
    os._exit(0)  # 10,000 listening sockets: let the kernel close them


if __name__ == "__main__":
    main()
