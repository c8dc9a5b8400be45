"""A DeletionRequest that is retried says why: the reason on the receipt and a Ready=False condition."""

from __future__ import annotations

from datetime import UTC, datetime

from oncall_operator.api.deletion import DeletionPhase, DeletionRequestStatus
from oncall_operator.kinds.deletionrequest.daemon import retrying


def test_a_retry_is_a_classified_condition_and_the_phase_stays_running() -> None:
    status = DeletionRequestStatus(phase=DeletionPhase.RUNNING)
    first = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    retrying(status, "InvalidResponse", "Slack's answer to usergroups.list is not JSON", first, 1)
    [ready] = status.conditions
    assert (ready.type, ready.status, ready.reason) == ("Ready", "False", "InvalidResponse")
    assert status.reason == "InvalidResponse" and status.message == ready.message
    assert status.message == "retrying: Slack's answer to usergroups.list is not JSON"
    assert status.phase is DeletionPhase.RUNNING
    later = datetime(2026, 3, 2, 9, 5, tzinfo=UTC)
    retrying(status, "SlackUnavailable", "Slack unreachable", later, 1)
    [ready] = status.conditions
    assert ready.reason == "SlackUnavailable" and ready.last_transition_time == "2026-03-02T09:00:00Z"
