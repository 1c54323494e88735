"""Putting a Tick on its actor's Dramatiq queue and on the audit stream, atomically.

Claiming a slot, enqueueing its message and auditing it happen in one Lua script
(``ticker/lua/``), so no crash can leave a slot claimed but silent, and two replicas can
never both claim it.
The message is written in Dramatiq's Redis layout (``HSET <ns>:<queue>.msgs id data`` and
``RPUSH <ns>:<queue> id``, as its ``dispatch.lua`` ``enqueue`` does), so an ordinary
Dramatiq worker consumes it; `tests/ticker/test_emit.py` proves that against Dramatiq itself.
"""

from __future__ import annotations

import uuid

import dramatiq
import redis

from contracts import TICKS_STREAM, Keys, Tick, queue_name
from contracts.names import DRAMATIQ_NAMESPACE, STARTUP_CLAIM_TTL_S, TICKS_STREAM_MAXLEN
from process.lua import load_script


def _script(name: str) -> str:
    """A tick script from ticker/lua/, after the type checks it starts with."""
    return load_script("ticker", "check_types") + load_script("ticker", name)


def tick_message(tick: Tick) -> tuple[str, bytes]:
    """The Dramatiq message that carries a tick: (redis message id, encoded message)."""
    message_id = str(uuid.uuid4())
    message = dramatiq.Message(
        queue_name=queue_name(tick.task),
        actor_name=tick.task.value,
        args=(tick.model_dump(mode="json"),),
        kwargs={},
        options={"redis_message_id": message_id},
        message_id=message_id,
    )
    return message_id, message.encode()


def _queue_keys(task: str) -> list[str]:
    queue = f"{DRAMATIQ_NAMESPACE}:{queue_name(task)}"
    return [queue, f"{queue}.msgs"]


class TickEmitter:
    """The three ways a tick enters the system, each one atomic in Redis."""

    def __init__(self, client: redis.Redis):
        self.client = client
        self._claim = client.register_script(_script("claim_and_enqueue"))
        self._claim_release = client.register_script(_script("claim_release_and_enqueue"))
        self._enqueue = client.register_script(_script("enqueue"))
        self._open_epoch = client.register_script(_script("open_epoch"))

    def claim(self, tick: Tick, expected_last: int | None, *, enqueue: bool = True) -> bool:
        """Claim ``tick.slot`` if the newest emitted slot is still ``expected_last``."""
        message_id, message = tick_message(tick)
        keys = [Keys.LAST_SLOT, *_queue_keys(tick.task), TICKS_STREAM, Keys.state(tick.task)]
        args = [
            tick.task.value,
            "" if expected_last is None else str(expected_last),
            str(tick.slot),
            message_id,
            message,
            tick.model_dump_json(),
            TICKS_STREAM_MAXLEN,
            tick.missed,
            1 if enqueue else 0,
        ]
        return bool(self._claim(keys=keys, args=args))

    def claim_release(self, tick: Tick, release: str) -> bool:
        """Emit a startup tick unless this release (or ``epoch-<n>``) already has one; the claim
        is kept ``STARTUP_CLAIM_TTL_S``."""
        message_id, message = tick_message(tick)
        keys = [
            Keys.startup_claim(tick.task, release),
            *_queue_keys(tick.task),
            TICKS_STREAM,
            Keys.state(tick.task),
            Keys.RELEASES,
        ]
        args = [
            f"{tick.task.value}:{release}",
            message_id,
            message,
            tick.model_dump_json(),
            TICKS_STREAM_MAXLEN,
            STARTUP_CLAIM_TTL_S,
        ]
        return bool(self._claim_release(keys=keys, args=args))

    def open_epoch(self, process_id: str, heartbeat_ttl_ms: int) -> tuple[int, bool]:
        """Join the ticker fleet: (the startup epoch, whether this ticker opened it). A new epoch
        is opened when no other ticker's heartbeat is alive; the ticker is registered in the
        heartbeat index in the same script (``ticker/lua/open_epoch.lua``)."""
        epoch, opened = self._open_epoch(
            keys=[Keys.heartbeats("ticker"), Keys.TICKER_EPOCH], args=[process_id, heartbeat_ttl_ms]
        )
        return int(epoch), bool(opened)

    def enqueue(self, tick: Tick) -> None:
        """A manual tick (``scheduler trigger``): always sent; the lock decides if it runs."""
        message_id, message = tick_message(tick)
        keys = [*_queue_keys(tick.task), TICKS_STREAM, Keys.state(tick.task)]
        self._enqueue(keys=keys, args=[message_id, message, tick.model_dump_json(), TICKS_STREAM_MAXLEN])
