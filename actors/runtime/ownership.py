"""Which live worker owns which item: rendezvous (highest random weight) hashing. Pure.

Why: a worker keeps its servers' SSH connections open, so a server's checks must go to the
worker that holds its connection, and when a worker dies or joins only the servers that must
move do: with rendezvous hashing an item belongs to the owner with the highest
``weight(owner, item)``, so removing an owner moves only its own items (spread evenly over
the others) and adding one takes about 1/n of everyone's, no item changing hands between two
owners that both stay. Every worker and every tick computes the same answer from the same
live set, with no coordination and no state.

The weight is the first 8 bytes of BLAKE2b over ``owner NUL item``: stable across processes,
releases and Python's hash randomisation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence


def weight(owner: str, item: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{owner}\0{item}".encode(), digest_size=8).digest(), "big")


def owner_of(item: str, owners: Sequence[str]) -> str:
    """The owner of ``item`` among ``owners`` (ties, vanishingly rare, go to the smaller name)."""
    if not owners:
        raise ValueError("no owners to choose from")
    return max(sorted(owners), key=lambda owner: weight(owner, item))


def assign(items: Iterable[str], owners: Sequence[str]) -> dict[str, list[str]]:
    """Every owner's items, in the order given; every owner is a key, even one with none."""
    ordered = sorted(set(owners))
    shares: dict[str, list[str]] = {owner: [] for owner in ordered}
    for item in items:
        shares[owner_of(item, ordered)].append(item)
    return shares
