"""RecordWrites: one record's failed write is that record's; a refused credential or a dead API is the run's."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from actors.adapters.platform.client import (
    PlatformAPIError,
    PlatformResponseError,
    PlatformUnavailable,
    UnwritableRecord,
    encode_body,
)
from actors.tasks.records import MAX_UNAVAILABLE_IN_A_ROW, RecordWrites


class Run:
    def __init__(self):
        self.counters, self.fences = Counter(), 0

    async def fence(self):
        self.fences += 1

    def count(self, name, n=1):
        self.counters[name] += n


def attempt(writes: RecordWrites, error: BaseException | None) -> bool:
    async def call():
        if error is not None:
            raise error

    return asyncio.run(writes.write(call, "update", repo_id=1))


@pytest.mark.parametrize(
    "error",
    [
        PlatformAPIError(422, "PATCH", "/api/projects/1", '{"detail": "bad"}'),
        PlatformAPIError(409, "POST", "/api/projects", "{}"),
        PlatformResponseError("POST", "/api/projects", 201, "body is not JSON"),
        PlatformUnavailable("POST", "/api/projects", 4, "HTTP 503"),
        UnwritableRecord("POST", "/api/projects", "description: a NUL character at character 3"),
        UnicodeEncodeError("utf-8", "x\ud800", 1, 2, "surrogates not allowed"),
        ValueError("a bug tripped by one odd value"),
    ],
)
def test_any_failure_of_one_write_is_that_records(error, captured_logs):
    run = Run()
    writes = RecordWrites(run, "some_task")
    assert attempt(writes, error) is False and attempt(writes, None) is True
    assert (run.counters["records_failed"], writes.failed, run.fences) == (1, 1, 2)
    [line] = [e for e in captured_logs if e["event"] == "some_task.record_failed"]
    assert line["repo_id"] == 1 and line["error_type"] == type(error).__name__


def test_a_refused_credential_stops_the_run():
    run = Run()
    with pytest.raises(PlatformAPIError):
        attempt(RecordWrites(run, "t"), PlatformAPIError(401, "POST", "/api/projects", "{}"))
    assert not run.counters


def test_an_api_unavailable_for_several_writes_in_a_row_stops_the_run_a_success_resets_the_count():
    run = Run()
    writes = RecordWrites(run, "t")
    down = PlatformUnavailable("POST", "/api/projects", 4, "HTTP 503")
    for _ in range(MAX_UNAVAILABLE_IN_A_ROW - 1):
        assert attempt(writes, down) is False
    assert attempt(writes, None) is True
    for _ in range(MAX_UNAVAILABLE_IN_A_ROW - 1):
        attempt(writes, down)
    with pytest.raises(PlatformUnavailable):
        attempt(writes, down)


def test_a_body_that_cannot_be_stored_is_refused_before_the_wire_saying_where_not_what():
    with pytest.raises(UnwritableRecord) as refused:
        encode_body("POST", "/api/incidents", {"details": {"reasons": ["fine", "sec\x00ret"]}})
    assert "details.reasons.1" in str(refused.value) and "sec" not in str(refused.value)
    with pytest.raises(UnwritableRecord, match="surrogate"):
        encode_body("PATCH", "/api/projects/1", {"description": "a\udc80b"})
    with pytest.raises(UnwritableRecord):
        encode_body("PUT", "/x", {"embedding": [float("nan")]})
    assert encode_body("POST", "/x", {"name": "é\t"}) == '{"name":"é\\t"}'.encode()
