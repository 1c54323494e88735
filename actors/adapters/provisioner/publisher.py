"""``ProvisionerPublisher``: one way onto ``provisioner:queue`` for every task.

Each announcement is ``XADD provisioner:queue * data <ProvisionerMessage JSON>``, written in one
script together with the server's cooldown key, so that neither exists without the other and a
server announced by one task (a new server, a recovery, a stuck one) is not announced again by
any task until the cooldown has passed. Past ``maxlen`` entries the same script trims the stream,
but only below the oldest entry some consumer group has not read (or not acknowledged), and not
at all while no group exists (``lua/publish.lua``): an announcement is never lost to trimming.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from contracts import Keys, ProvisionerMessage
from contracts.names import PROVISIONER_STREAM, PROVISIONER_STREAM_MAXLEN
from process.lua import load_script


class ProvisionerPublisher:
    def __init__(self, client: aioredis.Redis, *, maxlen: int = PROVISIONER_STREAM_MAXLEN):
        self.client, self.maxlen = client, maxlen

    async def cooling(self, handles: list[str]) -> set[str]:
        """The servers announced within their cooldown."""
        if not handles:
            return set()
        pipe = self.client.pipeline(transaction=False)
        for handle in handles:
            pipe.exists(Keys.provisioner_cooldown(handle))
        return {handle for handle, hot in zip(handles, await pipe.execute(), strict=True) if hot}

    async def publish(self, message: ProvisionerMessage, cooldown_s: float) -> str | None:
        """The stream entry's id, or None when the server is cooling down (nothing written). The
        message is validated again first: one built with ``model_construct`` or changed after
        construction must not reach the platform."""
        message = ProvisionerMessage.model_validate(message.model_dump())
        keys = (Keys.provisioner_cooldown(message.server_handle), PROVISIONER_STREAM)
        entry = await self.client.eval(
            load_script(__package__, "publish"),
            len(keys),
            *keys,
            message.request_id,
            int(cooldown_s * 1000),
            self.maxlen,
            message.model_dump_json(),
        )
        return entry.decode() if isinstance(entry, bytes) else entry
