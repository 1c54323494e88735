"""The fault injector fires at the stated rate from the first request, the same way for the same seed."""

from __future__ import annotations

import pytest

from sandbox.http import Faults


def draws(faults: Faults, kind: str, n: int) -> list[bool]:
    return [faults.fires(kind) for _ in range(n)]


@pytest.mark.parametrize("rate", [0.1, 0.2, 0.25, 0.5, 0.05])
def test_every_ten_requests_hold_the_stated_share_from_the_first(rate):
    faults = Faults(seed=3)
    faults.update(error_rate=rate)
    fired = draws(faults, "5xx", 200)
    assert fired.count(True) == round(rate * 200)
    for start in range(0, 200, 20):  # no long dry spell: every 20 requests hold their share, give or take one
        assert abs(fired[start : start + 20].count(True) - rate * 20) <= 1
    assert sum(fired[:10]) == int(rate * 10 + 0.5), "the first ten requests already hold their share"


def test_the_same_seed_fires_on_the_same_requests_and_another_seed_elsewhere():
    def pattern(seed):
        faults = Faults(seed=seed, error_rate=0.2, malformed_rate=0.1)
        return draws(faults, "5xx", 50), draws(faults, "malformed", 50)

    assert pattern(1) == pattern(1)
    assert pattern(1) != pattern(2)
    errors, malformed = pattern(1)
    assert (errors.count(True), malformed.count(True)) == (10, 5)


def test_a_kind_at_rate_zero_never_fires_and_a_rate_out_of_range_is_refused():
    faults = Faults(error_rate=1.0)
    assert all(draws(faults, "5xx", 30)) and not any(draws(faults, "malformed", 30))
    with pytest.raises(ValueError):
        faults.update(error_rate=1.5)
    with pytest.raises(ValueError):
        faults.update(nonsense=1)
