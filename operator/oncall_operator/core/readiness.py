"""Readiness from how recently each watch heard the API server: pure, the clock is an argument.

A watch is one kind, across the namespaces the operator serves. `health.py` records when the API
server last answered for each; `/readyz` is ready only while none is older than the limit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class WatchKey:
    kind: str  # the plural

    @property
    def label(self) -> str:
        return f"the {self.kind} watch"


@dataclass(frozen=True)
class WatchAge:
    watch: WatchKey
    seconds: float  # since the API server last answered for it (since start when it never has)
    heard: bool  # whether it ever has
    failure: str | None  # the last failed check's reason (a taxonomy reason, no personal data)


@dataclass(frozen=True)
class Readiness:
    ready: bool
    stale_after: float
    stale: tuple[WatchAge, ...]

    def body(self) -> dict[str, Any]:
        """What /readyz answers: which watch is stale and for how long."""
        return {
            "ready": self.ready,
            "staleAfterSeconds": self.stale_after,
            "staleWatches": [
                {
                    "kind": age.watch.kind,
                    "staleSeconds": round(age.seconds, 1),
                    "everHeard": age.heard,
                    **({"lastFailure": age.failure} if age.failure else {}),
                }
                for age in self.stale
            ],
        }


class Freshness:
    """When each watch last heard the API server, in monotonic seconds."""

    def __init__(self, watches: Iterable[WatchKey], started: float) -> None:
        self._started = started
        self._heard: dict[WatchKey, float | None] = {watch: None for watch in watches}
        self._failures: dict[WatchKey, str | None] = dict.fromkeys(self._heard)

    @property
    def watches(self) -> tuple[WatchKey, ...]:
        return tuple(sorted(self._heard))

    def heard(self, watch: WatchKey, at: float) -> None:
        previous = self._heard[watch]
        self._heard[watch] = at if previous is None else max(previous, at)
        self._failures[watch] = None

    def failed(self, watch: WatchKey, reason: str) -> None:
        self._failures[watch] = reason

    def ages(self, now: float) -> tuple[WatchAge, ...]:
        return tuple(
            WatchAge(
                watch,
                max(0.0, now - (self._heard[watch] or self._started)),
                self._heard[watch] is not None,
                self._failures[watch],
            )
            for watch in self.watches
        )

    def readiness(self, now: float, stale_after: float) -> Readiness:
        """Ready when every watch has been heard, none longer ago than `stale_after`."""
        stale = tuple(age for age in self.ages(now) if not age.heard or age.seconds > stale_after)
        return Readiness(not stale, stale_after, stale)
