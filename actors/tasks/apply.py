"""What the apply step of every reconciling task shares: the run it reports to, a write whose
refusal concerns one record only, and memory hashes updated together."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Protocol

import redis.asyncio as aioredis

from actors.adapters.platform.client import PlatformAPIError
from scheduler.logs import get_logger


class Progress(Protocol):
    """What apply needs of its run: the fencing check and the counters (``TaskRun`` is one)."""

    async def fence(self) -> None: ...

    def count(self, name: str, n: int = 1) -> None: ...


async def write_or_refusal(call: Awaitable[object], run: Progress, event: str, **record: object) -> bool:
    """Await one platform write; False if the platform refused this record (404/409/422: logged
    as ``event`` with ``record`` and counted as ``write_errors``). Any other refusal (401, 403...)
    concerns every write and fails the run."""
    try:
        await call
    except PlatformAPIError as exc:
        if not exc.per_record:
            raise
        run.count("write_errors")
        get_logger(__name__).error(event, **record, status=exc.status, detail=str(exc.detail)[:300])
        return False
    return True


def update_hashes(pipe: aioredis.client.Pipeline, changes: Mapping[str, Mapping[object, object | None]]) -> None:
    """Queue on ``pipe``, for each hash key, its new field values; a None value deletes the field."""
    for key, values in changes.items():
        forget = [k for k, v in values.items() if v is None]
        keep = {k: v for k, v in values.items() if v is not None}
        if forget:
            pipe.hdel(key, *forget)
        if keep:
            pipe.hset(key, mapping=keep)
