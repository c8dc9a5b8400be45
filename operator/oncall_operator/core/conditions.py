"""Kubernetes conditions as values: set one, keep lastTransitionTime unless the status flips."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from oncall_operator.api.common import Condition, rfc3339


def condition(
    type_: str, ok: bool, reason: str, message: str, generation: int | None, now: datetime
) -> Condition:
    return Condition(
        type=type_,
        status="True" if ok else "False",
        reason=reason,
        message=message,
        last_transition_time=rfc3339(now),
        observed_generation=generation,
    )


def set_conditions(existing: Sequence[Condition], *updates: Condition) -> list[Condition]:
    """`existing` with each update applied in place (new types appended, in order)."""
    result = list(existing)
    for new in updates:
        for index, old in enumerate(result):
            if old.type == new.type:
                if old.status == new.status:
                    new = new.model_copy(update={"last_transition_time": old.last_transition_time})
                result[index] = new
                break
        else:
            result.append(new)
    return result


def find(conditions: Sequence[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)
