"""Kind-independent decisions: conditions, backoff, events, status round trips, error classes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import kubernetes
import pytest
import urllib3

from oncall_operator.api.oncallsync import OnCallSyncStatus
from oncall_operator.api.reasons import CommonReason
from oncall_operator.clients.kube import classify
from oncall_operator.core.backoff import MAX_SERVER_WAIT, Backoff, cap_server_wait
from oncall_operator.core.conditions import condition, find, set_conditions
from oncall_operator.core.errors import (
    InternalError,
    Misconfigured,
    NeedsPerson,
    NotFound,
    RateLimited,
    Transient,
    Unauthorized,
)
from oncall_operator.core.events import next_event
from oncall_operator.core.status import parse_status, render_status

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_transition_time_moves_only_when_the_status_flips() -> None:
    first = set_conditions([], condition("Ready", True, "A", "", 1, T0))
    same = set_conditions(first, condition("Ready", True, "B", "other", 2, T0 + timedelta(hours=1)))
    flipped = set_conditions(same, condition("Ready", False, "C", "", 3, T0 + timedelta(hours=2)))
    assert find(same, "Ready").last_transition_time == "2026-11-23T09:00:00Z"  # type: ignore[union-attr]
    assert find(same, "Ready").reason == "B"  # type: ignore[union-attr]
    assert find(flipped, "Ready").last_transition_time == "2026-11-23T11:00:00Z"  # type: ignore[union-attr]
    both = set_conditions(flipped, condition("Synced", True, "D", "", 3, T0))
    assert [c.type for c in both] == ["Ready", "Synced"]


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    backoff, rng = Backoff(), random.Random(7)
    outage = Transient("down")
    delays = [backoff.delay(n, outage, rng) for n in range(1, 12)]
    assert all(2.5 <= d <= 300 for d in delays)
    assert delays[5] > delays[0] * 4  # grows
    assert max(delays[-3:]) <= 300 and min(delays[-3:]) >= 150  # capped, still jittered
    assert len({round(d, 3) for d in delays}) == len(delays)


def test_a_server_hint_is_a_floor_never_the_whole_story() -> None:
    backoff, rng = Backoff(), random.Random(1)
    limited = RateLimited("wait", retry_after=5)
    assert all(backoff.delay(n, limited, rng) >= 5 for n in range(1, 6))
    assert backoff.delay(8, limited, rng) > 100  # an outage that keeps answering "5 s" still backs off
    huge = RateLimited("wait", retry_after=86_400)
    assert backoff.delay(1, huge, rng) == MAX_SERVER_WAIT


def test_failures_a_person_must_fix_retry_slowly() -> None:
    backoff, rng = Backoff(), random.Random(3)
    assert backoff.delay(1, Misconfigured("bad"), rng) >= 30
    assert backoff.delay(1, Unauthorized("no"), rng) >= 30
    assert backoff.delay(1, NeedsPerson("incidents"), rng) >= 450


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (2.0, (2.0, False)),
        (86_400.0, (MAX_SERVER_WAIT, True)),
        (float("nan"), (1.0, False)),
        (-5.0, (1.0, False)),
    ],
)
def test_server_waits_are_capped(given: float, expected: tuple[float, bool]) -> None:
    assert cap_server_wait(given) == expected


def test_one_event_per_change_of_trouble() -> None:
    event, last = next_event(None, "AuthFailed", "token refused")
    assert event is not None and event.warning and event.reason == "AuthFailed"
    assert next_event(last, "AuthFailed", "again") == (None, "AuthFailed")
    event, last = next_event(last, "NotInChannel", "bot not in channel")
    assert event is not None and event.reason == "NotInChannel"
    event, last = next_event(last, None, "")
    assert event is not None and not event.warning and event.reason == CommonReason.RECOVERED and last is None
    assert next_event(None, None, "") == (None, None)


def test_status_round_trip_and_stale_fields_are_cleared() -> None:
    status = OnCallSyncStatus(members=["U1"], member_count=1, slack_user_group_id="S1")
    rendered = render_status(status)
    assert (
        rendered["members"] == ["U1"] and rendered["plannedChanges"] is None
    )  # null deletes in a merge patch
    assert parse_status(OnCallSyncStatus, rendered) == status


def test_a_status_that_no_longer_fits_keeps_its_conditions() -> None:
    stored = {
        "members": "not-a-list",
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "X", "lastTransitionTime": "2026-01-01T00:00:00Z"},
            {"type": "Broken"},
        ],
    }
    status = parse_status(OnCallSyncStatus, stored)
    assert status.members == [] and [c.type for c in status.conditions] == ["Ready"]
    assert parse_status(OnCallSyncStatus, None) == OnCallSyncStatus()


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (kubernetes.client.ApiException(status=404), NotFound),
        (kubernetes.client.ApiException(status=403), Unauthorized),
        (kubernetes.client.ApiException(status=503), Transient),
        (kubernetes.client.ApiException(status=409), Transient),
        (kubernetes.client.ApiException(status=422), Misconfigured),
        (urllib3.exceptions.MaxRetryError(None, "/", None), Transient),  # type: ignore[arg-type]
        (ConnectionRefusedError(), Transient),
        (KeyError("x"), InternalError),
    ],
)
def test_kubernetes_errors_are_classified(error: Exception, expected: type[Exception]) -> None:
    classified = classify(error, "reading Secret s")
    assert type(classified) is expected
    assert "reading Secret s" in str(classified)


def test_internal_errors_name_the_type_only() -> None:
    wrapped = InternalError.wrap(KeyError("jane@example.com"), "syncing")
    assert wrapped.reason == "InternalError" and "KeyError" in wrapped.message
    assert "jane" not in wrapped.message and wrapped.__cause__ is not None


def test_subject_refs_are_keyed_normalised_and_opaque() -> None:
    from oncall_operator.core.subjects import IdentifierKind, subject_ref

    key, other = b"k" * 32, b"o" * 32
    email = subject_ref(key, IdentifierKind.EMAIL, " Jane.Doe@Example.COM ")
    assert email == subject_ref(key, IdentifierKind.EMAIL, "jane.doe@example.com")
    assert email != subject_ref(other, IdentifierKind.EMAIL, "jane.doe@example.com")
    # Ids are case-sensitive and kinds never collide.
    assert subject_ref(key, IdentifierKind.SLACK_USER, "U1") != subject_ref(
        key, IdentifierKind.PAGERDUTY_USER, "U1"
    )
    assert len(email) == len("hmac-sha256:") + 22
