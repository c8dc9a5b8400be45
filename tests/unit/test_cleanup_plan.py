"""CleanupRule decisions: who matches and why, exclusions, protection, changes, the hash and the caps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oncall_operator.api.cleanup import CleanupReason
from oncall_operator.core.cleanup.directory import Directory, PagerDutyUser, SlackUser
from oncall_operator.core.cleanup.plan import Change, ChangeKind, Plan, PlanItem, build_plan, check_caps
from oncall_operator.core.subjects import IdentifierKind, subject_ref
from support.cleanup import ALL_ACTIONS, rule

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
KEY = b"k" * 32


def directory(**facts: Any) -> Directory:
    pagerduty = [
        PagerDutyUser("PACTIVE", "active@acme.example", "user", frozenset({"PTEAM1"})),
        PagerDutyUser("PGONE01", "Gone@Acme.example", "user", frozenset({"PTEAM1", "PTEAM2"})),
        PagerDutyUser("PNOSLAK", "noslack@acme.example", "limited_user"),
        PagerDutyUser("PCONTR1", "contractor@vendor.example", "user"),
    ]
    slack = [
        SlackUser("UACTIVE", "active@acme.example"),
        SlackUser("UGONE01", "gone@acme.example", deleted=True),
        SlackUser("UCONTR1", "contractor@vendor.example"),
        SlackUser("UGUEST1", "guest@vendor.example", guest=True),
        SlackUser("UBOT001", None, bot=True),
        SlackUser("USLACKO", "slackonly@acme.example"),
    ]
    values: dict[str, Any] = {
        "now": NOW,
        "pagerduty_users": pagerduty,
        "slack_users": slack,
        "slack_groups": {
            "SGROUP1": frozenset({"UACTIVE", "UGONE01", "UCONTR1"}),
            "SGROUP2": frozenset({"UCONTR1"}),
        },
        "schedules": {"PSCHED1": frozenset({"PGONE01", "PACTIVE"}), "PSCHED2": frozenset({"PNOSLAK"})},
        "escalation_policies": {"PPOLICY": frozenset({"PGONE01"})},
    }
    values.update(facts)
    return Directory(**values)


def by_user(plan: Plan) -> dict[str, PlanItem]:
    return {(item.pagerduty_user or item.slack_user or ""): item for item in plan.items}


def test_deactivated_and_missing_match_with_changes_in_apply_order() -> None:
    plan = build_plan(rule(), directory(), KEY)
    items = by_user(plan)
    assert set(items) == {"PGONE01", "PNOSLAK"}
    gone = items["PGONE01"]
    assert gone.slack_user == "UGONE01" and gone.reasons == "D"
    assert [c.code for c in gone.changes] == ["gSGROUP1", "sPSCHED1", "ePPOLICY", "tPTEAM1", "tPTEAM2", "x"]
    assert items["PNOSLAK"].reasons == "M" and items["PNOSLAK"].slack_user is None
    # The email joins case-insensitively, and the subject is the keyed hash of the lower-cased email.
    assert gone.subject == subject_ref(KEY, IdentifierKind.EMAIL, "gone@acme.example")
    # Everyone with an account the actions touch counts: 4 PagerDuty users + 2 Slack-only people
    # (the bot is nobody).
    assert plan.population == 6 and plan.affected == 2 and plan.changes == 8


def test_every_condition_must_hold() -> None:
    spec = rule(match={"slackAccount": ["deactivated", "missing"], "pagerDuty": {"roles": ["limited_user"]}})
    assert set(by_user(build_plan(spec, directory(), KEY))) == {"PNOSLAK"}
    assert by_user(build_plan(spec, directory(), KEY))["PNOSLAK"].reasons == "MR"


def test_email_domains_not_in_matches_contractors_and_subdomains_count() -> None:
    spec = rule(match={"emailDomains": {"notIn": ["acme.example"]}}, actions=["removeFromSlackUserGroups"])
    items = by_user(build_plan(spec, directory(), KEY))
    assert set(items) == {"PCONTR1", "UGUEST1"}
    assert [c.code for c in items["PCONTR1"].changes] == ["gSGROUP1", "gSGROUP2"]
    assert items["UGUEST1"].changes == ()  # a guest in no group: matched, nothing to change
    sub = directory(pagerduty_users=[PagerDutyUser("PSUB001", "x@eu.acme.example", "user")], slack_users=[])
    assert build_plan(spec.model_copy(update={"actions": ALL_ACTIONS}), sub, KEY).items == ()


def test_inactive_for_days_uses_last_logins_and_no_account_means_no_login() -> None:
    logins = {"UACTIVE": NOW - timedelta(days=10), "UCONTR1": NOW - timedelta(days=100)}
    spec = rule(match={"inactiveForDays": 90}, actions=["deletePagerDutyUser"])
    items = by_user(build_plan(spec, directory(last_login=logins), KEY))
    assert set(items) == {"PGONE01", "PNOSLAK", "PCONTR1"}
    with pytest.raises(ValueError, match="access logs"):
        build_plan(spec, directory(), KEY)


def test_not_on_call_for_days_and_teams() -> None:
    spec = rule(
        match={"pagerDuty": {"notOnCallForDays": 30, "teams": ["PTEAM1"]}}, actions=["deletePagerDutyUser"]
    )
    items = by_user(build_plan(spec, directory(on_call_recently=frozenset({"PACTIVE"})), KEY))
    assert set(items) == {"PGONE01"} and items["PGONE01"].reasons == "OT"


def test_exclusions_by_id_team_and_group_leave_the_population() -> None:
    spec = rule(exclude={"pagerDutyUsers": ["PNOSLAK"], "slackUserGroups": ["SGROUP1"]})
    plan = build_plan(spec, directory(), KEY)
    assert plan.items == ()
    # PNOSLAK by id; the people of UACTIVE, UGONE01 and UCONTR1 are in SGROUP1: 2 Slack-only people left.
    assert plan.population == 2
    excluded_team = rule(exclude={"pagerDutyTeams": ["PTEAM2"]})
    assert set(by_user(build_plan(excluded_team, directory(), KEY))) == {"PNOSLAK"}


def test_people_on_call_soon_are_protected_unless_allowed() -> None:
    facts = directory(on_call_soon=frozenset({"PGONE01"}))
    item = by_user(build_plan(rule(), facts, KEY))["PGONE01"]
    assert item.protected and item.changes == () and item.reasons == "Dp"
    allowed = rule(protection={"allowOnCall": True})
    assert by_user(build_plan(allowed, facts, KEY))["PGONE01"].changes


def test_plan_hash_covers_users_and_changes_only() -> None:
    first = build_plan(rule(), directory(), KEY)
    assert first.hash.startswith("sha256:") and len(first.hash) == 71
    assert build_plan(rule(), directory(), b"other-key-of-32-bytes-aaaaaaaaaa").hash == first.hash
    fewer = directory(schedules={})
    assert build_plan(rule(), fewer, KEY).hash != first.hash


@pytest.mark.parametrize(
    ("affected", "population", "max_affected", "percent", "verdict"),
    [
        (10, 100, 10, 10, None),  # exactly the cap is allowed
        (11, 1000, 10, 10, CleanupReason.MAX_AFFECTED),
        (5, 50, 10, 10, None),  # exactly 10 %
        (6, 50, 10, 10, CleanupReason.MAX_AFFECTED_PERCENT),
        (0, 0, 0, 0, None),
        (1, 10, 0, 100, CleanupReason.MAX_AFFECTED),
    ],
)
def test_caps_boundaries(
    affected: int, population: int, max_affected: int, percent: int, verdict: CleanupReason | None
) -> None:
    items = tuple(
        PlanItem(f"P{i:06d}", None, "s", "M", (Change(ChangeKind.DELETE_USER),)) for i in range(affected)
    )
    result = check_caps(Plan(items, population), max_affected, percent)
    assert (result.reason if result else None) == verdict
