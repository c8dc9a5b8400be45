"""Who should be in the group, and what to change: pure decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from oncall_operator.core.membership import (
    Shift,
    SlackAccount,
    SourceSelection,
    TemplateContext,
    next_boundary,
    plan_changes,
    render_template,
    resolve_members,
    select_current,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def shift(
    user: str,
    *,
    schedule: str | None = "PSCHED1",
    policy: str | None = "PPOL1",
    level: int | None = 1,
    start: datetime | None = NOW - HOUR,
    end: datetime | None = NOW + HOUR,
) -> Shift:
    return Shift(user, policy, level, schedule, start, end)


SCHEDULES = SourceSelection(frozenset({"PSCHED1"}), {})


def test_only_selected_sources_and_covering_shifts_count() -> None:
    shifts = [
        shift("PA"),
        shift("PB", schedule="POTHER"),
        shift("PC", start=NOW + HOUR, end=NOW + 2 * HOUR),
        shift("PA", policy="PPOL2"),  # same user and schedule via another policy: once
    ]
    current = select_current(shifts, SCHEDULES, NOW)
    assert [s.pagerduty_user for s, _ in current] == ["PA"]


def test_escalation_levels_filter_and_empty_means_all() -> None:
    shifts = [shift("PA", schedule=None, level=1), shift("PB", schedule=None, level=2)]
    level_one = SourceSelection(frozenset(), {"PPOL1": frozenset({1})})
    every = SourceSelection(frozenset(), {"PPOL1": frozenset()})
    assert [s.pagerduty_user for s, _ in select_current(shifts, level_one, NOW)] == ["PA"]
    assert [s.pagerduty_user for s, _ in select_current(shifts, every, NOW)] == ["PA", "PB"]


def test_next_boundary_is_the_earliest_start_or_end_after_now() -> None:
    shifts = [shift("PA", end=NOW + 3 * HOUR), shift("PB", start=NOW + 2 * HOUR, end=NOW + 5 * HOUR)]
    assert next_boundary(shifts, SCHEDULES, NOW) == NOW + 2 * HOUR
    assert next_boundary([shift("PA", start=None, end=None)], SCHEDULES, NOW) is None


def test_unmapped_users_are_reported_and_never_block_others() -> None:
    current = select_current([shift("PA"), shift("PB"), shift("PC"), shift("PD")], SCHEDULES, NOW)
    accounts = {
        "PA": SlackAccount("UA"),
        "PB": SlackAccount("UB", deleted=True),
        "PC": "NoSlackAccount",
        "PD": SlackAccount("UD", is_bot=True),
    }
    resolution = resolve_members(
        current, accounts, always_include=["ULEAD"], fallback_users=[], use_fallback=False
    )
    assert resolution.desired_members == ("UA", "ULEAD")
    assert dict(resolution.unmapped) == {
        "PB": "SlackUserDeactivated",
        "PC": "NoSlackAccount",
        "PD": "SlackUserIsBot",
    }


def test_guests_are_reported_not_added() -> None:
    current = select_current([shift("PA")], SCHEDULES, NOW)
    resolution = resolve_members(
        current,
        {"PA": SlackAccount("UA", is_restricted=True)},
        always_include=[],
        fallback_users=[],
        use_fallback=False,
    )
    assert resolution.desired_members == () and resolution.unmapped == (("PA", "SlackUserIsGuest"),)


def test_nobody_on_call_fallback_keep_and_disable() -> None:
    empty = resolve_members([], {}, always_include=["ULEAD"], fallback_users=["UFB"], use_fallback=True)
    assert empty.nobody_on_call and empty.desired_members == ("UFB", "ULEAD")
    nobody = resolve_members([], {}, always_include=["ULEAD"], fallback_users=[], use_fallback=False)
    keep = plan_changes(
        current_members=["UA"],
        group_enabled=True,
        resolution=nobody,
        when_nobody_on_call="keepLast",
        max_removals=10,
    )
    assert keep.is_noop and keep.final_members == ("UA",)
    disable = plan_changes(
        current_members=["UA"],
        group_enabled=True,
        resolution=nobody,
        when_nobody_on_call="disableGroup",
        max_removals=10,
    )
    assert disable.disable_group and not disable.writes_membership


def test_plan_is_minimal_and_respects_the_removal_cap() -> None:
    current = select_current([shift("PA")], SCHEDULES, NOW)
    resolution = resolve_members(
        current, {"PA": SlackAccount("UA")}, always_include=[], fallback_users=[], use_fallback=False
    )
    same = plan_changes(
        current_members=["UA"],
        group_enabled=True,
        resolution=resolution,
        when_nobody_on_call="keepLast",
        max_removals=10,
    )
    assert same.is_noop
    change = plan_changes(
        current_members=["UB", "UC"],
        group_enabled=True,
        resolution=resolution,
        when_nobody_on_call="keepLast",
        max_removals=2,
    )
    assert change.add == ("UA",) and change.remove == ("UB", "UC") and change.blocked_reason is None
    blocked = plan_changes(
        current_members=["UB", "UC"],
        group_enabled=True,
        resolution=resolution,
        when_nobody_on_call="keepLast",
        max_removals=1,
    )
    assert blocked.blocked_reason and "maxRemovalsPerSync=1" in blocked.blocked_reason
    assert blocked.final_members == ("UB", "UC")
    created = plan_changes(
        current_members=None,
        group_enabled=True,
        resolution=resolution,
        when_nobody_on_call="keepLast",
        max_removals=0,
    )
    assert created.create_group and created.final_members == ("UA",)
    reenabled = plan_changes(
        current_members=["UA"],
        group_enabled=False,
        resolution=resolution,
        when_nobody_on_call="keepLast",
        max_removals=10,
    )
    assert reenabled.enable_group and not reenabled.writes_membership


def test_templates_render_mentions_group_and_times() -> None:
    context = TemplateContext(mentions="<@UA>", group="@payments", start=NOW, end=NOW + HOUR)
    text = render_template("On call: {mentions} ({group}) until {end:%a %H:%M} since {start}", context)
    assert text == "On call: <@UA> (@payments) until Sun 13:00 since 2026-11-22 12:00 UTC"
    berlin = render_template("until {end:%H:%M %Z}", context, "Europe/Berlin")
    assert berlin == "until 14:00 CET"


def test_everyone_unmapped_leaves_the_group_as_it_is() -> None:
    current = select_current([shift("PA")], SCHEDULES, NOW)
    resolution = resolve_members(
        current, {"PA": "NoSlackAccount"}, always_include=[], fallback_users=["UFB"], use_fallback=True
    )
    assert not resolution.nobody_on_call and resolution.desired_members == ()
    plan = plan_changes(
        current_members=["UB"],
        group_enabled=True,
        resolution=resolution,
        when_nobody_on_call="fallback",
        max_removals=10,
    )
    assert plan.is_noop and plan.final_members == ("UB",)
