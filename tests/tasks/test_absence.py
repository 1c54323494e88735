"""The absence rule (``actors.tasks.absence``), shared by github_sync and server_sync."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from actors.tasks.absence import Absence, absence, remember


def test_absent_from_n_complete_listings_in_a_row_is_missing_once():
    misses, said = 0, []
    for _ in range(3):
        after = absence(misses, listed=False, complete=True, missing_after=3)
        said.append(after.missing)
        misses = after.misses
    assert said == [False, False, True]
    assert after == Absence(0, missing=True, count=3), "the count is forgotten: the task's memory says it"


def test_an_incomplete_listing_counts_nothing_and_being_listed_forgets_the_count():
    assert absence(2, listed=False, complete=False, missing_after=3) == Absence(2, count=2)
    assert absence(2, listed=True, complete=True, missing_after=3) == Absence(0)
    assert absence(2, listed=True, complete=False, missing_after=3) == Absence(0)


def test_missing_after_one_is_missing_at_the_first_complete_listing_without_it():
    assert absence(0, listed=False, complete=True, missing_after=1).missing


@given(st.lists(st.tuples(st.booleans(), st.booleans()), max_size=30), st.integers(1, 5))
def test_missing_exactly_when_n_complete_listings_in_a_row_lacked_it(listings, n):
    misses, in_a_row = 0, 0
    for listed, complete in listings:
        after = absence(misses, listed=listed, complete=complete, missing_after=n)
        if listed:
            in_a_row = 0
        elif complete:
            in_a_row += 1
        assert after.missing == (in_a_row == n)
        if after.missing:
            in_a_row = 0
        assert after.misses == in_a_row
        misses = after.misses


def test_remember_writes_only_a_change():
    counts: dict[str, int] = {}
    remember(counts, "a", 0, Absence(0))
    remember(counts, "b", 2, Absence(0))
    remember(counts, "c", 1, Absence(2, count=2))
    assert counts == {"b": 0, "c": 2}
