"""Injected faults: applied before the real handler so a faulted write changes nothing."""

from __future__ import annotations

import itertools
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FaultKind = Literal[
    "status",
    "error_rate",
    "latency",
    "timeout",
    "rate_limit",
    "malformed_json",
    "drop_connection",
    "status_after_apply",
]


class Fault(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = ""
    api: Literal["slack", "pagerduty"]
    # Slack method name, PagerDuty "VERB /path/{id}", or "*" for every request of the API.
    method: str = "*"
    kind: FaultKind
    status: int = Field(default=503, ge=100, le=599)
    rate: float = Field(default=1.0, ge=0.0, le=1.0)
    latency_seconds: float = Field(default=1.0, ge=0.0)
    retry_after: int = Field(default=1, ge=0)
    count: int | None = Field(default=None, ge=1)
    applied: int = 0


class FaultSet:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, fault: Fault) -> Fault:
        fault.id = f"F{next(self._ids)}"
        self._faults.append(fault)
        return fault

    def all(self) -> list[Fault]:
        return list(self._faults)

    def clear(self) -> None:
        self._faults.clear()

    def match(self, api: str, method: str) -> list[Fault]:
        return [f for f in self._faults if f.api == api and f.method in ("*", method)]

    def consume(self, fault: Fault) -> None:
        """Count one application; a fault with a `count` disappears once used up."""
        fault.applied += 1
        if fault.count is not None and fault.applied >= fault.count and fault in self._faults:
            self._faults.remove(fault)
