"""Pure decisions for OnCallSync: who should be in the group, and what to change.

No I/O here: the kind's reconcile gathers the facts, these functions decide.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from oncall_operator.api.oncallsync import UnmappedReason

SourceType = Literal["schedule", "escalationPolicy"]


@dataclass(frozen=True)
class Shift:
    """One PagerDuty on-call entry; start/end None means permanently on call."""

    pagerduty_user: str
    escalation_policy: str | None
    level: int | None
    schedule: str | None
    start: datetime | None
    end: datetime | None

    def covers(self, moment: datetime) -> bool:
        return (self.start is None or self.start <= moment) and (self.end is None or moment < self.end)


@dataclass(frozen=True)
class SourceSelection:
    """The schedules and policy levels one OnCallSync asks for."""

    schedules: frozenset[str]
    escalation_levels: Mapping[str, frozenset[int]]  # policy id -> levels; empty = every level

    def source_of(self, shift: Shift) -> tuple[SourceType, str, int | None] | None:
        if shift.schedule and shift.schedule in self.schedules:
            return ("schedule", shift.schedule, None)
        if shift.escalation_policy is not None and shift.escalation_policy in self.escalation_levels:
            levels = self.escalation_levels[shift.escalation_policy]
            if not levels or (shift.level is not None and shift.level in levels):
                return ("escalationPolicy", shift.escalation_policy, shift.level)
        return None


@dataclass(frozen=True)
class SlackAccount:
    id: str
    deleted: bool = False
    is_bot: bool = False
    is_restricted: bool = False


@dataclass(frozen=True)
class OnCallMember:
    pagerduty_user: str
    slack_user: str | None
    source_type: SourceType
    source_id: str
    level: int | None
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class Resolution:
    on_call: tuple[OnCallMember, ...]
    desired_members: tuple[str, ...]
    unmapped: tuple[tuple[str, UnmappedReason], ...]
    nobody_on_call: bool


@dataclass(frozen=True)
class Plan:
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    enable_group: bool = False
    disable_group: bool = False
    create_group: bool = False
    final_members: tuple[str, ...] = ()
    blocked_reason: str | None = None

    @property
    def writes_membership(self) -> bool:
        return bool(self.add or self.remove)

    @property
    def is_noop(self) -> bool:
        return not (self.writes_membership or self.enable_group or self.disable_group or self.create_group)


def select_current(
    shifts: Iterable[Shift], selection: SourceSelection, now: datetime
) -> list[tuple[Shift, tuple[SourceType, str, int | None]]]:
    """Shifts of the selected sources that cover `now`, one per user and source."""
    seen: set[tuple[str, str, int | None]] = set()
    chosen: list[tuple[Shift, tuple[SourceType, str, int | None]]] = []
    for shift in sorted(shifts, key=lambda s: (s.pagerduty_user, s.schedule or "", s.level or 0)):
        source = selection.source_of(shift)
        if source is None or not shift.covers(now):
            continue
        key = (shift.pagerduty_user, source[1], source[2])
        if key not in seen:
            seen.add(key)
            chosen.append((shift, source))
    return chosen


def next_boundary(shifts: Iterable[Shift], selection: SourceSelection, now: datetime) -> datetime | None:
    """The earliest shift start or end after `now` among the selected sources: the next handoff."""
    moments = [
        moment
        for shift in shifts
        if selection.source_of(shift) is not None
        for moment in (shift.start, shift.end)
        if moment is not None and moment > now
    ]
    return min(moments, default=None)


def resolve_members(
    current: Sequence[tuple[Shift, tuple[SourceType, str, int | None]]],
    accounts: Mapping[str, SlackAccount | UnmappedReason],
    *,
    always_include: Sequence[str],
    fallback_users: Sequence[str],
    use_fallback: bool,
) -> Resolution:
    """Maps on-call PagerDuty users to Slack members; an unmapped user never blocks others.

    `accounts` maps each PagerDuty user to its Slack account (overrides already applied)
    or to the reason none could be used. Guests are reported, not added: Slack refuses
    guests in user groups (invalid_users), and one refused id would fail the whole write.
    """
    members: list[OnCallMember] = []
    unmapped: dict[str, UnmappedReason] = {}
    slack_ids: set[str] = set()
    for shift, (source_type, source_id, level) in current:
        account = accounts.get(shift.pagerduty_user, UnmappedReason.LOOKUP_FAILED)
        slack_user: str | None = None
        if isinstance(account, str):
            unmapped[shift.pagerduty_user] = UnmappedReason(account)
        elif account.deleted:
            unmapped[shift.pagerduty_user] = UnmappedReason.SLACK_USER_DEACTIVATED
        elif account.is_bot:
            unmapped[shift.pagerduty_user] = UnmappedReason.SLACK_USER_IS_BOT
        elif account.is_restricted:
            unmapped[shift.pagerduty_user] = UnmappedReason.SLACK_USER_IS_GUEST
        else:
            slack_user = account.id
            slack_ids.add(account.id)
        members.append(
            OnCallMember(
                shift.pagerduty_user, slack_user, source_type, source_id, level, shift.start, shift.end
            )
        )
    # "Nobody" means no shift at all; someone on call but unmapped is reported instead.
    nobody = not current
    if nobody and use_fallback:
        slack_ids.update(fallback_users)
    if not nobody or use_fallback:
        slack_ids.update(always_include)
    return Resolution(
        on_call=tuple(members),
        desired_members=tuple(sorted(slack_ids)),
        unmapped=tuple(sorted(unmapped.items())),
        nobody_on_call=nobody,
    )


def plan_changes(
    *,
    current_members: Sequence[str] | None,
    group_enabled: bool,
    resolution: Resolution,
    when_nobody_on_call: str,
    max_removals: int,
) -> Plan:
    """What to do to the group. `current_members` None means the group does not exist yet."""
    desired = set(resolution.desired_members)
    if resolution.nobody_on_call and when_nobody_on_call != "fallback":
        # Slack refuses an empty member list, so "nobody" is either keep or disable.
        if when_nobody_on_call == "disableGroup" and current_members is not None and group_enabled:
            return Plan(disable_group=True, final_members=tuple(sorted(current_members)))
        return Plan(final_members=tuple(sorted(current_members or ())))
    if not desired:
        # Everyone on call is unmapped and nobody is always included: Slack refuses an
        # empty group, so it is left as it is (status reports the unmapped users).
        return Plan(final_members=tuple(sorted(current_members or ())))
    if current_members is None:
        return Plan(create_group=True, add=tuple(sorted(desired)), final_members=tuple(sorted(desired)))
    existing = set(current_members)
    add = tuple(sorted(desired - existing))
    remove = tuple(sorted(existing - desired))
    enable = not group_enabled and bool(desired)
    if len(remove) > max_removals:
        return Plan(
            final_members=tuple(sorted(existing)),
            blocked_reason=(
                f"sync would remove {len(remove)} members, more than safety.maxRemovalsPerSync={max_removals}"
            ),
            add=add,
            remove=remove,
        )
    return Plan(add=add, remove=remove, enable_group=enable, final_members=tuple(sorted(desired)))


@dataclass
class TemplateContext:
    mentions: str
    group: str
    start: datetime | None
    end: datetime | None


def render_template(template: str, context: TemplateContext, time_zone: str = "UTC") -> str:
    """Fills {mentions}, {group}, {start[:fmt]}, {end[:fmt]} (strftime formats, in `time_zone`)."""
    zone = ZoneInfo(time_zone)

    def substitute(match: re.Match[str]) -> str:
        name, fmt = match.group(1), match.group(3)
        if name == "mentions":
            return context.mentions
        if name == "group":
            return context.group
        moment = context.start if name == "start" else context.end
        if moment is None:
            return "further notice"
        return moment.astimezone(zone).strftime(fmt or "%Y-%m-%d %H:%M %Z")

    return re.sub(r"\{(mentions|group|start|end)(:([^{}]*))?\}", substitute, template)
