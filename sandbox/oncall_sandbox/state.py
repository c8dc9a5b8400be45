"""In-memory state of the emulated Slack workspace and PagerDuty account, built from a seed."""

from __future__ import annotations

import itertools
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from oncall_sandbox.clock import Clock
from oncall_sandbox.seed import (
    EscalationPolicy,
    PagerDutyTeam,
    PagerDutyUser,
    SandboxSeed,
    Schedule,
    SlackAccessLog,
    SlackPlan,
    SlackUser,
)

HISTORY_LIMIT = 1000  # messages and topic changes kept; a load test must not grow memory


@dataclass
class Token:
    token: str
    scopes: set[str]
    revoked: bool = False


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


@dataclass
class SlackState:
    team_id: str
    team_name: str
    domain: str
    plan: SlackPlan
    bot_user_id: str
    bot_id: str
    tokens: dict[str, Token]
    users: dict[str, SlackUser]
    user_updated: dict[str, int]
    channels: dict[str, Channel]
    usergroups: dict[str, Usergroup]
    access_logs: list[SlackAccessLog]
    rate_limits: dict[str, int]
    messages: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=HISTORY_LIMIT))
    last_ts: float = 0.0
    group_serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def user_by_email(self, email: str) -> SlackUser | None:
        wanted = email.strip().lower()
        for user in self.users.values():
            if user.email and user.email.lower() == wanted:
                return user
        return None

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
class PagerDutyState:
    subdomain: str
    tokens: set[str]
    users: dict[str, PagerDutyUser]
    deleted_users: list[dict[str, Any]]
    teams: dict[str, PagerDutyTeam]
    schedules: dict[str, Schedule]
    policies: dict[str, EscalationPolicy]
    override_serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_override_id(self) -> str:
        existing = {o.id for s in self.schedules.values() for o in s.overrides}
        while True:
            candidate = f"PO{next(self.override_serial):05d}"
            if candidate not in existing:
                return candidate


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
            date_delete=0 if g.enabled else now - 86400 * 10,
            created_by=s.bot_user_id,
            updated_by=s.bot_user_id,
        )
        for g in s.usergroups
    }
    return SlackState(
        team_id=s.team_id,
        team_name=s.team_name,
        domain=s.domain,
        plan=s.plan,
        bot_user_id=s.bot_user_id,
        bot_id=s.bot_id,
        tokens={t.token: Token(t.token, set(t.scopes), t.revoked) for t in s.tokens},
        users={u.id: u.model_copy(deep=True) for u in s.users},
        user_updated={u.id: now - 86400 * 90 for u in s.users},
        channels=channels,
        usergroups=groups,
        access_logs=list(s.access_logs),
        rate_limits=dict(s.rate_limits),
    )


def build_pagerduty(seed: SandboxSeed) -> PagerDutyState:
    p = seed.pagerduty
    return PagerDutyState(
        subdomain=p.subdomain,
        tokens=set(p.tokens),
        users={u.id: u.model_copy(deep=True) for u in p.users},
        deleted_users=[],
        teams={t.id: t.model_copy(deep=True) for t in p.teams},
        schedules={s.id: s.model_copy(deep=True) for s in p.schedules},
        policies={e.id: e.model_copy(deep=True) for e in p.escalation_policies},
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
        self.slack = build_slack(seed, int(self.clock.timestamp()))
        if slack_plan is not None:
            self.slack.plan = slack_plan
        self.pagerduty = build_pagerduty(seed)
        self.random.seed(1234)

    def reset(self) -> None:
        # Back to the seed and plan the process started with.
        self.load(self.initial_seed, self.plan_override)
