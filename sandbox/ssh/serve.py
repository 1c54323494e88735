"""Serve a sandbox SSH fleet to other processes, or measure how fast a big one starts.

    python -m sandbox.ssh.serve --hosts 300 --port 2222 --dir /tmp/fleet   # serve until Ctrl-C
    python -m sandbox.ssh.serve --hosts 10000 --measure                     # print figures, exit

It prints ``SSH_PRIVATE_KEY_PATH`` and ``SSH_KNOWN_HOSTS`` for the scheduler to use.
"""

from __future__ import annotations

from process.noise import quiet_asyncssh_dsa

quiet_asyncssh_dsa()  # before anything imports asyncssh: process/noise.py

import argparse
import asyncio
import os
import resource
import signal
import threading
import time
from pathlib import Path

import asyncssh

from sandbox.ssh.fleet import FIRST_ADDRESS, SshFleet, SshHost


def _rss_mb() -> float:
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # peak, not current


async def _probe_all(fleet: SshFleet, hosts: list[SshHost]) -> list[str]:
    """Run ``echo ok`` once on each host, all at once, as the health probe would."""
    known_hosts = asyncssh.read_known_hosts(str(fleet.known_hosts_path))  # parse 10,000 lines once, not per connect

    async def probe(host: SshHost) -> str:
        async with asyncssh.connect(
            host.address,
            host.port,
            username="probe",
            known_hosts=known_hosts,
            client_keys=[str(fleet.client_key_path)],
            agent_path=None,
            config=None,
            connect_timeout=60,
        ) as conn:
            return (await conn.run("echo ok", check=True)).stdout

    return await asyncio.gather(*(probe(host) for host in hosts))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.ssh.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100, help="how many healthy hosts to serve")
    parser.add_argument("--port", type=int, default=0, help="common port (default: a free one)")
    parser.add_argument("--dir", help="where to write the client key and known_hosts (default: temporary)")
    parser.add_argument("--measure", action="store_true", help="print startup figures, probe some hosts, exit")
    parser.add_argument(
        "--first-address",
        default=FIRST_ADDRESS,
        help="where this fleet's addresses start (several fleet processes side by side)",
    )
    parser.add_argument("--authorize", type=Path, help="a client public key file to accept besides the fleet's own")
    args = parser.parse_args(argv)

    rss_before, started_at = _rss_mb(), time.perf_counter()
    fleet = SshFleet(args.dir, port=args.port, first_address=args.first_address)
    if args.authorize:
        fleet.authorize_client_key(args.authorize.read_text())
    hosts = fleet.add_hosts(args.hosts)
    keyed_at = time.perf_counter()
    fleet.start()
    listening_at = time.perf_counter()
    print(
        f"{len(hosts)} hosts on {hosts[0].address}..{hosts[-1].address} port {fleet.port}: "
        f"keys + known_hosts {keyed_at - started_at:.2f} s, listeners {listening_at - keyed_at:.2f} s, "
        f"total {listening_at - started_at:.2f} s; memory +{_rss_mb() - rss_before:.0f} MiB (RSS {_rss_mb():.0f} MiB)"
    )
    print(f"SSH_PRIVATE_KEY_PATH={fleet.client_key_path}\nSSH_KNOWN_HOSTS={fleet.known_hosts_path}", flush=True)
    try:
        if args.measure:
            sample = hosts[:: max(1, len(hosts) // 200)]
            probe_started = time.perf_counter()
            answers = asyncio.run(_probe_all(fleet, sample))
            print(
                f"probed {len(sample)} hosts concurrently (connect, auth, echo ok) in "
                f"{time.perf_counter() - probe_started:.2f} s: {answers.count('ok' + chr(10))} answered ok"
            )
        else:

            def counts(*_):  # SIGUSR1: what the fleet accepted and ran so far (a benchmark's logins count)
                totals = fleet.totals()
                print(f"COUNTS connections={totals.connections} commands={totals.commands_run}", flush=True)

            signal.signal(signal.SIGUSR1, counts)
            threading.Event().wait()  # serve until Ctrl-C
    except KeyboardInterrupt:
        pass
    finally:
        fleet.stop()


if __name__ == "__main__":
    main()
