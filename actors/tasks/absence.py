"""Absence: what a listing says of a record it does not hold. The one rule of every task that
mirrors an outside listing (github_sync's repositories, server_sync's servers):

- absent from ``missing_after`` complete listings in a row -> missing, said once: from then on
  the task's own memory of it (a status, a ``gone`` entry) says so, and the count is forgotten;
- only a complete listing counts absence: an incomplete one leaves the count as it was;
- being listed (readable or not) breaks the run of absences: the count is forgotten.

``absence`` is pure; each task keeps the counts in Redis between runs (a hash: 0 forgets a key)
and decides what "missing" does to its own record.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import TypeVar

K = TypeVar("K")


@dataclass(frozen=True)
class Absence:
    """What one listing made of a record's absence count."""

    #: the count to remember from now on (0: forget it)
    misses: int
    #: this listing made the record missing
    missing: bool = False
    #: complete listings in a row without the record, this one included (0: listed)
    count: int = 0


def absence(misses: int, *, listed: bool, complete: bool, missing_after: int) -> Absence:
    """The absence count after one more listing; ``misses``: the count remembered before it."""
    if listed:
        return Absence(0)
    if not complete:
        return Absence(misses, count=misses)
    count = misses + 1
    if count >= missing_after:
        return Absence(0, missing=True, count=count)
    return Absence(count, count=count)


def remember(counts: MutableMapping[K, int], key: K, before: int, after: Absence) -> None:
    """Put ``key``'s new count in ``counts`` (the plan's changes to the memory) if it changed."""
    if after.misses != before:
        counts[key] = after.misses
