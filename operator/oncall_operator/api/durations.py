"""Duration strings in specs (part of the API contract): Go's form (10m, 1h30m) or whole days (30d), parsed by durationpy.

The same bounds are checked at admission (CEL, see api.common.duration) and here, for objects
stored before a CRD tightened them.
"""

from __future__ import annotations

import re
from datetime import timedelta

import durationpy

# Whole days, which Go's time.ParseDuration (and so CEL's duration()) cannot read.
DAYS = re.compile(r"^([0-9]{1,5})d$")


def parse_duration(text: str, *, days: bool = True) -> timedelta:
    """10m, 1h30m, 45s (and 30d with `days`) -> timedelta; anything else raises ValueError naming the text."""
    example = "10m, 1h30m or 30d" if days else "10m or 1h30m"
    whole_days = DAYS.match(text)
    if whole_days and days:
        return timedelta(days=int(whole_days.group(1)))
    try:
        value: timedelta = durationpy.from_str(text)
    except (durationpy.DurationError, ValueError, OverflowError):
        raise ValueError(f"{text!r} is not a duration like {example}") from None
    if not text or value < timedelta(0) or (not days and "d" in text):
        raise ValueError(f"{text!r} is not a duration like {example}")
    return value


def bounded_duration(text: str, minimum: timedelta, maximum: timedelta, *, days: bool = True) -> timedelta:
    value = parse_duration(text, days=days)
    if not minimum <= value <= maximum:
        raise ValueError(f"{text!r} is outside {format_duration(minimum)}..{format_duration(maximum)}")
    return value


def format_duration(value: timedelta) -> str:
    """The shortest Go-style spelling: 90s -> 1m30s, 1 day -> 24h."""
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = (
        (f"{hours}h" if hours else "")
        + (f"{minutes}m" if minutes else "")
        + (f"{seconds}s" if seconds else "")
    )
    return text or "0s"
