"""The seed document: pydantic models of the sandbox's initial state, and its loader."""

from __future__ import annotations

import json
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
PAID_PLANS: tuple[SlackPlan, ...] = ("pro", "business_plus", "enterprise")


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


class GeneratedSlackUsers(_Model):
    """A large directory without a giant YAML: users `<id_prefix><n>` (n from 1, zero-padded to 7 digits).

    E-mail addresses are `<name_prefix><n:05d>@<email_domain>`; the PagerDuty section's
    `generated_users` with the same prefix and domain yields the same addresses."""

    count: int = Field(ge=1, le=200_000)
    id_prefix: str = Field(default="U9", pattern=r"^[UW][A-Z0-9]*$")
    name_prefix: str = Field(default="user", pattern=r"^[a-z][a-z0-9._-]*$")
    email_domain: str = "bulk.example"
    tz: Zone = "UTC"
    # Every n-th user (n, 2n, ...) is deactivated / a multi-channel guest; 0: none.
    deactivated_every: int = Field(default=0, ge=0)
    guest_every: int = Field(default=0, ge=0)
    # One access-log entry per user, the last login spread evenly over this many days before the
    # clock's start (user n: n mod days days ago); every `never_logged_in_every`-th user has none.
    access_logs: bool = True
    last_login_spread_days: int = Field(default=365, ge=1)
    never_logged_in_every: int = Field(default=0, ge=0)


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
    generated_users: GeneratedSlackUsers | None = None
    # Plans on which team.accessLogs answers (Slack: "only available to paid teams"); others: paid_only.
    access_logs_plans: list[SlackPlan] = Field(default_factory=lambda: list(PAID_PLANS))
    # team.accessLogs takes user tokens only (Slack lists a user-token scope only); bots get not_allowed_token_type.
    access_logs_user_tokens_only: bool = True


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


TeamRole = Literal["manager", "responder", "observer"]


class TeamMember(_Model):
    user: str
    role: TeamRole = "responder"


class PagerDutyTeam(_Model):
    id: str = Field(pattern=PD_ID)
    name: str
    description: str = ""
    # A user id (the first plain id is the manager, the others responders) or {user, role}.
    members: list[str | TeamMember] = Field(default_factory=list)

    def roles(self) -> dict[str, TeamRole]:
        """user id -> team role, in member order."""
        out: dict[str, TeamRole] = {}
        for i, member in enumerate(self.members):
            if isinstance(member, TeamMember):
                out[member.user] = member.role
            else:
                out[member] = "manager" if i == 0 else "responder"
        return out


IncidentStatus = Literal["triggered", "acknowledged", "resolved"]


class Incident(_Model):
    id: str = Field(pattern=PD_ID)
    title: str
    status: IncidentStatus = "triggered"
    urgency: Literal["high", "low"] = "high"
    # Who it is assigned to; PD shows no assignments once resolved.
    assigned_to: list[str] = Field(default_factory=list)
    # Default: an hour before the clock's start.
    created_at: Aware | None = None
    # Shown when the policy exists (an incident outlives its policy's deletion, as on PagerDuty).
    escalation_policy: str | None = None
    service_id: str = Field(default="PSBXSVC", pattern=PD_ID)
    service_name: str = "Sandbox Service"


class GeneratedPagerDutyUsers(_Model):
    """Users `<id_prefix><n:07d>` named `<name_prefix><n:05d>`, e-mail `<name_prefix><n:05d>@<email_domain>`."""

    count: int = Field(ge=1, le=200_000)
    id_prefix: str = Field(default="PU", pattern=r"^P[A-Z0-9]*$")
    name_prefix: str = Field(default="user", pattern=r"^[a-z][a-z0-9._-]*$")
    email_domain: str = "bulk.example"
    time_zone: Zone = "UTC"
    # Generated users join this seeded team as responders.
    team: str | None = None


class GeneratedSchedules(_Model):
    """Schedules `<id_prefix><n:06d>`, one daily layer each over `users_per_schedule` generated users."""

    count: int = Field(ge=1, le=50_000)
    id_prefix: str = Field(default="PS", pattern=r"^P[A-Z0-9]*$")
    users_per_schedule: int = Field(default=3, ge=1)
    time_zone: Zone = "UTC"
    start: Aware = datetime.fromisoformat("2025-01-06T00:00:00+00:00")


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
    incidents: list[Incident] = Field(default_factory=list)
    rate_limit_per_minute: int | None = Field(default=None, gt=0)
    generated_users: GeneratedPagerDutyUsers | None = None
    generated_schedules: GeneratedSchedules | None = None
    # What DELETE /users/{id} refuses besides open incidents: a user who is the last member of a
    # schedule layer or the last target of an escalation rule (default), or any layer/rule membership.
    user_deletion_refuses: Literal["last_member", "any_membership"] = "last_member"


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


def parse_seed(document: Any, source: str = "<seed>") -> SandboxSeed:
    """Validate a decoded seed document (YAML or JSON); raises SeedError naming `source`."""
    if not isinstance(document, dict):
        raise SeedError(f"{source}: (top level): expected a mapping, got {type(document).__name__}")
    try:
        seed = SandboxSeed.model_validate(document)
    except ValidationError as error:
        lines = [f"{source}: {_loc(tuple(e['loc']))}: {e['msg']}" for e in error.errors()]
        raise SeedError("\n".join(lines)) from None
    from oncall_sandbox.seed_checks import cross_references

    problems = cross_references(seed)
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
