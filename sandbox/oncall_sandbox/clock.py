"""The sandbox clock: scaled real time plus a manual offset, so tests and demos can make handoffs happen."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class Clock:
    """`now = start + real_elapsed * time_scale + offset`; setting or advancing only moves the offset."""

    def __init__(self, start: datetime | None = None, time_scale: float = 1.0) -> None:
        if time_scale < 0:
            raise ValueError("time_scale must be >= 0")
        self.time_scale = time_scale
        self._start = (start or datetime.now(UTC)).astimezone(UTC)
        self._real_start = time.monotonic()
        self._offset = timedelta(0)
        # Control calls come from the server loop while tests read from their own thread.
        self._lock = threading.Lock()

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._real_start) * self.time_scale
        with self._lock:
            offset = self._offset
        return self._start + timedelta(seconds=elapsed) + offset

    def timestamp(self) -> float:
        return self.now().timestamp()

    def set(self, when: datetime) -> datetime:
        if when.tzinfo is None:
            raise ValueError("the time needs a UTC offset")
        with self._lock:
            self._offset += when.astimezone(UTC) - self.now_unlocked()
        return self.now()

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()

    def now_unlocked(self) -> datetime:
        elapsed = (time.monotonic() - self._real_start) * self.time_scale
        return self._start + timedelta(seconds=elapsed) + self._offset
