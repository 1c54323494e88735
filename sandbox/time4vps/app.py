"""A Time4VPS account stand-in serving a ``World``'s servers (client base URL: ``{served.url}/api``).

- ``GET /api/server``: a JSON array of list items, active servers only (the provider's "Lists all
  active servers"); dates as ``2017-01-31`` and ``2017-01-31 15:35:00``.
- ``GET /api/server/{id}``: the details object, without any id, ``synch_date`` in ISO 8601.
- Basic auth. Every refusal is HTTP 401 with ``{"error":[reason,"unauthorized"]}``, byte-for-byte as
  observed: ``wronglogin`` (bad credentials), ``ipnotallowed`` (set ``app.ip_allowed = False``),
  ``["wait_x_between_action",N]`` (``app.throttle(N)``, or calls closer than ``min_interval_s``).
- Unknown server id: 404 ``{"error":["Invalid server ID"]}``. The provider documents no such body; this
  mirrors the message style its PHP library compares against ("Invalid task ID").

Counters: ``app.counters.requests`` by route, and ``app.counters.refusals`` by reason (also at
``GET /_sandbox/counters``).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.http import Counters, Instrumented
from sandbox.world import Server, World


@dataclass
class Time4VpsCounters(Counters):
    refusals: Counter = field(default_factory=Counter)  # wronglogin | ipnotallowed | wait_x_between_action

    def reset(self) -> None:
        super().reset()
        self.refusals.clear()

    def as_dict(self) -> dict:
        return {**super().as_dict(), "refusals": dict(self.refusals)}


class Time4VpsApp(Instrumented):
    """The instrumented ASGI app plus the account's knobs: ``ip_allowed``, ``throttle()``, ``min_interval_s``."""

    def __init__(
        self,
        world: World,
        username: str,
        password: str,
        *,
        min_interval_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.world, self.username, self.password, self.clock = world, username, password, clock
        self.ip_allowed = True
        self.min_interval_s = min_interval_s
        self.throttled_until = 0.0
        self._last_call = -math.inf
        routes = [
            Route("/api/server", self._guarded(self.list_servers)),
            Route("/api/server/", self._guarded(self.list_servers)),  # Time4VPS's PHP library adds the slash
            Route("/api/server/{server_id}", self._guarded(self.server_details)),
        ]
        super().__init__(Starlette(routes=routes), counters=Time4VpsCounters())

    def throttle(self, seconds: int) -> None:
        """Answer ``wait_x_between_action`` for the next ``seconds``."""
        self.throttled_until = self.clock() + seconds

    def _guarded(self, handler: Callable[[Request], Response]):
        async def endpoint(request: Request) -> Response:
            if not self._logged_in(request):
                return self._refuse("wronglogin")
            if not self.ip_allowed:
                return self._refuse("ipnotallowed")
            now = self.clock()
            if self.min_interval_s is not None and now - self._last_call < self.min_interval_s:
                self.throttled_until = max(self.throttled_until, self._last_call + self.min_interval_s)
            if now < self.throttled_until:
                return self._refuse(["wait_x_between_action", math.ceil(self.throttled_until - now)])
            self._last_call = now
            with self.world.lock:
                return handler(request)

        return endpoint

    def _logged_in(self, request: Request) -> bool:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return secrets.compare_digest(user.encode(), self.username.encode()) & secrets.compare_digest(
            password.encode(), self.password.encode()
        )

    def _refuse(self, reason: str | list) -> Response:
        self.counters.refusals[reason if isinstance(reason, str) else reason[0]] += 1
        return _json(401, {"error": [reason, "unauthorized"]})

    def list_servers(self, request: Request) -> Response:
        return _json(200, [list_item(s) for s in self.world.server_list() if s.status == "Active"])

    def server_details(self, request: Request) -> Response:
        try:
            server = self.world.servers[int(request.path_params["server_id"])]
        except (KeyError, ValueError):
            return _json(404, {"error": ["Invalid server ID"]})
        return _json(200, details(server))


def time4vps_app(
    world: World, username: str = "sandbox@example.test", password: str = "sandbox-password", **options
) -> Time4VpsApp:
    """The Time4VPS stand-in for ``world``'s servers; options: ``min_interval_s``, ``clock``."""
    return Time4VpsApp(world, username, password, **options)


def list_item(server: Server) -> dict:
    return {
        "server_id": server.server_id,
        "domain": server.domain,
        "ip": server.public_ip,
        "date_created": server.date_created.isoformat(),
        "synch_date": server.synch_date.strftime("%Y-%m-%d %H:%M:%S"),
        "label": server.label,
        "type": server.type,
    }


def details(server: Server) -> dict:
    """Field order and types as in Time4VPS's example; note there is no id."""
    return {
        "synch_date": server.synch_date.isoformat(timespec="seconds"),
        "package_id": server.package_id,
        "domain": server.domain,
        "label": server.label,
        "status": server.status,
        "cpu_frequency": server.cpu_frequency,
        "cpu_cores": server.cpu_cores,
        "ram_limit": server.ram_mb,
        "ram_used": server.ram_used_mb,
        "disk_limit": server.disk_mb,
        "disk_usage": server.disk_used_mb,
        "bw_limit": server.bandwidth_gb,
        "bw_in": server.bandwidth_gb // 20,
        "bw_out": server.bandwidth_gb // 25,
        "os": server.os,
        "ip": server.public_ip,
        "additional_ip": [],
        "dns_servers": None,
        "components": [{"id": 123, "name": "Daily and weekly backups", "selected": server.cpu_cores > 2}],
        "active_task": None,
        "last_tasks": None,
    }


def _json(status: int, payload: object) -> Response:
    # compact separators: the observed error bodies carry no spaces
    return Response(json.dumps(payload, separators=(",", ":")), status, media_type="application/json")
