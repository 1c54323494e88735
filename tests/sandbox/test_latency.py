"""The latency shim relays bytes unchanged and in order, never sooner than its delay, EOF included."""

from __future__ import annotations

import asyncio
import os
import time

import asyncssh

from process.embedded import free_port
from sandbox.latency import LatencyProxy, Route, fleet_routes, shifted
from sandbox.ssh.fleet import SshFleet

ONE_WAY_S = 0.05


async def _echo_until_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers the whole request once the client half-closes, then closes: EOF must travel too."""
    data = await reader.read()
    writer.write(data[::-1])
    await writer.drain()
    writer.close()


async def _through_proxy(payload: bytes, answer_delay_s: float = 0.0) -> tuple[bytes, float, float]:
    target_port, listen_port = free_port("127.0.0.1"), free_port("127.0.0.2")
    server = await asyncio.start_server(_echo_until_eof, "127.0.0.1", target_port)
    proxy = await LatencyProxy(
        [Route("127.0.0.2", listen_port, "127.0.0.1", target_port, answer_delay_s)], ONE_WAY_S
    ).start()
    try:
        started = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.2", listen_port)
        for start in range(0, len(payload), 65_536):  # many segments: their order must hold
            writer.write(payload[start : start + 65_536])
        writer.write_eof()
        first = await reader.read(1)
        first_at = time.monotonic() - started
        answer = first + await reader.read()
        writer.close()
        return answer, first_at, time.monotonic() - started
    finally:
        proxy.close()
        server.close()


def test_relays_every_byte_in_order_and_eof_both_ways():
    payload = os.urandom(3 * 1024 * 1024 + 17)
    answer, _, _ = asyncio.run(_through_proxy(payload))
    assert answer == payload[::-1]


def test_an_answer_takes_at_least_the_emulated_handshake_and_round_trip():
    # as on a real link: the server accepts after 3 one-way trips (SYN, SYN-ACK, ACK), the request
    # (sent after the SYN-ACK) arrives with the ACK, and the answer takes one more trip back
    _, first_at, _ = asyncio.run(_through_proxy(b"ping"))
    assert first_at >= 4 * ONE_WAY_S


def test_a_slow_route_answers_late():
    _, first_at, _ = asyncio.run(_through_proxy(b"ping", answer_delay_s=0.3))
    assert first_at >= 0.3 + 4 * ONE_WAY_S


def test_nothing_listening_behind_the_proxy_ends_the_client_connection():
    async def attempt() -> bytes:
        listen_port = free_port("127.0.0.2")
        proxy = await LatencyProxy(
            [Route("127.0.0.2", listen_port, "127.0.0.1", free_port("127.0.0.1"))], ONE_WAY_S
        ).start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.2", listen_port)
            try:
                return await asyncio.wait_for(reader.read(), 5)
            except ConnectionResetError:
                return b""
            finally:
                writer.close()
        finally:
            proxy.close()

    assert asyncio.run(attempt()) == b""


def test_an_ssh_check_works_through_the_proxy_with_the_fleets_keys(tmp_path):
    with SshFleet() as fleet:
        fleet.add_hosts(2)
        routes, lines = fleet_routes(fleet.known_hosts_path, slow_every=2, slow_s=0.2)
        assert [r.listen_host for r in routes] == [shifted(h) for h in fleet.hosts]
        assert [r.answer_delay_s for r in routes] == [0.0, 0.2]
        (tmp_path / "known_hosts").write_text("".join(line + "\n" for line in lines))
        with LatencyProxy(routes, ONE_WAY_S).running():

            async def run(route: Route) -> str:
                async with asyncssh.connect(
                    route.listen_host,
                    route.listen_port,
                    username="root",
                    config=None,
                    agent_path=None,
                    known_hosts=str(tmp_path / "known_hosts"),
                    client_keys=[str(fleet.client_key_path)],
                ) as conn:
                    return (await conn.run("echo ok", check=True)).stdout

            assert [asyncio.run(run(route)) for route in routes] == ["ok\n", "ok\n"]
