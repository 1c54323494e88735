"""Durations written in settings: one format, one parser.

A duration is a whole number with a unit, ``s`` (seconds), ``m`` (minutes), ``h`` (hours) or
``d`` (days): ``30s``, ``5m``, ``24h``, ``2d``; a bare number is seconds (``300``). Case and
spaces around the number and unit do not matter. It is read as whole seconds.

Where it is read: schedules (``SCHEDULE_<TASK>``: an interval is a duration, ``ticker.slots``)
and the settings typed ``Seconds`` (``GITHUB_ARCHIVE_AFTER``). A setting named ``*_s`` or
``*_ms`` is a plain number in that unit.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

#: what the error of a text that is not a duration says it should be
FORMAT = "a whole number with s, m, h or d (30s, 5m, 24h, 2d), or of seconds (300)"

_DURATION = re.compile(r"^(\d+)\s*([smhd]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class DurationError(ValueError):
    pass


def parse_duration(text: str) -> int:
    """``text`` in whole seconds; ``DurationError`` naming the format otherwise."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise DurationError(f"not a duration: {text[:40]!r}; {FORMAT}")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def _seconds(value: object) -> object:
    return parse_duration(value) if isinstance(value, str) else value


#: a setting holding a duration: a text in the one format above, or a number of seconds
Seconds = Annotated[int, BeforeValidator(_seconds)]
