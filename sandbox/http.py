"""What every HTTP stand-in shares: serving on loopback, fault injection and request counters.

Each stand-in is an ASGI app wrapped in ``Instrumented``, which
- counts every request by ``METHOD route`` (readable in-process, or at ``GET /_sandbox/counters``),
- injects faults at the configured rates from the first request on (seedable): a 5xx answer, a
  slow answer (a timeout for a client with a shorter one), a malformed body, or a lost answer (the
  request is applied, then answered 504: what a client sees when a proxy gives up on a write that
  went through) (``POST /_sandbox/faults`` sets them out of process); ``counters.faults`` says how
  many fired.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import uvicorn

from process.embedded import free_port


class FaultSchedule:
    """Which requests of one kind of fault get it, at ``rate``: every ``BLOCK`` requests hold the
    expected number of faults (the fraction carried to the next block), at positions drawn from
    a seeded generator. So a test's first ten requests at 20 % see two faults, not "on average,
    eventually": a short test injects what it states, and the same seed injects the same ones."""

    BLOCK = 10

    def __init__(self, rng: random.Random):
        self.rng, self.rate = rng, 0.0
        self._block: list[bool] = []
        self._carry = 0.5  # round to the nearest whole fault per block

    def set_rate(self, rate: float) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"a fault rate is between 0 and 1, not {rate}")
        self.rate, self._block, self._carry = rate, [], 0.5

    def fires(self) -> bool:
        if self.rate <= 0:
            return False
        if not self._block:
            wanted = self.rate * self.BLOCK + self._carry
            count = min(self.BLOCK, int(wanted))
            self._carry = wanted - count
            hits = set(self.rng.sample(range(self.BLOCK), count))
            self._block = [i in hits for i in reversed(range(self.BLOCK))]
        return self._block.pop()


#: the kinds of fault and the setting holding each one's rate
FAULT_RATES = {"5xx": "error_rate", "timeout": "timeout_rate", "malformed": "malformed_rate", "lost": "lost_rate"}
_SETTINGS = (
    "error_rate",
    "timeout_rate",
    "timeout_s",
    "malformed_rate",
    "lost_rate",
    "lost_after_s",
    "methods",
    "seed",
)


@dataclass
class Faults:
    """Fault rates of one stand-in. ``update(error_rate=0.2, malformed_rate=0.1, seed=7)``: each
    kind fires at its rate from the next request on (see ``FaultSchedule``); ``seed`` makes a
    test's faults land on the same requests every time."""

    error_rate: float = 0.0  # share of requests answered 503
    timeout_rate: float = 0.0  # share of requests delayed by ``timeout_s`` before answering
    timeout_s: float = 5.0
    malformed_rate: float = 0.0  # share of requests whose body is cut short / not JSON
    lost_rate: float = 0.0  # share of requests applied, then answered 504 (the answer is lost)
    lost_after_s: float = 0.0  # how long a lost answer keeps the client waiting before the 504
    methods: str = ""  # the HTTP methods faults apply to, comma-separated ("POST,PATCH"); empty: all
    seed: int = 0
    _schedules: dict[str, FaultSchedule] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.update(seed=self.seed)

    def update(self, **values: float) -> None:
        for key, value in values.items():
            if key not in _SETTINGS:
                raise ValueError(f"unknown fault setting {key!r}")
            if key == "methods":
                value = ",".join(m.strip().upper() for m in str(value).split(",") if m.strip())
            setattr(self, key, int(value) if key == "seed" else value if key == "methods" else float(value))
        if "seed" in values:  # each kind its own stream, so changing one rate leaves the others' draws alone
            self._schedules = {kind: FaultSchedule(random.Random(f"{self.seed}:{kind}")) for kind in FAULT_RATES}
        for kind, setting in FAULT_RATES.items():
            if "seed" in values or setting in values:
                self._schedules[kind].set_rate(getattr(self, setting))

    def fires(self, kind: str, method: str = "") -> bool:
        """Whether this request gets a fault of ``kind`` (``5xx``, ``timeout``, ``malformed``, ``lost``);
        a request whose method is not in ``methods`` (when set) gets none and draws nothing."""
        if self.methods and method.upper() not in self.methods.split(","):
            return False
        return self._schedules[kind].fires()

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in _SETTINGS}


@dataclass
class Counters:
    requests: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)

    def total(self) -> int:
        return sum(self.requests.values())

    def reset(self) -> None:
        self.requests.clear()
        self.faults.clear()

    def as_dict(self) -> dict:
        return {"total": self.total(), "requests": dict(self.requests), "faults": dict(self.faults)}


def route_of(scope: dict) -> str:
    """``GET /orgs/{org}/repos``-style key when the app exposes its route template."""
    route = scope.get("route")
    path = getattr(route, "path", None) or scope.get("path", "")
    return f"{scope.get('method', '')} {path}"


class Instrumented:
    """ASGI middleware: counters, faults and the ``/_sandbox/`` control endpoints."""

    def __init__(self, app, faults: Faults | None = None, counters: Counters | None = None):
        self.app = app
        self.faults = faults or Faults()
        self.counters = counters or Counters()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["path"].startswith("/_sandbox/"):
            return await self._control(scope, receive, send)

        faults, method = self.faults, scope.get("method", "")
        if faults.fires("5xx", method):
            self.counters.faults["5xx"] += 1
            self.counters.requests[f"{scope['method']} {scope['path']}"] += 1
            return await _send_json(send, 503, {"message": "injected fault: service unavailable"})
        if faults.fires("timeout", method):
            self.counters.faults["timeout"] += 1
            await asyncio.sleep(faults.timeout_s)
        if faults.fires("lost", method):
            self.counters.faults["lost"] += 1
            return await self._lose_answer(scope, receive, send)
        malformed = faults.fires("malformed", method)
        if malformed:  # counted as drawn, so the counts follow the stated rates exactly
            self.counters.faults["malformed"] += 1

        async def counting_send(message):
            nonlocal malformed
            if message["type"] == "http.response.start":
                self.counters.requests[route_of(scope)] += 1
                if message["status"] in (204, 304) or method == "HEAD":
                    malformed = False  # no body to spoil: HTTP forbids one (h11 refuses to send it)
                if malformed:
                    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"]
                    message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and malformed:
                body = message.get("body", b"")
                message = {**message, "body": body[: max(1, len(body) // 2)] or b"{"}
            await send(message)

        await self.app(scope, receive, counting_send)

    async def _lose_answer(self, scope, receive, send):
        """Apply the request, drop the app's answer, answer 504."""
        status = 0

        async def swallow(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                self.counters.requests[route_of(scope)] += 1

        await self.app(scope, receive, swallow)
        if self.faults.lost_after_s:
            await asyncio.sleep(self.faults.lost_after_s)
        await _send_json(
            send, 504, {"message": f"injected fault: the answer ({status}) was lost after the request was applied"}
        )

    async def _control(self, scope, receive, send):
        if scope["path"] == "/_sandbox/counters":
            if scope["method"] == "DELETE":
                self.counters.reset()
            return await _send_json(send, 200, self.counters.as_dict())
        if scope["path"] == "/_sandbox/faults":
            if scope["method"] == "POST":
                body = b""
                while True:
                    event = await receive()
                    body += event.get("body", b"")
                    if not event.get("more_body"):
                        break
                try:
                    self.faults.update(**json.loads(body or b"{}"))
                except (ValueError, TypeError) as exc:
                    return await _send_json(send, 422, {"message": str(exc)})
            return await _send_json(send, 200, self.faults.as_dict())
        return await _send_json(send, 404, {"message": "no such sandbox control"})


async def _send_json(send, status: int, payload: dict) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ServedApp:
    """An ASGI app served by uvicorn on a loopback port, in a background thread."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0):
        if not host.startswith("127.") and host not in ("localhost", "::1"):
            raise ValueError("the sandbox serves on loopback only")
        self.host = host
        self.port = port or free_port(host)
        self.server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=self.port, log_level="warning", lifespan="off", access_log=False)
        )
        self.thread = threading.Thread(target=self.server.run, name=f"sandbox:{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ServedApp:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def __enter__(self) -> ServedApp:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
