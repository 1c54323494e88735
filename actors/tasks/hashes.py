"""Task memory kept in Redis hashes (absence counts, remembered statuses...): the changes of one
run written together."""

from __future__ import annotations

from collections.abc import Mapping

import redis.asyncio as aioredis


def update_hashes(pipe: aioredis.client.Pipeline, changes: Mapping[str, Mapping[object, object | None]]) -> None:
    """Queue on ``pipe``, for each hash key, its new field values; a None value deletes the field."""
    for key, values in changes.items():
        forget = [k for k, v in values.items() if v is None]
        keep = {k: v for k, v in values.items() if v is not None}
        if forget:
            pipe.hdel(key, *forget)
        if keep:
            pipe.hset(key, mapping=keep)
