"""What the platform API client raises, and which of it concerns one record or every write."""

from __future__ import annotations

import json
from typing import Any

from actors.adapters.kit import is_per_record_refusal
from process.errors import TransientError


class PlatformError(Exception):
    """Anything this client raises about the platform API."""

    #: whether, raised by one write, it concerns that record only (see ``concerns_every_write``)
    per_record = True


class PlatformUnavailable(PlatformError, TransientError):
    """The API did not answer usefully (5xx, network error, timeout) on any attempt."""

    def __init__(self, method: str, path: str, attempts: int, last_error: str):
        self.method, self.path, self.attempts, self.last_error = method, path, attempts, last_error
        super().__init__(f"platform API unavailable: {method} {path} failed {attempts} time(s); last: {last_error}")


class PlatformAPIError(PlatformError):
    """The API refused the request (4xx). Not retried: sending it again would fail again.

    ``attempts > 1`` means an earlier attempt may have reached the server before its answer
    was lost (e.g. a 409 on a retried create: the record was probably created by that attempt).
    """

    def __init__(self, status: int, method: str, path: str, body: str, attempts: int = 1):
        self.status, self.method, self.path, self.body, self.attempts = status, method, path, body, attempts
        super().__init__(f"platform API answered {status} to {method} {path}: {body[:500]}")

    @property
    def per_record(self) -> bool:  # type: ignore[override]
        """A refusal of this one record (404/409/422, and 400: the platform's answer to a record that
        clashes, e.g. a server handle that exists): that record's failure, not the run's."""
        return self.status == 400 or is_per_record_refusal(self.status)

    @property
    def detail(self) -> Any:
        """The ``detail`` of a JSON error body, else the body text."""
        try:
            body = json.loads(self.body)
        except ValueError:
            return self.body
        return body.get("detail", self.body) if isinstance(body, dict) else self.body


class PlatformResponseError(PlatformError, TransientError):
    """A 2xx answer whose body is not JSON, or not the shape the contract says. Transient: a body
    cut short or mangled on the way is worth asking for again (the run is retried; a write that
    got one is that record's failure, tried again at the next run)."""

    def __init__(self, method: str, path: str, status: int, problem: str):
        self.method, self.path, self.status, self.problem = method, path, status, problem
        super().__init__(f"malformed platform API response to {method} {path} ({status}): {problem}")


class UnwritableRecord(PlatformError):
    """A request body the platform cannot store as it is (a lone surrogate, a NUL): refused here,
    before it is sent. The message says where, never the value."""

    def __init__(self, method: str, path: str, problem: str):
        self.method, self.path, self.problem = method, path, problem
        super().__init__(f"not sent: {method} {path}: {problem}")


def concerns_every_write(exc: BaseException) -> bool:
    """A refusal of every write (401, 403...): the run stops. Anything else one write raises (a
    refusal of that record, a malformed answer, an unavailable API, a value that cannot be sent)
    is that record's failure: counted, and tried again at the next run."""
    return isinstance(exc, PlatformError) and not exc.per_record
