"""Which Kubernetes Event a reconcile posts: one per change of trouble, never one per retry."""

from __future__ import annotations

from dataclasses import dataclass

from oncall_operator.api.reasons import CommonReason


@dataclass(frozen=True)
class EventToPost:
    warning: bool
    reason: str
    message: str


def next_event(
    last_reason: str | None, problem_reason: str | None, message: str
) -> tuple[EventToPost | None, str | None]:
    """A warning when a problem starts or changes, `Recovered` when it ends, nothing otherwise.

    `problem_reason` is None when all is well. Returns the Event to post (or None) and the
    reason to remember for the next call."""
    if problem_reason is None:
        if last_reason is None:
            return None, None
        return EventToPost(False, CommonReason.RECOVERED, "working again"), None
    if problem_reason == last_reason:
        return None, last_reason
    return EventToPost(True, problem_reason, message), problem_reason
