"""Retention decisions: the rule that applies where policies overlap, and which records go."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from oncall_operator.api.inventory import RetainedData

T = TypeVar("T", timedelta, int)


@dataclass(frozen=True)
class Limit:
    max_age: timedelta | None = None
    max_count: int | None = None

    def stricter(self, other: Limit) -> Limit:
        """Each bound is the tighter of the two (the strictest wins)."""
        return Limit(_least(self.max_age, other.max_age), _least(self.max_count, other.max_count))


def _least(a: T | None, b: T | None) -> T | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


@dataclass(frozen=True)
class PolicyRules:
    """One RetentionPolicy as the decisions need it."""

    namespace: str
    cluster_wide: bool
    rules: dict[RetainedData, Limit]

    def applies_to(self, namespace: str) -> bool:
        return self.cluster_wide or self.namespace == namespace


def effective(
    policies: Iterable[PolicyRules], namespace: str | None, defaults: dict[RetainedData, Limit]
) -> dict[RetainedData, Limit]:
    """Per class: the strictest rule of the policies applying to `namespace` (None: any namespace,
    for process-wide data such as caches); the built-in default where none has a rule."""
    chosen: dict[RetainedData, Limit] = {}
    for policy in policies:
        if namespace is not None and not policy.applies_to(namespace):
            continue
        for data, limit in policy.rules.items():
            chosen[data] = chosen[data].stricter(limit) if data in chosen else limit
    return {data: chosen.get(data, defaults[data]) for data in RetainedData}


@dataclass(frozen=True)
class Record:
    name: str
    created: datetime
    finished: bool  # unfinished records are never pruned
    deleting: bool = False  # deleted already (a finalizer still to release): gone, not pruned again


def to_prune(records: Sequence[Record], limit: Limit, now: datetime) -> list[str]:
    """Names of the finished records past maxAge, then the oldest finished ones past maxCount.

    A record being deleted is neither pruned (nor counted) again nor holds a place under maxCount: a
    pass killed after its delete leaves it with a deletionTimestamp until the operator is back.
    """
    finished = sorted(
        (r for r in records if r.finished and not r.deleting), key=lambda r: (r.created, r.name), reverse=True
    )
    doomed: list[str] = []
    for position, record in enumerate(finished):
        too_old = limit.max_age is not None and now - record.created > limit.max_age
        too_many = limit.max_count is not None and position >= limit.max_count
        if too_old or too_many:
            doomed.append(record.name)
    return doomed


@dataclass(frozen=True)
class Present:
    """A record as a listing shows it now."""

    uid: str
    deleting: bool = False


def landed(intended: Iterable[tuple[str, str]], present: Mapping[str, Present]) -> list[str]:
    """Of the (name, uid) deletions a killed pass recorded as intent, those that reached the API server:
    the record is gone, replaced by another of that name, or being deleted (a finalizer still held).
    A record still there untouched was never deleted: the next pass decides about it afresh, so it is
    counted by whichever pass deletes it, and a landed one only here (`to_prune` skips the deleting)."""
    done = []
    for name, uid in intended:
        now = present.get(name)
        if now is None or now.uid != uid or now.deleting:
            done.append(name)
    return done
