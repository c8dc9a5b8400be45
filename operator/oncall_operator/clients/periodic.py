"""A background round that repeats until stopped and survives its own failures."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Periodic:
    """Runs `round()` every `interval()` seconds (measured start to start) on the event loop."""

    def __init__(
        self, name: str, round: Callable[[], Awaitable[object]], interval: Callable[[], float]
    ) -> None:
        self.name, self._round, self._interval = name, round, interval
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self._round()
            except Exception:  # never let it die: resyncs and retries remain the safety net
                log.exception("%s round failed", self.name)
            await asyncio.sleep(max(0.0, self._interval() - (time.monotonic() - started)))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
