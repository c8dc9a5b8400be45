"""Identical reads in flight at once are one read; nothing is kept after it; a cancelled caller
does not cancel the others' read."""

from __future__ import annotations

import asyncio

import pytest

from oncall_operator.clients.in_flight import InFlight, shared_while_in_flight


class Directory:
    def __init__(self) -> None:
        self.in_flight = InFlight()
        self.calls: list[str] = []
        self.release = asyncio.Event()
        self.fail = False

    @shared_while_in_flight
    async def users(self, token: str) -> tuple[str, ...]:
        self.calls.append(token)
        await self.release.wait()
        if self.fail:
            raise RuntimeError("listing failed")
        return (f"{token}-user",)


async def test_concurrent_equal_calls_share_one_read_and_different_ones_do_not() -> None:
    directory = Directory()
    calls = [asyncio.create_task(directory.users(t)) for t in ("a", "a", "a", "b")]
    await asyncio.sleep(0)
    directory.release.set()
    assert await asyncio.gather(*calls) == [("a-user",)] * 3 + [("b-user",)]
    assert directory.calls == ["a", "b"] and directory.in_flight.joined == 2
    assert await directory.users("a") == ("a-user",)  # done reads are not kept: read again
    assert directory.calls == ["a", "b", "a"]


async def test_an_error_reaches_every_caller() -> None:
    directory = Directory()
    directory.fail = True
    calls = [asyncio.create_task(directory.users("a")) for _ in range(3)]
    await asyncio.sleep(0)
    directory.release.set()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert [str(r) for r in results] == ["listing failed"] * 3 and directory.calls == ["a"]


async def test_a_cancelled_caller_leaves_the_read_to_the_others() -> None:
    directory = Directory()
    first, second = (asyncio.create_task(directory.users("a")) for _ in range(2))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    directory.release.set()
    assert await second == ("a-user",) and directory.calls == ["a"]
