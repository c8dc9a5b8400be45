"""In-memory state of the emulated Slack workspace and PagerDuty account, built from a seed
(generated directories come from directory.py)."""

from __future__ import annotations

import itertools
import random
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from oncall_sandbox.clock import Clock
from oncall_sandbox.directory import (
    generated_access_logs,
    generated_pagerduty_users,
    generated_schedules,
    generated_slack_users,
)
from oncall_sandbox.seed import (
    EscalationPolicy,
    IncidentStatus,
    PagerDutyUser,
    SandboxSeed,
    Schedule,
    SlackAccessLog,
    SlackPlan,
    SlackUser,
    TeamRole,
)

HISTORY_LIMIT = 1000  # messages and topic changes kept; a load test must not grow memory


@dataclass
class Token:
    token: str
    scopes: set[str]
    revoked: bool = False

    @property
    def is_bot(self) -> bool:
        # Slack's token prefixes: xoxb- bot, xoxp- user (a person's token), xoxe-/xoxa- others.
        return self.token.startswith("xoxb-")


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool
    bot_is_member: bool
    members: list[str]
    purpose: str
    created: int
    topic: str = ""
    topic_set_by: str = ""
    topic_last_set: int = 0
    topic_history: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=HISTORY_LIMIT))


@dataclass
class Usergroup:
    id: str
    handle: str
    name: str
    description: str
    users: list[str]
    channels: list[str]
    date_create: int
    date_update: int
    date_delete: int = 0
    created_by: str = ""
    updated_by: str = ""
    deleted_by: str | None = None
    updates: int = 0  # membership writes, for "no duplicate writes" assertions
    # Sandbox time of the last change with sub-second precision (Slack's date_update is whole seconds).
    date_update_precise: float = 0.0

    def touch(self, now: float) -> None:
        self.date_update = int(now)
        self.date_update_precise = now


@dataclass
class SlackState:
    team_id: str
    team_name: str
    domain: str
    plan: SlackPlan
    access_logs_plans: list[SlackPlan]
    access_logs_user_tokens_only: bool
    bot_user_id: str
    bot_id: str
    tokens: dict[str, Token]
    users: dict[str, SlackUser]
    user_updated: dict[str, int]
    channels: dict[str, Channel]
    usergroups: dict[str, Usergroup]
    # Newest login first, as team.accessLogs answers.
    access_logs: list[SlackAccessLog]
    rate_limits: dict[str, int]
    # lower-cased e-mail -> user id; kept in step by every change of an address.
    emails: dict[str, str] = field(default_factory=dict)
    messages: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=HISTORY_LIMIT))
    last_ts: float = 0.0
    group_serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        if not self.emails:
            # The first account with an address wins, as a linear search would find it.
            for user in self.users.values():
                if user.email:
                    self.emails.setdefault(user.email.lower(), user.id)

    def user_by_email(self, email: str) -> SlackUser | None:
        user_id = self.emails.get(email.strip().lower())
        return self.users.get(user_id) if user_id else None

    def set_email(self, user: SlackUser, email: str | None) -> None:
        if user.email and self.emails.get(user.email.lower()) == user.id:
            del self.emails[user.email.lower()]
        user.email = email
        if email:
            self.emails[email.lower()] = user.id

    def next_ts(self, now: float) -> str:
        # Message timestamps are unique per workspace, like Slack's `ts` ids.
        ts = max(now, self.last_ts + 0.000001)
        self.last_ts = ts
        return f"{ts:.6f}"

    def new_group_id(self) -> str:
        while True:
            candidate = f"S0SBX{next(self.group_serial):05d}"
            if candidate not in self.usergroups:
                return candidate


@dataclass
class Team:
    id: str
    name: str
    description: str
    roles: dict[str, TeamRole]  # user id -> role, in member order

    @property
    def members(self) -> list[str]:
        return list(self.roles)


@dataclass
class IncidentRecord:
    id: str
    number: int
    title: str
    status: IncidentStatus
    urgency: str
    assigned_to: list[str]
    created_at: datetime
    updated_at: datetime
    escalation_policy: str | None
    service_id: str
    service_name: str
    resolved_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status != "resolved"


@dataclass
class PagerDutyState:
    subdomain: str
    tokens: set[str]
    users: dict[str, PagerDutyUser]
    deleted_users: list[dict[str, Any]]
    teams: dict[str, Team]
    schedules: dict[str, Schedule]
    policies: dict[str, EscalationPolicy]
    incidents: dict[str, IncidentRecord]
    deletion_refuses: str = "last_member"
    serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_id(self, prefix: str, taken: set[str]) -> str:
        """A fresh PD-style id (`PO00001`, `PR00002`, ...) not in `taken`."""
        while True:
            candidate = f"{prefix}{next(self.serial):05d}"
            if candidate not in taken:
                return candidate

    def new_override_id(self) -> str:
        return self.new_id("PO", {o.id for s in self.schedules.values() for o in s.overrides})

    def open_incidents(self, user_id: str) -> list[IncidentRecord]:
        return [i for i in self.incidents.values() if i.is_open and user_id in i.assigned_to]

    def teams_of(self, user_id: str) -> list[Team]:
        return [t for t in self.teams.values() if user_id in t.roles]


def build_slack(seed: SandboxSeed, now: int) -> SlackState:
    s = seed.slack
    channels = {
        c.id: Channel(
            id=c.id,
            name=c.name,
            is_private=c.is_private,
            bot_is_member=c.bot_is_member,
            members=list(c.members),
            purpose=c.purpose,
            created=now - 86400 * 400,
            topic=c.topic,
            topic_last_set=now - 86400 if c.topic else 0,
        )
        for c in s.channels
    }
    groups = {
        g.id: Usergroup(
            id=g.id,
            handle=g.handle,
            name=g.name,
            description=g.description,
            users=list(g.users),
            channels=list(g.channels),
            date_create=now - 86400 * 200,
            date_update=now - 86400 * 30,
            date_update_precise=float(now - 86400 * 30),
            date_delete=0 if g.enabled else now - 86400 * 10,
            created_by=s.bot_user_id,
            updated_by=s.bot_user_id,
        )
        for g in s.usergroups
    }
    users = {u.id: u.model_copy(deep=True) for u in s.users}
    access_logs = list(s.access_logs)
    if s.generated_users:
        users.update((u.id, u) for u in generated_slack_users(s.generated_users))
        if s.generated_users.access_logs:
            start = datetime.fromtimestamp(now, UTC)
            access_logs += generated_access_logs(s.generated_users, start)
    access_logs.sort(key=lambda e: e.date_last, reverse=True)
    return SlackState(
        team_id=s.team_id,
        team_name=s.team_name,
        domain=s.domain,
        plan=s.plan,
        access_logs_plans=list(s.access_logs_plans),
        access_logs_user_tokens_only=s.access_logs_user_tokens_only,
        bot_user_id=s.bot_user_id,
        bot_id=s.bot_id,
        tokens={t.token: Token(t.token, set(t.scopes), t.revoked) for t in s.tokens},
        users=users,
        user_updated=dict.fromkeys(users, now - 86400 * 90),
        channels=channels,
        usergroups=groups,
        access_logs=access_logs,
        rate_limits=dict(s.rate_limits),
    )


def _incidents(
    seed: SandboxSeed, now: datetime, users: dict[str, PagerDutyUser]
) -> dict[str, IncidentRecord]:
    numbers = itertools.count(1)
    records: dict[str, IncidentRecord] = {}
    for incident in seed.pagerduty.incidents:
        created = incident.created_at or now - timedelta(hours=1)
        records[incident.id] = IncidentRecord(
            id=incident.id,
            number=next(numbers),
            title=incident.title,
            status=incident.status,
            urgency=incident.urgency,
            assigned_to=list(incident.assigned_to),
            created_at=created,
            updated_at=created,
            escalation_policy=incident.escalation_policy,
            service_id=incident.service_id,
            service_name=incident.service_name,
            resolved_at=created + timedelta(minutes=30) if incident.status == "resolved" else None,
        )
    # `open_incidents: N` on a user is shorthand for N triggered incidents assigned to them.
    for user in users.values():
        for k in range(1, user.open_incidents + 1):
            incident_id = f"PI{user.id[1:]}{k}"
            created = now - timedelta(hours=k)
            records[incident_id] = IncidentRecord(
                id=incident_id,
                number=next(numbers),
                title=f"Open incident {k} of {user.name}",
                status="triggered",
                urgency="high",
                assigned_to=[user.id],
                created_at=created,
                updated_at=created,
                escalation_policy=None,
                service_id="PSBXSVC",
                service_name="Sandbox Service",
            )
    return records


def build_pagerduty(seed: SandboxSeed, now: datetime) -> PagerDutyState:
    p = seed.pagerduty
    users = {u.id: u.model_copy(deep=True) for u in p.users}
    teams = {t.id: Team(t.id, t.name, t.description, t.roles()) for t in p.teams}
    schedules = {s.id: s.model_copy(deep=True) for s in p.schedules}
    if p.generated_users:
        generated = generated_pagerduty_users(p.generated_users)
        users.update((u.id, u) for u in generated)
        if p.generated_users.team:
            team = teams[p.generated_users.team]
            for u in generated:
                team.roles.setdefault(u.id, "responder")
        if p.generated_schedules:
            ids = [u.id for u in generated]
            schedules.update((s.id, s) for s in generated_schedules(p.generated_schedules, ids))
    return PagerDutyState(
        subdomain=p.subdomain,
        tokens=set(p.tokens),
        users=users,
        deleted_users=[],
        teams=teams,
        schedules=schedules,
        policies={e.id: e.model_copy(deep=True) for e in p.escalation_policies},
        incidents=_incidents(seed, now, users),
        deletion_refuses=p.user_deletion_refuses,
    )


class SandboxState:
    """Everything the handlers share; `load` swaps the whole world at once."""

    def __init__(self, seed: SandboxSeed, clock: Clock, *, slack_plan: SlackPlan | None = None) -> None:
        self.clock = clock
        self.initial_seed = seed
        self.plan_override = slack_plan
        self.random = random.Random(1234)  # error_rate faults are reproducible run to run
        self.slack: SlackState
        self.pagerduty: PagerDutyState
        self.load(seed, slack_plan)

    def load(self, seed: SandboxSeed, slack_plan: SlackPlan | None = None) -> None:
        self.seed = seed
        now = self.clock.now()
        self.slack = build_slack(seed, int(now.timestamp()))
        if slack_plan is not None:
            self.slack.plan = slack_plan
        self.pagerduty = build_pagerduty(seed, now)
        self.random.seed(1234)

    def reset(self) -> None:
        # Back to the seed and plan the process started with.
        self.load(self.initial_seed, self.plan_override)
