"""Slot arithmetic: pure functions, tested exhaustively and against periodiq's own cron."""

from __future__ import annotations

from datetime import UTC, datetime

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from periodiq import CronSpec

from ticker.slots import Cron, Interval, Off, ScheduleError, Startup, due_slot, parse_schedule

TIMES = st.integers(min_value=1_500_000_000, max_value=2_100_000_000)
CRONS = ["*/5 * * * *", "0 * * * *", "30 2 * * *", "15 9 * * 1-5", "0 0 1 * *", "*/7 3-5 * * sun", "@daily"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", Interval(30)),
        ("5m", Interval(300)),
        ("300", Interval(300)),
        ("2 m", Interval(120)),
        ("1h", Interval(3600)),
        ("off", Off()),
        ("startup", Startup()),
        ("OFF", Off()),
    ],
)
def test_parse_intervals_and_keywords(text, expected):
    assert parse_schedule(text) == expected


@pytest.mark.parametrize("text", ["5x", "0s", "-5m", "* * *", "61 * * * *", "every day", "*/5 * * * * *"])
def test_bad_schedules_are_refused_with_a_clear_error(text):
    with pytest.raises(ScheduleError, match="schedule|cron|interval"):
        parse_schedule(text)


@given(t=TIMES, seconds=st.sampled_from([1, 30, 60, 120, 300, 600, 3600]))
def test_interval_slots_are_epoch_aligned(t, seconds):
    schedule = Interval(seconds)
    slot = schedule.floor(t)
    assert slot % seconds == 0 and slot <= t < slot + seconds
    assert schedule.next_after(slot) == slot + seconds


@settings(max_examples=300)
@given(t=TIMES, text=st.sampled_from(CRONS))
def test_cron_floor_and_next_agree_with_periodiq_in_utc(t, text):
    schedule = parse_schedule(text)
    slot = schedule.floor(t)
    following = schedule.next_after(slot)
    assert slot <= t < following
    assert slot % 60 == 0
    spec = CronSpec.parse(text)
    expected = spec.next_valid_date(pendulum.from_timestamp(slot, tz="UTC"))
    assert following == int(expected.timestamp())
    assert schedule.floor(following) == following


def test_cron_is_evaluated_in_utc_across_a_dst_change():
    schedule = parse_schedule("0 2 * * *")  # 02:00 does not exist in Europe on 2026-03-29
    before = int(datetime(2026, 3, 28, 2, 0, tzinfo=UTC).timestamp())
    assert schedule.next_after(before) - before == 24 * 3600
    assert schedule.next_after(schedule.next_after(before)) - before == 48 * 3600


def test_day_of_month_or_day_of_week_when_both_are_restricted():
    schedule = parse_schedule("0 12 13 * fri")  # the 13th, or any Friday
    t = int(datetime(2026, 11, 10, 0, 0, tzinfo=UTC).timestamp())  # a Tuesday
    assert datetime.fromtimestamp(schedule.next_after(t), UTC) == datetime(2026, 11, 13, 12, 0, tzinfo=UTC)
    after = schedule.next_after(schedule.next_after(t))
    assert datetime.fromtimestamp(after, UTC) == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_due_slot_emits_each_slot_once():
    schedule = Interval(60)
    assert due_slot(schedule, None, 1_000_030.5).slot == 1_000_020
    assert due_slot(schedule, 1_000_020, 1_000_079.9) is None  # same slot: nothing new
    nxt = due_slot(schedule, 1_000_020, 1_000_080.0)
    assert (nxt.slot, nxt.missed, nxt.deadline) == (1_000_080, 0, 1_000_140)


def test_missed_slots_are_coalesced_into_one_catch_up():
    due = due_slot(Interval(60), 1_000_020, 1_000_020 + 10 * 60 + 5)
    assert due.slot == 1_000_620 and due.missed == 9 and due.catch_up


@given(last=TIMES, gap=st.integers(min_value=0, max_value=5000), text=st.sampled_from(CRONS))
def test_catch_up_counts_exactly_the_slots_in_between(last, gap, text):
    schedule = parse_schedule(text)
    last = schedule.floor(last)
    now = last + gap * 61
    due = due_slot(schedule, last, now)
    if due is None:
        assert schedule.next_after(last) > now
        return
    between, slot = 0, schedule.next_after(last)
    while slot < due.slot:
        between, slot = between + 1, schedule.next_after(slot)
    assert due.missed == between and due.slot <= now < due.deadline


@pytest.mark.parametrize("text", ["30s", "5m", "*/5 * * * *", "@daily", "startup", "off"])
def test_a_schedule_prints_as_text_that_parses_back_to_it(text):
    schedule = parse_schedule(text)
    assert parse_schedule(str(schedule)) == schedule


def test_cron_expressions_name_their_fields():
    cron = Cron.parse("*/15 8-17 * * mon-fri")
    assert cron.minutes == {0, 15, 30, 45} and cron.hours == set(range(8, 18))
    assert cron.weekdays == {1, 2, 3, 4, 5}
