"""Parsing of the spec's duration strings (1h30m, 10m, 45s)."""

from __future__ import annotations

import re
from datetime import timedelta

MIN_RESYNC = timedelta(seconds=30)


def parse_duration(text: str) -> timedelta:
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    if not match or not text:
        raise ValueError(f"{text!r} is not a duration like 10m or 1h30m")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def resync_interval(text: str) -> timedelta:
    return max(MIN_RESYNC, parse_duration(text))
