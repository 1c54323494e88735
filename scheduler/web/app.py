"""The web process's routes (Starlette): the dashboard, its actions, ``/metrics``, ``/healthz``.

Why Starlette and not FastAPI: five routes, HTML and one text format; the sandbox already runs on
Starlette and uvicorn, so the web process adds no new framework. Every request reads Redis anew
(blocking redis-py, so the handlers are plain functions that Starlette runs in its thread pool).
Every asset is served from ``static/``; the Content-Security-Policy allows nothing else.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import redis
from jinja2 import Environment, FileSystemLoader, select_autoescape
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from contracts import TaskName
from scheduler.web import actions
from scheduler.web.alerts import FIRING
from scheduler.web.fleet import OpenIncidents
from scheduler.web.metrics import registry
from scheduler.web.settings import WebSettings
from scheduler.web.snapshot import Snapshot, read_snapshot, unserved

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}

_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _ago(when: float | None, now: float) -> str:
    if when is None:
        return "-"
    seconds = int(when - now)
    return f"in {seconds}s" if seconds >= 0 else f"{-seconds}s ago"


def _when(dt: datetime | str | None, now: float) -> str:
    if dt is None:
        return "-"
    if isinstance(dt, str):
        dt = datetime.fromisoformat(dt)
    return _ago(dt.timestamp(), now)


def _iso(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts is not None else ""


def _duration(run: dict) -> float:
    return (datetime.fromisoformat(run["finished_at"]) - datetime.fromisoformat(run["started_at"])).total_seconds()


_env.globals.update(ago=_ago, when=_when, iso=_iso, duration=_duration, tojson=lambda v: json.dumps(v, default=str))


@dataclass
class Context:
    client: redis.Redis
    settings: WebSettings
    incidents: OpenIncidents


def render(snapshot: Snapshot, ctx: Context, *, partial: bool) -> str:
    firing = {k.decode(): json.loads(v) for k, v in ctx.client.hgetall(FIRING).items()}
    template = _env.get_template("panels.html" if partial else "index.html")
    longest = {task: max((_duration(r) for r in runs), default=0.0) for task, runs in snapshot.runs.items()}
    return template.render(
        s=snapshot,
        firing=firing,
        incidents=ctx.incidents.view(),
        unserved=unserved(snapshot),
        longest=longest,
        actions_enabled=ctx.settings.dashboard_token is not None,
        refresh_s=ctx.settings.web_refresh_s,
        tasks=list(TaskName),
    )


def create_app(client: redis.Redis, settings: WebSettings, incidents: OpenIncidents | None = None) -> Starlette:
    ctx = Context(client, settings, incidents or OpenIncidents())
    metrics_registry = registry(client)

    def dashboard(request: Request) -> Response:
        started = time.perf_counter()
        html = render(read_snapshot(client), ctx, partial=request.query_params.get("partial") == "1")
        return HTMLResponse(
            html,
            headers={**SECURITY_HEADERS, "server-timing": f"render;dur={(time.perf_counter() - started) * 1000:.1f}"},
        )

    def act(request: Request) -> Response:
        try:
            task = TaskName(request.path_params["task"])
            action = actions.Action(request.path_params["action"])
        except ValueError:
            return JSONResponse(
                {"refused": "refused: no such task or action"}, status_code=404, headers=SECURITY_HEADERS
            )
        try:
            actions.authorize(settings.dashboard_token, {k.lower(): v for k, v in request.headers.items()})
        except actions.Refused as refused:
            return JSONResponse({"refused": refused.reason}, status_code=refused.status, headers=SECURITY_HEADERS)
        return JSONResponse({"done": actions.perform(client, task, action)}, headers=SECURITY_HEADERS)

    def metrics(request: Request) -> Response:
        return Response(generate_latest(metrics_registry), media_type=CONTENT_TYPE_LATEST)

    def healthz(request: Request) -> Response:
        try:
            snapshot = read_snapshot(client)
        except redis.RedisError as exc:
            return PlainTextResponse(f"unhealthy: Redis does not answer ({type(exc).__name__})\n", status_code=503)
        missing = unserved(snapshot)
        if missing:
            lines = [f"{task.value}: no live {' and no live '.join(roles)}" for task, roles in missing.items()]
            return PlainTextResponse(
                "unhealthy: scheduled tasks not served\n" + "\n".join(lines) + "\n", status_code=503
            )
        return PlainTextResponse(f"ok: {len(snapshot.scheduled())} scheduled tasks served\n")

    routes = [
        Route("/", dashboard),
        Route("/actions/{task}/{action}", act, methods=["POST"]),
        Route("/metrics", metrics),
        Route("/healthz", healthz),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    return Starlette(routes=routes)
