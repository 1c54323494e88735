"""provisioner_trigger's plan: which stuck servers to announce again. Pure, no I/O.

- stuck: a managed server waiting in ``pending_setup`` (``announcements.waiting``, the one rule
  server_sync follows too: its announcement was lost, or the provisioner was down), or in
  ``provisioning`` with no change to its record for ``stuck_after_s``;
- a server announced within the cooldown (by any task) is not announced again;
- at most ``max_per_run`` announcements, the longest-stuck first; the rest are held back for
  the next run.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from actors.tasks.announcements import waiting
from contracts.platform import Server, ServerStatus


@dataclass(frozen=True)
class Rules:
    stuck_after_s: float = 1800
    max_per_run: int = 50


@dataclass(frozen=True)
class Plan:
    #: the servers to announce, in order
    announce: tuple[str, ...] = ()
    #: stuck, but announced within the cooldown
    cooling: tuple[str, ...] = ()
    #: stuck and due, past the run's limit: the next run's
    held_back: tuple[str, ...] = ()


def is_stuck(server: Server, now: float, rules: Rules) -> bool:
    if waiting(server.is_managed, server.status):
        return True
    return (
        server.is_managed
        and server.status is ServerStatus.PROVISIONING
        and now - server.last_changed.timestamp() >= rules.stuck_after_s
    )


def plan_announcements(servers: Iterable[Server], cooling: Collection[str], now: float, rules: Rules = Rules()) -> Plan:
    stuck = sorted((s for s in servers if is_stuck(s, now, rules)), key=lambda s: (s.last_changed, s.handle))
    due = [s.handle for s in stuck if s.handle not in cooling]
    return Plan(
        tuple(due[: rules.max_per_run]),
        tuple(s.handle for s in stuck if s.handle in cooling),
        tuple(due[rules.max_per_run :]),
    )
