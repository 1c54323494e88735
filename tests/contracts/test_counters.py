"""The counters every task shares (``contracts.counters``): documented once, shown first."""

from __future__ import annotations

import contracts.counters
from contracts.counters import SHARED_COUNTERS, in_order


def test_every_shared_counter_is_documented_in_the_one_place():
    doc = contracts.counters.__doc__ or ""
    assert all(f"``{name}``" in doc for name in SHARED_COUNTERS)
    assert len(set(SHARED_COUNTERS)) == len(SHARED_COUNTERS)


def test_status_shows_the_shared_counters_first_then_the_tasks_own_by_name():
    counters = {"pages": 3, "records_failed": 1, "discovered": 2, "skipped_items": 4}
    assert list(in_order(counters)) == [("skipped_items", 4), ("records_failed", 1), ("discovered", 2), ("pages", 3)]
