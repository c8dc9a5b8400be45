"""The limiter serves the earliest handoff first and honours server pauses."""

from __future__ import annotations

import asyncio

from oncall_operator.clients.ratelimit import PriorityRateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_waiters_are_served_in_priority_order() -> None:
    limiter = PriorityRateLimiter(2, window=0.2)
    order: list[int] = []

    async def take(priority: int) -> None:
        await limiter.acquire(priority)
        order.append(priority)

    await asyncio.gather(*(take(p) for p in (5, 3, 9, 1, 7)))
    # The first two were granted at once in arrival order; the rest by priority.
    assert order[:2] == [5, 3] and order[2:] == [1, 7, 9]


async def test_window_limits_grants() -> None:
    clock = FakeClock()
    limiter = PriorityRateLimiter(3, window=60, clock=clock)
    for _ in range(3):
        assert await limiter.acquire() == 0
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.05)
    assert not waiter.done() and limiter.waiting == 1
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert limiter.waiting == 0


async def test_pause_delays_everyone() -> None:
    limiter = PriorityRateLimiter(100)
    limiter.pause(0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await limiter.acquire()
    assert loop.time() - started >= 0.15


async def test_a_refused_request_is_refunded() -> None:
    clock = FakeClock()
    limiter = PriorityRateLimiter(2, window=60, clock=clock)
    await limiter.acquire()
    await limiter.acquire()
    limiter.refund()  # the server answered 429: that request did not count
    assert await limiter.acquire() == 0
