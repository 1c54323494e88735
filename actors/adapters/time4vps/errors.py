"""What the Time4VPS adapter raises. Every refusal is HTTP 401; only the body's first ``error``
element tells ``wronglogin``, ``ipnotallowed`` and ``["wait_x_between_action", N]`` apart."""

from __future__ import annotations

from contracts.time4vps import Time4VpsErrorKind
from process.errors import ConfigurationError, TransientError

#: what an operator must do about each refusal of the credentials
FIXES = {
    Time4VpsErrorKind.WRONG_LOGIN: "Time4VPS refused the login (wronglogin): check TIME4VPS_USERNAME and "
    "TIME4VPS_PASSWORD",
    Time4VpsErrorKind.IP_NOT_ALLOWED: "Time4VPS refused this host's address (ipnotallowed): allow this host's "
    "outgoing IP for the API in the Time4VPS client area",
    Time4VpsErrorKind.OTHER: "Time4VPS answered 401: check TIME4VPS_USERNAME and TIME4VPS_PASSWORD, and that this "
    "host's outgoing IP is allowed for the API in the Time4VPS client area",
}


class Time4VpsError(Exception):
    """Anything this adapter raises about Time4VPS."""


class Time4VpsRefused(Time4VpsError, ConfigurationError):
    """The credentials, or this host's address, were refused: not retried until an operator acts."""

    def __init__(self, kind: Time4VpsErrorKind, reason: str):
        self.kind, self.reason = kind, reason
        super().__init__(FIXES.get(kind, FIXES[Time4VpsErrorKind.OTHER]))


class Time4VpsThrottled(Time4VpsError):
    """``wait_x_between_action`` asked for a longer wait than a run sits out: resume at a later tick."""

    def __init__(self, wait_s: float):
        self.wait_s = wait_s
        super().__init__(f"Time4VPS asked to wait {wait_s:.0f} s between actions")


class Time4VpsUnavailable(Time4VpsError, TransientError):
    """5xx, network errors, timeouts or bodies that are not JSON on every attempt (or an answer
    that is no listing at all): the provider did not answer usefully."""

    def __init__(self, path: str, attempts: int, last_error: str):
        self.path, self.attempts, self.last_error = path, attempts, last_error
        super().__init__(f"Time4VPS unavailable: GET {path} failed {attempts} time(s); last: {last_error}")


class Time4VpsRequestRefused(Time4VpsError):
    """Another refusal of one request (e.g. ``Invalid server ID`` for a server gone since the listing)."""

    def __init__(self, path: str, status: int, reason: str):
        self.path, self.status, self.reason = path, status, reason
        super().__init__(f"Time4VPS answered {status} to GET {path}: {reason[:200]}")
