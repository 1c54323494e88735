"""Announcements on ``provisioner:queue``, level-triggered: the one rule every task follows.

A managed server the platform shows in ``pending_setup`` is waiting for the provisioner, and is
announced (a ``ProvisionerMessage`` through the shared publisher) whenever a task sees it so
and it is not cooling down from an earlier announcement — whoever created it, whenever, and
whatever happened to an earlier attempt. An announcement is therefore never owed to an event
(a create, an update) that a crash can lose between the write and the publish: the next run
that reads the record announces it, once, since the publisher writes the stream entry and the
server's cooldown together (``ProvisionerPublisher``) and refuses while the cooldown lasts.
The announcements stop when the platform shows the server moved on.

``server_sync`` announces what it sees after its writes; ``provisioner_trigger`` announces the
same servers, and those stuck in ``provisioning`` (its own, extra rule).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from actors.adapters.provisioner.publisher import ProvisionerPublisher
from contracts import ProvisionerMessage
from contracts.platform import ServerStatus
from process.logs import get_logger

log = get_logger(__name__)


def waiting(is_managed: bool, status: ServerStatus | str | None) -> bool:
    """Whether a server in this state is waiting to be announced: managed and ``pending_setup``."""
    return bool(is_managed) and status == ServerStatus.PENDING_SETUP


@dataclass
class Outcome:
    announced: list[str]
    cooling: list[str]


class Announcer:
    """Publishes the announcements of the servers it is given, each unless it is cooling down."""

    def __init__(self, publisher: ProvisionerPublisher, cooldown_s: float):
        self.publisher, self.cooldown_s = publisher, cooldown_s

    async def announce(
        self,
        handles: Iterable[str],
        correlation_id: str | None = None,
        fence: Callable[[], Awaitable[None]] | None = None,
    ) -> Outcome:
        """Each handle once, in order; ``fence`` (the run's fencing check) before each publish. The
        cooldowns are read first in one round trip, so a steady run whose waiting servers all cool
        down costs one pipeline, not a script per server; the script still refuses a server
        announced in between."""
        outcome = Outcome([], [])
        wanted = list(dict.fromkeys(handles))
        cooling = await self.publisher.cooling(wanted)
        outcome.cooling.extend(h for h in wanted if h in cooling)
        for handle in (h for h in wanted if h not in cooling):
            if fence is not None:
                await fence()
            message = ProvisionerMessage(
                server_handle=handle, **({"correlation_id": correlation_id} if correlation_id else {})
            )
            if await self.publisher.publish(message, self.cooldown_s) is None:
                outcome.cooling.append(handle)
                continue
            outcome.announced.append(handle)
            log.info("provisioner.announced", handle=handle, request_id=message.request_id)
        return outcome
