"""CleanupRule scheduling (cron in a time zone, one catch-up run), run names, rule status, and the spec."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from oncall_operator.api.cleanup import CleanupRuleStatus
from oncall_operator.api.cleanuprun import RunPhase, RunTrigger
from oncall_operator.core.cleanup.rulestatus import RunSnapshot, awaiting_approval, runs_to_prune, with_runs
from oncall_operator.core.cleanup.schedule import (
    decide_slot,
    next_slot,
    on_demand_run_name,
    scheduled_run_name,
)
from support.cleanup import rule

DAY = timedelta(days=1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_slots_follow_the_time_zone_across_dst() -> None:
    # 03:00 in Berlin is 02:00 UTC in winter and 01:00 UTC in summer.
    first = next_slot("0 3 * * *", "Europe/Berlin", at("2026-03-27T12:00:00+00:00"))
    second = next_slot("0 3 * * *", "Europe/Berlin", first)
    assert first.astimezone(UTC).hour == 2 and second.astimezone(UTC).hour == 1
    # When clocks fall back, 02:30 happens twice; the rule runs once.
    fall = next_slot("30 2 * * *", "Europe/Berlin", at("2026-10-24T12:00:00+00:00"))
    after = next_slot("30 2 * * *", "Europe/Berlin", fall)
    assert (after - fall) > timedelta(hours=23)


def test_the_slot_that_just_came_runs_on_schedule() -> None:
    decision = decide_slot(
        "0 3 * * *", "UTC", at("2026-03-01T03:00:00+00:00"), at("2026-03-02T03:00:05+00:00"), DAY
    )
    assert decision.run_slot == at("2026-03-02T03:00:00+00:00") and decision.trigger is RunTrigger.SCHEDULE
    assert decision.handled == decision.run_slot and decision.missed == 0


def test_nothing_due_before_the_next_slot() -> None:
    decision = decide_slot(
        "0 3 * * *", "UTC", at("2026-03-02T03:00:00+00:00"), at("2026-03-02T09:00:00+00:00"), DAY
    )
    assert decision.run_slot is None and decision.handled is None


def test_missed_slots_give_one_catch_up_run_for_the_newest() -> None:
    down_since = at("2026-03-01T03:00:00+00:00")
    decision = decide_slot("0 * * * *", "UTC", down_since, at("2026-03-01T09:20:00+00:00"), DAY)
    assert decision.run_slot == at("2026-03-01T09:00:00+00:00") and decision.trigger is RunTrigger.CATCH_UP
    assert decision.missed >= 1


def test_a_slot_later_than_the_starting_deadline_is_skipped() -> None:
    decision = decide_slot(
        "0 3 * * *",
        "UTC",
        at("2026-03-01T03:00:00+00:00"),
        at("2026-03-02T05:00:00+00:00"),
        timedelta(hours=1),
    )
    assert decision.run_slot is None and decision.handled == at("2026-03-02T03:00:00+00:00")
    assert decision.missed == 1


def test_run_names_are_one_per_slot_and_per_request() -> None:
    slot = at("2026-03-02T03:00:00+00:00")
    assert scheduled_run_name("weekly", slot) == f"weekly-{int(slot.timestamp()) // 60}"
    assert scheduled_run_name("weekly", slot) == scheduled_run_name("weekly", slot.astimezone(UTC))
    assert (
        on_demand_run_name("weekly", "a")
        == on_demand_run_name("weekly", "a")
        != on_demand_run_name("weekly", "b")
    )
    assert len(scheduled_run_name("r" * 253, slot)) <= 253


def snapshot(name: str, hour: int, phase: RunPhase, **counts: Any) -> RunSnapshot:
    return RunSnapshot(name, at(f"2026-03-02T{hour:02d}:00:00+00:00"), phase, "schedule", **counts)


def test_rule_status_counts_each_finished_run_once_and_prunes_the_oldest() -> None:
    runs = [
        snapshot("r1", 1, RunPhase.COMPLETED, matched=3, affected=2, applied=4),
        snapshot("r2", 2, RunPhase.ABORTED, matched=50, affected=50),
        snapshot("r3", 3, RunPhase.AWAITING_APPROVAL, matched=1, affected=1),
    ]
    status = with_runs(CleanupRuleStatus(), runs)
    assert [r.name for r in status.last_runs] == ["r3", "r2", "r1"]
    assert status.totals.runs == 2 and status.totals.applied == 4 and status.totals.matched == 53
    again = with_runs(status, runs)
    assert again.totals == status.totals
    assert runs_to_prune(runs, 1) == ["r1"]  # the awaiting run is never pruned
    assert awaiting_approval(runs) == (1, runs[2].created)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schedule": "every monday"}, "should match pattern"),
        ({"schedule": "61 3 * * *"}, "not a cron expression"),
        ({"timeZone": "Mars/Olympus"}, "not an IANA time zone"),
        ({"match": {}}, "an empty match would match everyone"),
        ({"actions": []}, "at least 1 item"),
        ({"actions": ["removeFromEverything"]}, "Input should be"),
        (
            {"match": {"emailDomains": {"in": ["a.example"], "notIn": ["a.example"]}}},
            "both in `in` and in `notIn`",
        ),
        (
            {"match": {"pagerDuty": {"teams": ["PTEAM1"]}}, "exclude": {"pagerDutyTeams": ["PTEAM1"]}},
            "both matched and excluded",
        ),
        ({"startingDeadline": "0s"}, "outside"),
    ],
)
def test_bad_specs_are_refused_with_the_field_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        rule(**change)


def test_defaults_are_the_safe_ones() -> None:
    spec = rule()
    assert spec.dry_run and spec.approval.value == "manual" and not spec.protection.allow_on_call
    assert (spec.safety.max_affected, spec.safety.max_affected_percent) == (10, 10)
    assert spec.protection.on_call_within_hours == 24 and spec.schedule is None
