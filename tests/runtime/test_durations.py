"""The one duration format of settings (``process.durations``)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from actors.tasks.github_sync.settings import GitHubSyncSettings
from process.durations import FORMAT, DurationError, Seconds, parse_duration
from ticker.slots import Interval, ScheduleError, parse_schedule


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("24h", 86_400), ("2d", 172_800), ("300", 300), (" 90 M ", 5_400), ("0", 0)],
)
def test_a_whole_number_with_s_m_h_or_d_or_bare_seconds(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1.5h", "-5m", "5 min", "5sec", "1w", "h", "5m30s"])
def test_anything_else_is_refused_naming_the_format(text):
    with pytest.raises(DurationError, match="not a duration") as refused:
        parse_duration(text)
    assert FORMAT in str(refused.value)


def test_schedules_and_settings_read_the_same_format(monkeypatch):
    class Sample(BaseModel):
        wait: Seconds

    assert parse_schedule("90m") == Interval(5_400) and Sample(wait="90m").wait == 5_400 == Sample(wait=5_400).wait
    monkeypatch.setenv("GITHUB_ARCHIVE_AFTER", "2d")
    assert GitHubSyncSettings().github_archive_after_s == 172_800
    with pytest.raises(ScheduleError):
        parse_schedule("5 min")
    with pytest.raises(ValueError, match="not a duration"):
        Sample(wait="5 min")
