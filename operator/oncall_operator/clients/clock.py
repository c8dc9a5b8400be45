"""Where "now" comes from: the system clock, or the sandbox's clock in demos and tests.

Handoffs are scheduled against the clock of the on-call source. In production that
is the (NTP-synchronised) system clock; the sandbox can run its clock faster or
jump it, so the demo and e2e tests point the operator at it with ONCALL_CLOCK_URL.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from datetime import UTC, datetime, timedelta


class SystemClock:
    # Re-check at least this often so a suspended laptop or a clock step is noticed.
    poll_seconds = 30.0

    async def now(self) -> datetime:
        return datetime.now(UTC)


class SandboxClock:
    """Reads /_sandbox/clock at most every `poll_seconds`, extrapolating in between."""

    poll_seconds = 0.5

    def __init__(self, url: str):
        self.url = url.rstrip("/") + "/_sandbox/clock"
        self._base: datetime | None = None
        self._base_monotonic = 0.0
        self._scale = 1.0
        self._lock = asyncio.Lock()

    def _fetch(self) -> tuple[datetime, float]:
        with urllib.request.urlopen(self.url, timeout=5) as response:
            body = json.load(response)
        return datetime.fromisoformat(body["now"]), float(body.get("time_scale", 1.0))

    async def now(self) -> datetime:
        async with self._lock:
            elapsed = time.monotonic() - self._base_monotonic
            if self._base is None or elapsed >= self.poll_seconds:
                self._base, self._scale = await asyncio.to_thread(self._fetch)
                self._base_monotonic, elapsed = time.monotonic(), 0.0
            assert self._base is not None
            return self._base + timedelta(seconds=elapsed * self._scale)


Clock = SystemClock | SandboxClock


def clock_from_url(url: str | None) -> Clock:
    return SandboxClock(url) if url else SystemClock()
