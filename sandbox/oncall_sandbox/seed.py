"""The seed document: pydantic models of the sandbox's initial state, and its loader."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

SLACK_USER_ID = r"^[UW][A-Z0-9]{2,}$"
SLACK_GROUP_ID = r"^S[A-Z0-9]{2,}$"
SLACK_TEAM_ID = r"^T[A-Z0-9]{2,}$"
SLACK_CHANNEL_ID = r"^[CG][A-Z0-9]{2,}$"
PD_ID = r"^P[A-Z0-9]{2,}$"

SlackPlan = Literal["free", "pro", "business_plus", "enterprise"]


class SeedError(Exception):
    """A seed document that cannot be used; the message names the file, the path inside it and the problem."""


class _Model(BaseModel):
    # Unknown keys are errors: a typo in a seed must not silently become a default.
    model_config = ConfigDict(extra="forbid", frozen=False)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("needs a UTC offset (e.g. 2025-01-06T09:00:00+01:00)")
    return value


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {value!r}") from error
    return value


Zone = Annotated[str, AfterValidator(_zone)]
Aware = Annotated[datetime, AfterValidator(_aware)]


class SlackToken(_Model):
    token: str = Field(min_length=6)
    scopes: list[str] = Field(default_factory=list)
    revoked: bool = False


class SlackUser(_Model):
    id: str = Field(pattern=SLACK_USER_ID)
    name: str
    real_name: str = ""
    display_name: str = ""
    email: str | None = None
    title: str = ""
    deleted: bool = False
    is_bot: bool = False
    is_admin: bool = False
    is_owner: bool = False
    is_restricted: bool = False
    is_ultra_restricted: bool = False
    tz: Zone = "Europe/Berlin"


class SlackChannel(_Model):
    id: str = Field(pattern=SLACK_CHANNEL_ID)
    name: str
    is_private: bool = False
    bot_is_member: bool = True
    topic: str = ""
    purpose: str = ""
    members: list[str] = Field(default_factory=list)


class SlackUsergroup(_Model):
    id: str = Field(pattern=SLACK_GROUP_ID)
    handle: str
    name: str
    description: str = ""
    users: list[str] = Field(default_factory=list)
    enabled: bool = True
    channels: list[str] = Field(default_factory=list)


class SlackAccessLog(_Model):
    user_id: str = Field(pattern=SLACK_USER_ID)
    date_first: Aware
    date_last: Aware
    count: int = Field(ge=1)
    user_agent: str = "Mozilla/5.0"
    country: str = "DE"
    region: str = ""


class SlackSeed(_Model):
    team_id: str = Field(pattern=SLACK_TEAM_ID)
    team_name: str
    domain: str
    plan: SlackPlan = "pro"
    bot_user_id: str = Field(pattern=SLACK_USER_ID)
    bot_id: str = Field(default="B0SANDBOX1", pattern=r"^B[A-Z0-9]{2,}$")
    tokens: list[SlackToken] = Field(min_length=1)
    users: list[SlackUser] = Field(default_factory=list)
    channels: list[SlackChannel] = Field(default_factory=list)
    usergroups: list[SlackUsergroup] = Field(default_factory=list)
    access_logs: list[SlackAccessLog] = Field(default_factory=list)
    # method name -> requests per minute, overriding the documented tier.
    rate_limits: dict[str, int] = Field(default_factory=dict)


class PagerDutyUser(_Model):
    id: str = Field(pattern=PD_ID)
    name: str
    email: str
    time_zone: Zone = "UTC"
    role: Literal[
        "admin", "limited_user", "observer", "owner", "read_only_user", "restricted_access", "user"
    ] = "user"
    job_title: str = ""
    open_incidents: int = Field(default=0, ge=0)


class PagerDutyTeam(_Model):
    id: str = Field(pattern=PD_ID)
    name: str
    description: str = ""
    members: list[str] = Field(default_factory=list)


class Restriction(_Model):
    type: Literal["daily_restriction", "weekly_restriction"]
    start_time_of_day: time
    duration_seconds: int = Field(gt=0, le=7 * 86400)
    # ISO weekday, 1 = Monday; only for weekly restrictions.
    start_day_of_week: int | None = Field(default=None, ge=1, le=7)


class ScheduleLayer(_Model):
    id: str = Field(pattern=PD_ID)
    name: str = "Layer"
    start: Aware
    end: Aware | None = None
    rotation_virtual_start: Aware
    rotation_turn_length_seconds: int = Field(gt=0)
    users: list[str] = Field(min_length=1)
    restrictions: list[Restriction] = Field(default_factory=list)


class ScheduleOverride(_Model):
    id: str = Field(pattern=PD_ID)
    start: Aware
    end: Aware
    user: str


class Schedule(_Model):
    id: str = Field(pattern=PD_ID)
    name: str
    description: str = ""
    time_zone: Zone = "UTC"
    layers: list[ScheduleLayer] = Field(min_length=1)
    overrides: list[ScheduleOverride] = Field(default_factory=list)
    teams: list[str] = Field(default_factory=list)


class EscalationTarget(_Model):
    type: Literal["schedule_reference", "user_reference"]
    id: str = Field(pattern=PD_ID)


class EscalationRule(_Model):
    id: str = Field(pattern=PD_ID)
    escalation_delay_in_minutes: int = 30
    targets: list[EscalationTarget] = Field(min_length=1)


class EscalationPolicy(_Model):
    id: str = Field(pattern=PD_ID)
    name: str
    description: str = ""
    num_loops: int = 0
    rules: list[EscalationRule] = Field(min_length=1)
    teams: list[str] = Field(default_factory=list)


class PagerDutySeed(_Model):
    subdomain: str = "sandbox"
    tokens: list[str] = Field(min_length=1)
    users: list[PagerDutyUser] = Field(default_factory=list)
    teams: list[PagerDutyTeam] = Field(default_factory=list)
    schedules: list[Schedule] = Field(default_factory=list)
    escalation_policies: list[EscalationPolicy] = Field(default_factory=list)
    rate_limit_per_minute: int | None = Field(default=None, gt=0)


class SandboxSeed(_Model):
    # Where the clock starts when the command line gives no --start-time (default: real now).
    start_time: Aware | None = None
    slack: SlackSeed
    pagerduty: PagerDutySeed


def _loc(parts: tuple[int | str, ...]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


def _references(seed: SandboxSeed) -> list[tuple[str, str]]:
    """Cross-references pydantic cannot see: (path, problem)."""
    problems: list[tuple[str, str]] = []
    slack_users = {u.id: u for u in seed.slack.users}
    seen: set[str] = set()
    for i, u in enumerate(seed.slack.users):
        if u.id in seen:
            problems.append((f"slack.users[{i}].id", f"duplicate id {u.id}"))
        seen.add(u.id)
    if seed.slack.bot_user_id not in slack_users:
        problems.append(("slack.bot_user_id", f"{seed.slack.bot_user_id} is not in slack.users"))
    handles: set[str] = set()
    for i, g in enumerate(seed.slack.usergroups):
        if g.handle in handles:
            problems.append((f"slack.usergroups[{i}].handle", f"duplicate handle {g.handle!r}"))
        handles.add(g.handle)
        for j, member in enumerate(g.users):
            if member not in slack_users:
                problems.append((f"slack.usergroups[{i}].users[{j}]", f"unknown Slack user {member}"))
    for i, c in enumerate(seed.slack.channels):
        for j, member in enumerate(c.members):
            if member not in slack_users:
                problems.append((f"slack.channels[{i}].members[{j}]", f"unknown Slack user {member}"))
    for i, log in enumerate(seed.slack.access_logs):
        if log.user_id not in slack_users:
            problems.append((f"slack.access_logs[{i}].user_id", f"unknown Slack user {log.user_id}"))

    pd = seed.pagerduty
    pd_users = {u.id for u in pd.users}
    ids: dict[str, str] = {}
    groups: tuple[tuple[str, Sequence[Any]], ...] = (
        ("users", pd.users),
        ("teams", pd.teams),
        ("schedules", pd.schedules),
        ("escalation_policies", pd.escalation_policies),
    )
    for kind, items in groups:
        for i, item in enumerate(items):
            if item.id in ids:
                problems.append((f"pagerduty.{kind}[{i}].id", f"id {item.id} already used by {ids[item.id]}"))
            ids[item.id] = f"pagerduty.{kind}[{i}]"
    teams = {t.id for t in pd.teams}
    for i, t in enumerate(pd.teams):
        for j, member in enumerate(t.members):
            if member not in pd_users:
                problems.append((f"pagerduty.teams[{i}].members[{j}]", f"unknown PagerDuty user {member}"))
    schedules = {s.id for s in pd.schedules}
    for i, s in enumerate(pd.schedules):
        for j, team in enumerate(s.teams):
            if team not in teams:
                problems.append((f"pagerduty.schedules[{i}].teams[{j}]", f"unknown team {team}"))
        for j, layer in enumerate(s.layers):
            for k, member in enumerate(layer.users):
                if member not in pd_users:
                    problems.append(
                        (
                            f"pagerduty.schedules[{i}].layers[{j}].users[{k}]",
                            f"unknown PagerDuty user {member}",
                        )
                    )
            for k, r in enumerate(layer.restrictions):
                if (r.type == "weekly_restriction") != (r.start_day_of_week is not None):
                    problems.append(
                        (
                            f"pagerduty.schedules[{i}].layers[{j}].restrictions[{k}].start_day_of_week",
                            "required for weekly_restriction and only allowed there",
                        )
                    )
        for j, o in enumerate(s.overrides):
            if o.user not in pd_users:
                problems.append(
                    (f"pagerduty.schedules[{i}].overrides[{j}].user", f"unknown PagerDuty user {o.user}")
                )
            if o.end <= o.start:
                problems.append((f"pagerduty.schedules[{i}].overrides[{j}].end", "must be after start"))
    for i, ep in enumerate(pd.escalation_policies):
        for j, rule in enumerate(ep.rules):
            for k, target in enumerate(rule.targets):
                known = schedules if target.type == "schedule_reference" else pd_users
                if target.id not in known:
                    problems.append(
                        (
                            f"pagerduty.escalation_policies[{i}].rules[{j}].targets[{k}].id",
                            f"unknown {target.type.removesuffix('_reference')} {target.id}",
                        )
                    )
    return problems


def parse_seed(document: Any, source: str = "<seed>") -> SandboxSeed:
    """Validate a decoded seed document (YAML or JSON); raises SeedError naming `source`."""
    if not isinstance(document, dict):
        raise SeedError(f"{source}: (top level): expected a mapping, got {type(document).__name__}")
    try:
        seed = SandboxSeed.model_validate(document)
    except ValidationError as error:
        lines = [f"{source}: {_loc(tuple(e['loc']))}: {e['msg']}" for e in error.errors()]
        raise SeedError("\n".join(lines)) from None
    problems = _references(seed)
    if problems:
        raise SeedError("\n".join(f"{source}: {path}: {problem}" for path, problem in problems))
    return seed


def load_seed(path: str | Path) -> SandboxSeed:
    """Read and validate a seed file (YAML, or JSON which YAML accepts)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise SeedError(f"{file}: cannot read: {error.strerror}") from None
    try:
        document = yaml.safe_load(text) if file.suffix != ".json" else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        raise SeedError(f"{file}: (top level): not valid YAML/JSON: {error}") from None
    return parse_seed(document, str(file))


# The demo seed ships inside the package (examples/sandbox-seed.yaml links to it).
DEFAULT_SEED_PATH = Path(__file__).resolve().parent / "seeds" / "demo.yaml"
