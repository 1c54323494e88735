"""Putting a Tick on its actor's Dramatiq queue and on the audit stream, atomically.

Claiming a slot, enqueueing its message and auditing it happen in one Lua script, so no
crash can leave a slot claimed but silent, and two replicas can never both claim it.
The message is written in Dramatiq's Redis layout (``HSET <ns>:<queue>.msgs id data`` and
``RPUSH <ns>:<queue> id``, as its ``dispatch.lua`` ``enqueue`` does), so an ordinary
Dramatiq worker consumes it; `tests/test_emit.py` proves that against Dramatiq itself.
"""

from __future__ import annotations

import uuid

import dramatiq
import redis

from contracts import TICKS_STREAM, Keys, Tick, queue_name
from contracts.names import DRAMATIQ_NAMESPACE, TICKS_STREAM_MAXLEN

# Redis does not roll a script back when a command in it fails, so each script first checks
# that every key it writes has the right type (or none) and writes nothing otherwise; and it
# writes the claim last. Once a script has written, Redis lets it finish even when out of
# memory, so a script that passes its checks runs to the end.
_CHECK_TYPES = """
local kinds = {%s}
for i, kind in ipairs(kinds) do
  local t = redis.call('TYPE', KEYS[i])['ok']
  if t ~= 'none' and t ~= kind then
    return redis.error_reply('WRONGTYPE ' .. KEYS[i] .. ' is a ' .. t .. ', not a ' .. kind .. '; tick not emitted')
  end
end
"""

# KEYS: last-slot hash, queue list, queue messages hash, ticks stream, task state hash
# ARGV: task, expected last slot ('' if none), slot, message id, message, tick JSON,
#       stream maxlen, missed count, enqueue (1) or only advance (0, a paused task)
_CLAIM_AND_ENQUEUE = _CHECK_TYPES % "'hash', 'list', 'hash', 'stream', 'hash'" + """
local last = redis.call('HGET', KEYS[1], ARGV[1])
if (last or '') ~= ARGV[2] then return 0 end
if ARGV[9] == '1' then
  redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
  redis.call('RPUSH', KEYS[2], ARGV[4])
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], '*', 'data', ARGV[6])
  redis.call('HSET', KEYS[5], 'last_tick', ARGV[6])
  if tonumber(ARGV[8]) > 0 then redis.call('HINCRBY', KEYS[5], 'missed', ARGV[8]) end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""

# Once per release. KEYS: releases hash + the four above; ARGV: release key, id, message,
# tick JSON, maxlen.
_CLAIM_RELEASE_AND_ENQUEUE = _CHECK_TYPES % "'hash', 'list', 'hash', 'stream', 'hash'" + """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*', 'data', ARGV[4])
redis.call('HSET', KEYS[5], 'last_tick', ARGV[4])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
return 1
"""

# A manual tick: enqueue and audit, no claim. KEYS: queue, messages, stream, state.
_ENQUEUE = _CHECK_TYPES % "'list', 'hash', 'stream', 'hash'" + """
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'data', ARGV[3])
redis.call('HSET', KEYS[4], 'last_tick', ARGV[3])
return 1
"""


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
        self._claim = client.register_script(_CLAIM_AND_ENQUEUE)
        self._claim_release = client.register_script(_CLAIM_RELEASE_AND_ENQUEUE)
        self._enqueue = client.register_script(_ENQUEUE)

    def claim(self, tick: Tick, expected_last: int | None, *, enqueue: bool = True) -> bool:
        """Claim ``tick.slot`` if the newest emitted slot is still ``expected_last``."""
        message_id, message = tick_message(tick)
        keys = [Keys.LAST_SLOT, *_queue_keys(tick.task), TICKS_STREAM, Keys.state(tick.task)]
        args = [
            tick.task.value, "" if expected_last is None else str(expected_last), str(tick.slot),
            message_id, message, tick.model_dump_json(), TICKS_STREAM_MAXLEN, tick.missed,
            1 if enqueue else 0,
        ]
        return bool(self._claim(keys=keys, args=args))

    def claim_release(self, tick: Tick, release: str) -> bool:
        """Emit a startup tick unless this release already has one."""
        message_id, message = tick_message(tick)
        keys = [Keys.RELEASES, *_queue_keys(tick.task), TICKS_STREAM, Keys.state(tick.task)]
        args = [f"{tick.task.value}:{release}", message_id, message, tick.model_dump_json(), TICKS_STREAM_MAXLEN]
        return bool(self._claim_release(keys=keys, args=args))

    def enqueue(self, tick: Tick) -> None:
        """A manual tick (``scheduler trigger``): always sent; the lock decides if it runs."""
        message_id, message = tick_message(tick)
        keys = [*_queue_keys(tick.task), TICKS_STREAM, Keys.state(tick.task)]
        self._enqueue(keys=keys, args=[message_id, message, tick.model_dump_json(), TICKS_STREAM_MAXLEN])
