"""What server_sync remembers in Redis between runs (shared by every worker), by provider id:
the ``synch_date`` each server's details were read for (``Keys.TIME4VPS_SEEN``), absence counts
(``Keys.TIME4VPS_MISSES``) and the status a record had before server_sync set one of its own
(``Keys.TIME4VPS_HELD``)."""

from __future__ import annotations

from collections.abc import Mapping

import redis.asyncio as aioredis

from actors.tasks.hashes import update_hashes
from actors.tasks.server_sync.plan import Memory
from contracts import Keys
from contracts.platform import ServerStatus
from process.logs import get_logger

log = get_logger(__name__)


class SyncMemory:
    def __init__(self, client: aioredis.Redis):
        self.client = client

    async def read(self) -> Memory:
        pipe = self.client.pipeline(transaction=False)
        for key in (Keys.TIME4VPS_SEEN, Keys.TIME4VPS_MISSES, Keys.TIME4VPS_HELD):
            pipe.hgetall(key)
        raw_seen, raw_misses, raw_held = await pipe.execute()
        held = {}
        for pid, status in raw_held.items():
            try:
                held[pid.decode()] = ServerStatus(status.decode())
            except ValueError:  # from a newer release: as if nothing were remembered
                log.warning("server_sync.held_status_unreadable", provider_id=pid.decode())
        return Memory(
            seen={k.decode(): v.decode() for k, v in raw_seen.items()},
            misses={k.decode(): int(v) for k, v in raw_misses.items()},
            held=held,
        )

    async def write(
        self, seen: Mapping[str, str | None], misses: Mapping[str, int], held: Mapping[str, ServerStatus | None]
    ) -> None:
        """Each mapping: provider id -> new value; None (0 for misses) forgets it."""
        pipe = self.client.pipeline(transaction=True)
        update_hashes(
            pipe,
            {
                Keys.TIME4VPS_SEEN: seen,
                Keys.TIME4VPS_MISSES: {k: v or None for k, v in misses.items()},
                Keys.TIME4VPS_HELD: {k: v and v.value for k, v in held.items()},
            },
        )
        await pipe.execute()
