"""The platform client's CPU per request when many are in flight, beside httpx's one-client pools.

A health_checker worker sends two platform writes per answered check (``PATCH /api/servers/{handle}``
and ``POST …/metrics-history``), many batches of up to 16 at once: thousands a tick. This bench sends
``--requests`` PATCHes with ``--in-flight`` at once to a loopback HTTP server in another process (so
only the client's CPU is counted) and compares, with the same body and headers:
- ours: ``PlatformClient._request`` (retries, headers, logging included) on its ``LentClients`` of
  ``PLATFORM_CONNECTIONS`` (32) one-connection httpx clients;
- httpx, one client, default limits (100 connections, 20 kept): how the platform client was built before;
- httpx, one client, 32 connections all kept: the one-client pool at its best for this load.

Each round runs every side once, in a rotating order; the figures are medians of ``--rounds`` with
min–max.

    .venv/bin/python bench/platform_writes.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import uvicorn
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from kit import machine, ratio  # noqa: E402

from actors.adapters.platform.client import PlatformClient  # noqa: E402
from process.embedded import free_port  # noqa: E402
from process.logs import configure_logging  # noqa: E402

BODY = {"last_health_check": "2026-12-06T10:00:00Z", "disk_used_pct": 41.5, "load_1m": 0.12}
KEY = "bench-key"


async def answer(scope, receive, send) -> None:
    """A platform stand-in that answers every write at once: its CPU is its own process's."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send(
        {"type": "http.response.body", "body": json.dumps({"handle": scope["path"].rsplit("/", 1)[-1]}).encode()}
    )


def serve(port: int) -> None:
    uvicorn.run(answer, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")


async def send_all(request, n: int, in_flight: int) -> tuple[float, float]:
    """(client CPU ms per request, wall s) for ``n`` requests, ``in_flight`` at once."""
    gate = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        async with gate:
            await request(f"/api/servers/srv-{i % 5000}")

    await asyncio.gather(*(one(i) for i in range(200)))  # connections made, code warm
    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.gather(*(one(i) for i in range(n)))
    return (time.process_time() - cpu) / n * 1000, time.monotonic() - wall


async def ours(url: str, n: int, in_flight: int) -> tuple[float, float]:
    client = PlatformClient(url, SecretStr(KEY), max_connections=32)
    try:
        return await send_all(lambda path: client._request("PATCH", path, body=BODY), n, in_flight)
    finally:
        await client.aclose()


def one_httpx(limits: httpx.Limits):
    async def side(url: str, n: int, in_flight: int) -> tuple[float, float]:
        content = json.dumps(BODY).encode()
        headers = {"X-Internal-Key": KEY, "Content-Type": "application/json"}
        async with httpx.AsyncClient(base_url=url, limits=limits) as client:

            async def request(path: str) -> None:
                response = await client.request("PATCH", path, content=content, headers=headers)
                response.raise_for_status()
                response.json()

            return await send_all(request, n, in_flight)

    return side


SIDES = {
    "ours: PlatformClient, 32 one-connection clients": ours,
    "httpx, one client, default limits (100, 20 kept)": one_httpx(httpx.Limits()),
    "httpx, one client, 32 connections kept": one_httpx(httpx.Limits(max_connections=32, max_keepalive_connections=32)),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the server's own process
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--in-flight", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return 0
    configure_logging("json", "INFO")  # as a worker logs: the per-request debug line is built, then dropped
    port = free_port("127.0.0.1")
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.1)
        names = list(SIDES)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
        for round_ in range(args.rounds):
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                samples[name].append(asyncio.run(SIDES[name](url, args.requests, args.in_flight)))
    finally:
        server.terminate()
        server.wait(10)
    print(
        f"platform writes: {args.requests} PATCHes, {args.in_flight} in flight, loopback server in its own "
        f"process; medians of {args.rounds} (min–max); {machine()}"
    )
    print(f"{'side':52} {'client CPU ms/request':>24} {'wall s':>20} {'CPU vs ours':>12}")
    ours_cpu = statistics.median(cpu for cpu, _ in samples[names[0]])
    for name in names:
        cpus, walls = [c for c, _ in samples[name]], [w for _, w in samples[name]]
        cpu = f"{statistics.median(cpus):.3f} ({min(cpus):.3f}–{max(cpus):.3f})"
        wall = f"{statistics.median(walls):.2f} ({min(walls):.2f}–{max(walls):.2f})"
        print(f"{name:52} {cpu:>24} {wall:>20} {ratio(statistics.median(cpus), ours_cpu):>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
