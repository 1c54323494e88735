"""Rate-limit accounting for the GitHub stand-in: credentials, the primary hourly limit, the
secondary burst limit, and the counters that record what each one charged or refused."""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox.http import Counters

ANONYMOUS_LIMIT = 60  # per hour, per client address


@dataclass
class GitHubCounters(Counters):
    points: Counter = field(default_factory=Counter)  # credential -> primary-limit points charged
    outcomes: Counter = field(default_factory=Counter)  # not_modified | primary | secondary

    def reset(self) -> None:
        super().reset()
        self.points.clear()
        self.outcomes.clear()

    def as_dict(self) -> dict:
        rate_limit = {
            "points": dict(self.points),
            "points_total": sum(self.points.values()),
            "outcomes": dict(self.outcomes),
        }
        return {**super().as_dict(), "rate_limit": rate_limit}


@dataclass
class Credential:
    kind: str  # user | installation | anonymous
    ident: str  # user id, installation id, or client address
    limit: int
    expires_at: float = math.inf

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.ident}"

    def exceeded_message(self) -> str:
        if self.kind == "anonymous":
            return (
                f"API rate limit exceeded for {self.ident}. (But here's the good news: Authenticated requests get "
                "a higher rate limit. Check out the documentation for more details.)"
            )
        return f"API rate limit exceeded for {self.kind} ID {self.ident}."


@dataclass
class Window:
    limit: int
    used: int = 0
    reset: int = 0  # epoch seconds when this hour's window ends


class PrimaryLimits:
    """Requests per credential per hour-long window that starts with the credential's first request."""

    def __init__(self, clock: Callable[[], float], window_s: int = 3600):
        self.clock, self.window_s = clock, window_s
        self.windows: dict[str, Window] = {}

    def window(self, cred: Credential) -> Window:
        now = self.clock()
        current = self.windows.get(cred.key)
        if current is None or now >= current.reset:
            current = self.windows[cred.key] = Window(cred.limit, reset=int(now) + self.window_s)
        return current

    def headers(self, window: Window) -> dict[str, str]:
        remaining = max(0, window.limit - window.used)
        return {
            "X-RateLimit-Limit": str(window.limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Used": str(window.used),
            "X-RateLimit-Reset": str(window.reset),
            "X-RateLimit-Resource": "core",
        }


@dataclass
class SecondaryLimit:
    """GitHub's undisclosed burst limits, made explicit: trip it, or set ``per_minute``."""

    status: int = 403  # GitHub answers 403 or 429
    retry_after_s: int = 60
    per_minute: int | None = None  # requests per credential per rolling minute; None = no automatic trip
    clock: Callable[[], float] = time.time
    tripped_until: float = 0.0
    recent: dict[str, deque] = field(default_factory=dict)

    def trip(self, seconds: int | None = None) -> None:
        self.tripped_until = self.clock() + (self.retry_after_s if seconds is None else seconds)

    def check(self, cred: Credential) -> int | None:
        """Seconds to wait, or None to let the request through."""
        now = self.clock()
        if self.per_minute is not None:
            stamps = self.recent.setdefault(cred.key, deque())
            while stamps and stamps[0] <= now - 60:
                stamps.popleft()
            if len(stamps) >= self.per_minute and now >= self.tripped_until:
                self.trip()
            stamps.append(now)
        return math.ceil(self.tripped_until - now) if now < self.tripped_until else None
