"""A sliding-window rate limiter that serves waiters in priority order.

Slack and PagerDuty count requests per minute; when several syncs wait for the
same budget, the one whose handoff is earliest goes first. A server's
Retry-After pauses the whole budget. Waiting never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable

# Background work (cleanups, erasures) waits behind every handoff for a budget. It also gets more
# quick retries of a failed read: no handoff waits on it, and a run refused for one listing that
# failed three times in a row under a 25 % error rate would wait for its next schedule.
BACKGROUND = 1e12
FOREGROUND_READ_ATTEMPTS = 3  # the first try and two quick retries; the resource's backoff does the rest
BACKGROUND_READ_ATTEMPTS = 6


def read_attempts(priority: float) -> int:
    return BACKGROUND_READ_ATTEMPTS if priority >= BACKGROUND else FOREGROUND_READ_ATTEMPTS


class PriorityRateLimiter:
    def __init__(
        self, per_minute: float, *, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ):
        self.limit = max(1, int(per_minute))
        self.window = window
        self._clock = clock
        self._grants: deque[float] = deque()
        self._waiters: list[tuple[float, int]] = []
        self._sequence = itertools.count()
        self._paused_until = 0.0
        self._changed = asyncio.Event()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def pause(self, seconds: float) -> None:
        """The server said wait (Retry-After / ratelimit-reset)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        self._notify()

    def refund(self) -> None:
        """A request the server refused (429) did not use the server's budget: give it back.
        Without this, retries after a 429 fill the local window with requests that never counted."""
        if self._grants:
            self._grants.pop()
            self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _delay(self, now: float) -> float:
        while self._grants and self._grants[0] <= now - self.window:
            self._grants.popleft()
        delay = self._paused_until - now
        if len(self._grants) >= self.limit:
            delay = max(delay, self._grants[0] + self.window - now)
        return max(0.0, delay)

    async def acquire(self, priority: float = 0.0) -> float:
        """Waits for a slot; lower priority values go first. Returns the seconds waited."""
        entry = (priority, next(self._sequence))
        heapq.heappush(self._waiters, entry)
        started = self._clock()
        try:
            while True:
                now = self._clock()
                delay = self._delay(now)
                if self._waiters[0] == entry and delay <= 0:
                    heapq.heappop(self._waiters)
                    self._grants.append(now)
                    self._notify()
                    return now - started
                changed = self._changed
                timeout = delay if self._waiters[0] == entry else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), timeout=timeout)
        except BaseException:
            if entry in self._waiters:
                self._waiters.remove(entry)
                heapq.heapify(self._waiters)
                self._notify()
            raise
