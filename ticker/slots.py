"""Slot arithmetic: schedules → slot ids, next due, catch-up. Pure: no clock, no I/O.

A slot is identified by its start, in integer epoch seconds (UTC). Interval slots are
epoch-aligned (a 5m schedule has slots at :00, :05, …), so every replica computes the
same ids from the same Redis ``TIME``. Cron expressions are parsed by periodiq's parser
and evaluated here in UTC: periodiq's own loop evaluates them in local time (DST bugs)
and sends duplicates from two replicas, so only its parser is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from periodiq import CronSpec

from process.durations import DurationError, parse_duration

#: how far back a cron schedule is searched for its latest slot (covers "once a year")
_CRON_LOOKBACK_DAYS = 366 * 4 + 1
#: catch-up ticks count at most this many missed slots (the count is informational)
MAX_COUNTED_MISSES = 100_000


class ScheduleError(ValueError):
    pass


@dataclass(frozen=True)
class Interval:
    seconds: int

    def floor(self, t: float) -> int:
        """The start of the slot that contains t."""
        return int(t // self.seconds) * self.seconds

    def next_after(self, slot: int) -> int:
        return self.floor(slot) + self.seconds

    def count_between(self, earlier: int, later: int) -> int:
        """Slots strictly between two slot starts."""
        return max(0, (later - earlier) // self.seconds - 1)

    def __str__(self) -> str:  # parse_schedule(str(s)) == s: tickers publish this for `status`
        return f"{self.seconds}s"


@dataclass(frozen=True)
class Cron:
    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool

    @classmethod
    def parse(cls, text: str) -> Cron:
        try:
            spec = CronSpec.parse(text)
        except (IndexError, KeyError, ValueError) as exc:
            raise ScheduleError(f"not a cron expression: {text!r} ({exc})") from None
        weekdays = frozenset(d % 7 for d in spec.dow)
        ranges = [(spec.minute, 0, 59), (spec.hour, 0, 23), (spec.dom, 1, 31), (spec.month, 1, 12)]
        if not all(values and lo <= min(values) and max(values) <= hi for values, lo, hi in ranges) or not weekdays:
            raise ScheduleError(f"cron field out of range: {text!r}")
        return cls(
            text=text,
            minutes=frozenset(spec.minute),
            hours=frozenset(spec.hour),
            days=frozenset(spec.dom),
            months=frozenset(spec.month),
            weekdays=weekdays,
            days_restricted=len(set(spec.dom)) < 31,
            weekdays_restricted=len(weekdays) < 7,
        )

    def _day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        by_dom = day.day in self.days
        by_dow = day.isoweekday() % 7 in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return by_dom or by_dow  # cron's rule: either restricted field may match
        return by_dom and by_dow

    def _times(self) -> list[tuple[int, int]]:
        return sorted((h, m) for h in self.hours for m in self.minutes)

    def floor(self, t: float) -> int:
        now = datetime.fromtimestamp(int(t), UTC)
        times = self._times()
        for back in range(_CRON_LOOKBACK_DAYS):
            day = (now - timedelta(days=back)).date()
            if not self._day_matches(day):
                continue
            limit = (now.hour, now.minute) if back == 0 else (23, 59)
            fitting = [hm for hm in times if hm <= limit]
            if fitting:
                h, m = fitting[-1]
                return int(datetime(day.year, day.month, day.day, h, m, tzinfo=UTC).timestamp())
        raise ScheduleError(f"cron {self.text!r} has no slot in the last four years")

    def next_after(self, slot: int) -> int:
        start = datetime.fromtimestamp(int(slot) // 60 * 60, UTC) + timedelta(minutes=1)
        times = self._times()
        for ahead in range(_CRON_LOOKBACK_DAYS):
            day = (start + timedelta(days=ahead)).date()
            if not self._day_matches(day):
                continue
            floor = (start.hour, start.minute) if ahead == 0 else (0, 0)
            fitting = [hm for hm in times if hm >= floor]
            if fitting:
                h, m = fitting[0]
                return int(datetime(day.year, day.month, day.day, h, m, tzinfo=UTC).timestamp())
        raise ScheduleError(f"cron {self.text!r} has no slot in the next four years")

    def count_between(self, earlier: int, later: int) -> int:
        count, slot = 0, self.next_after(earlier)
        while slot < later and count < MAX_COUNTED_MISSES:
            count, slot = count + 1, self.next_after(slot)
        return count

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Startup:
    """Once per release."""

    def __str__(self) -> str:
        return "startup"


@dataclass(frozen=True)
class Off:
    def __str__(self) -> str:
        return "off"


Schedule = Interval | Cron | Startup | Off


def parse_schedule(text: str) -> Schedule:
    """An interval (a duration, ``process.durations``: ``30s``, ``5m``, ``1h``, ``300``), a 5-field
    cron expression, ``startup`` or ``off``."""
    clean = text.strip().lower()
    if clean in ("off", "never", "disabled", ""):
        return Off()
    if clean == "startup":
        return Startup()
    try:
        seconds = parse_duration(clean)
    except DurationError:
        seconds = None
    if seconds is not None:
        if seconds <= 0:
            raise ScheduleError(f"an interval must be positive: {text!r}")
        return Interval(seconds)
    if clean.startswith("@") or len(clean.split()) == 5:
        return Cron.parse(text.strip())
    raise ScheduleError(
        f"not a schedule: {text!r}; use an interval (30s, 5m, 1h), a cron expression "
        "('*/5 * * * *'), 'startup' or 'off'"
    )


@dataclass(frozen=True)
class Due:
    """A slot the ticker should emit now."""

    slot: int
    deadline: int
    missed: int

    @property
    def catch_up(self) -> bool:
        return self.missed > 0


def due_slot(schedule: Interval | Cron, last_slot: int | None, now: float) -> Due | None:
    """The slot to emit at ``now`` given the newest slot already emitted, if any.

    Slots missed since ``last_slot`` (ticker or Redis down) are coalesced into one tick
    for the current slot that records how many it stands for. A tick is worth running
    until its successor slot starts: that is its deadline.
    """
    current = schedule.floor(now)
    if last_slot is not None and current <= last_slot:
        return None
    missed = 0 if last_slot is None else schedule.count_between(last_slot, current)
    return Due(slot=current, deadline=schedule.next_after(current), missed=missed)


def next_due_at(schedule: Interval | Cron, last_slot: int | None, now: float) -> int:
    """When the next slot after what was emitted starts (for sleeping and for `status`)."""
    if last_slot is None or schedule.floor(now) > last_slot:
        return int(now) if last_slot is None else schedule.floor(now)
    return schedule.next_after(last_slot)
