"""Sliding-window rate limits, on real (monotonic) time: clients wait out Retry-After in real seconds."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable


class SlidingWindow:
    """At most `limit` hits per `window` seconds for each key; `hit` returns 0 or seconds to wait."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str, limit: int, window: float) -> float:
        now = self._clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - window:
            hits.popleft()
        if len(hits) >= limit:
            return max(hits[0] + window - now, 0.001)
        hits.append(now)
        return 0.0

    def remaining(self, key: str, limit: int, window: float) -> int:
        now = self._clock()
        hits = self._hits.get(key, deque())
        return max(limit - sum(1 for t in hits if t > now - window), 0)

    def reset_in(self, key: str, window: float) -> int:
        hits = self._hits.get(key)
        if not hits:
            return 0
        return max(math.ceil(hits[0] + window - self._clock()), 0)

    def clear(self) -> None:
        self._hits.clear()


def retry_after(seconds: float) -> int:
    """Whole seconds, at least 1, as Slack's Retry-After and PagerDuty's ratelimit-reset are."""
    return max(math.ceil(seconds), 1)
