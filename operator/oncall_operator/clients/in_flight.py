"""Identical reads in flight at the same time are one read.

Cleanup rules tend to share a schedule (Monday 03:00) and a token: without this, fifty runs firing
together each list the whole directory - fifty multi-megabyte answers held at once, fifty times the
rate budget, and handoffs queued behind them for connections. A caller that arrives while the same
read is under way awaits that read's result (or its error); nothing is kept once it is done, so a
caller joins a read still under way, never an answer already given.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

T = TypeVar("T")
P = ParamSpec("P")


class InFlight:
    def __init__(self) -> None:
        self._reads: dict[Hashable, asyncio.Future[Any]] = {}
        self.joined = 0  # callers served by a read someone else started (what sharing saved)

    async def join(self, key: Hashable, read: Callable[[], Coroutine[Any, Any, T]]) -> T:
        future = self._reads.get(key)
        if future is None:
            future = asyncio.ensure_future(read())
            self._reads[key] = future
            future.add_done_callback(functools.partial(self._done, key))
        else:
            self.joined += 1
        # One caller cancelled (its run deleted, its daemon stopped) must not cancel the others' read.
        result: T = await asyncio.shield(future)
        return result

    def _done(self, key: Hashable, future: asyncio.Future[Any]) -> None:
        if self._reads.get(key) is future:
            del self._reads[key]
        if not future.cancelled():
            future.exception()  # retrieved: every caller may have gone, the error is theirs, not a log line


class SharesReads(Protocol):
    in_flight: InFlight


S = TypeVar("S", bound=SharesReads)


def shared_while_in_flight(
    read: Callable[Concatenate[S, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, T]]:
    """A read method whose concurrent calls with equal arguments share one call. Its result is shared
    too, so it must be immutable (tuples, frozensets, read-only mappings)."""

    @functools.wraps(read)
    async def shared(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
        key = (read.__name__, args, tuple(sorted(kwargs.items())))
        return await self.in_flight.join(key, lambda: read(self, *args, **kwargs))

    return shared
