"""The dashboard's operations: pause, resume and trigger, the CLI's own (``scheduler.cli.commands``).

Why the checks are what they are: an action needs ``DASHBOARD_TOKEN``, sent by the page's script in
the ``X-Dashboard-Token`` header and compared in constant time (``hmac.compare_digest``). The
dashboard sets no cookie, so a cross-site page has no ambient credential to ride on, and it cannot
add a custom header to a cross-origin request without a CORS preflight this app never grants;
requests a browser marks as cross-site (``Origin`` of another host, ``Sec-Fetch-Site:
cross-site``) are refused before the token is even looked at. A refused action changes nothing
and says why; the token never reaches a log line.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from enum import StrEnum
from urllib.parse import urlsplit

import redis
from pydantic import SecretStr

from contracts import TaskName
from process.logs import get_logger
from scheduler.cli.commands import manual_tick, pause, resume

log = get_logger(__name__)

TOKEN_HEADER = "x-dashboard-token"


class Action(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    TRIGGER = "trigger"


class Refused(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def authorize(token: SecretStr | None, headers: Mapping[str, str]) -> None:
    """Raise ``Refused`` unless the request may act. ``headers`` keys are lower-case."""
    origin = headers.get("origin")
    host = headers.get("host", "")
    if headers.get("sec-fetch-site") == "cross-site" or (
        origin and origin != "null" and urlsplit(origin).netloc != host
    ):
        raise Refused(403, "refused: a cross-site request cannot act on the scheduler")
    if origin == "null":
        raise Refused(403, "refused: a request from an opaque origin cannot act on the scheduler")
    if token is None or not token.get_secret_value():
        raise Refused(403, "refused: actions are off (DASHBOARD_TOKEN is not set on the web process)")
    given = headers.get(TOKEN_HEADER)
    if not given:
        raise Refused(401, "refused: no operator token given (enter DASHBOARD_TOKEN on the page)")
    if not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
        raise Refused(403, "refused: the operator token is wrong")


def perform(client: redis.Redis, task: TaskName, action: Action) -> str:
    """Do it, as the CLI does; what was done, in one sentence."""
    if action is Action.PAUSE:
        pause(client, task)
        message = f"{task.value} paused: scheduled ticks are skipped until it is resumed"
    elif action is Action.RESUME:
        resume(client, task)
        message = f"{task.value} resumed"
    else:
        tick = manual_tick(client, task, emitted_by="web")
        message = f"queued a manual tick for {task.value} (slot {tick.slot}); the task's lock decides whether it runs"
    log.info("web.action", task=task.value, action=action.value)
    return message
