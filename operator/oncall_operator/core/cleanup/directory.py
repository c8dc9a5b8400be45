"""The facts a cleanup plan is made from: complete listings of both services, as plain records.

The kinds build these from the APIs; an incomplete listing never becomes a `Directory` (the
listing raises instead), so every decision here may assume it sees everyone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class PagerDutyUser:
    id: str
    email: str
    role: str
    teams: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SlackUser:
    id: str
    email: str | None
    deleted: bool = False
    guest: bool = False  # single- or multi-channel guest
    bot: bool = False


@dataclass(frozen=True)
class Directory:
    """Everything one plan needs. Memberships are by id; absent mappings were not needed (and not read)."""

    now: datetime
    pagerduty_users: Sequence[PagerDutyUser]
    slack_users: Sequence[SlackUser]
    slack_groups: Mapping[str, frozenset[str]] = field(default_factory=dict)  # group id -> Slack users
    schedules: Mapping[str, frozenset[str]] = field(default_factory=dict)  # schedule id -> PagerDuty users
    escalation_policies: Mapping[str, frozenset[str]] = field(default_factory=dict)  # direct user targets
    on_call_soon: frozenset[str] = frozenset()  # on call now or within protection.onCallWithinHours
    on_call_recently: frozenset[str] | None = None  # on call within match.pagerDuty.notOnCallForDays
    last_login: Mapping[str, datetime] | None = None  # Slack user -> last login (within inactiveForDays)
