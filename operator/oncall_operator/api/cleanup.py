"""CleanupRule: who counts as stale or offboarded, what to do about it, when, and how safely.

Each rule's runs are CleanupRun objects (api/cleanuprun.py); the reasons both report are here.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

from croniter import croniter
from pydantic import AfterValidator, ConfigDict, Field, model_validator

from oncall_operator.api.common import (
    PAGERDUTY_ID,
    SLACK_USER_ID,
    SLACK_USERGROUP_ID,
    CamelModel,
    Condition,
    Duration,
    SecretKeyRef,
    SlackChannelId,
    check_time_zone,
)
from oncall_operator.api.crd import PrinterColumn, ResourceKind

# Five cron fields, or one of cron's @macros; croniter then checks each field (a condition names it).
CRON_PATTERN = r"^(@(yearly|annually|monthly|weekly|daily|hourly)|(\S+\s+){4}\S+)$"
TIME_ZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$"
EMAIL_DOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$"
# Not under oncall-operator.dev/: Kopf keeps its own state there and ignores changes to those annotations.
RUN_NOW_ANNOTATION = "cleanup.oncall-operator.dev/run-now"


def _set(description: str, **extra: Any) -> Any:
    """A list field that admission treats as a set (duplicates refused)."""
    return Field(
        default=[], description=description, json_schema_extra={"x-kubernetes-list-type": "set"}, **extra
    )


PagerDutyIdItem = Annotated[str, Field(pattern=PAGERDUTY_ID, max_length=20)]
SlackUserIdItem = Annotated[str, Field(pattern=SLACK_USER_ID, max_length=20)]
SlackUserGroupIdItem = Annotated[str, Field(pattern=SLACK_USERGROUP_ID, max_length=20)]
EmailDomain = Annotated[str, Field(pattern=EMAIL_DOMAIN, max_length=253)]


def _check_cron(value: str) -> str:
    if not re.fullmatch(CRON_PATTERN, value) or not croniter.is_valid(value):
        raise ValueError(f"{value!r} is not a cron expression (five fields, e.g. '0 3 * * 1', or @daily)")
    return value


CronSchedule = Annotated[str, Field(pattern=CRON_PATTERN, max_length=100), AfterValidator(_check_cron)]


class SlackAccountState(StrEnum):
    """The Slack account found for a person's email (case-insensitive)."""

    DEACTIVATED = "deactivated"
    MISSING = "missing"
    GUEST = "guest"


class CleanupAction(StrEnum):
    REMOVE_FROM_SLACK_USER_GROUPS = "removeFromSlackUserGroups"
    REMOVE_FROM_PAGERDUTY_SCHEDULES = "removeFromPagerDutySchedules"
    REMOVE_FROM_PAGERDUTY_ESCALATION_POLICIES = "removeFromPagerDutyEscalationPolicies"
    REMOVE_FROM_PAGERDUTY_TEAMS = "removeFromPagerDutyTeams"
    DELETE_PAGERDUTY_USER = "deletePagerDutyUser"


class Approval(StrEnum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"


class PagerDutyRole(StrEnum):
    ADMIN = "admin"
    LIMITED_USER = "limited_user"
    OBSERVER = "observer"
    OWNER = "owner"
    READ_ONLY_USER = "read_only_user"
    RESTRICTED_ACCESS = "restricted_access"
    USER = "user"


class CleanupReason(StrEnum):
    """Outcomes of rules, runs and single changes (failures reaching the services are `ExternalReason`s)."""

    # Runs
    DRY_RUN = "DryRun"  # Planned: the plan is in status; nothing is changed
    AWAITING_APPROVAL = "AwaitingApproval"
    APPROVED = "Approved"
    APPLIED = "Applied"  # every planned change is done, skipped or already done
    PARTIALLY_APPLIED = "PartiallyApplied"  # some changes failed or need a person (listed in status)
    NOTHING_TO_DO = "NothingToDo"
    STALE_PLAN_HASH = "StalePlanHash"  # spec.approvedPlanHash is not the hash of this run's plan
    MAX_AFFECTED = "MaxAffectedExceeded"
    MAX_AFFECTED_PERCENT = "MaxAffectedPercentExceeded"
    UNSUPPORTED = "Unsupported"  # a condition this workspace cannot evaluate (inactiveForDays on a plan without access logs)
    RULE_NOT_FOUND = "RuleNotFound"
    SCHEDULED = "Scheduled"
    # Single changes (status.failures)
    OPEN_INCIDENTS = "OpenIncidents"
    LAST_LAYER_MEMBER = "LastScheduleLayerMember"
    LAST_ESCALATION_TARGET = "LastEscalationRuleTarget"
    LAST_GROUP_MEMBER = "LastUserGroupMember"
    PAGERDUTY_REFUSED = "PagerDutyRefused"


class TokenRef(CamelModel):
    token_secret_ref: SecretKeyRef = Field(description="Secret key (same namespace) holding the API token.")


class SlackTokens(CamelModel):
    token_secret_ref: SecretKeyRef = Field(
        description="Secret key (same namespace) holding a Slack token with users:read, users:read.email, "
        "usergroups:read (+ usergroups:write to remove, chat:write for notify)."
    )
    access_logs_token_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="For inactiveForDays: a workspace admin's user token (xoxp-) with the admin scope - "
        "Slack serves team.accessLogs to people's tokens only. Default: tokenSecretRef.",
    )


class EmailDomainMatch(CamelModel):
    """Domains compare case-insensitively; a subdomain counts as its domain."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "size(self.__in__) + size(self.notIn) > 0",
                    "message": "name domains in `in` or `notIn`",
                    "reason": "FieldValueRequired",
                },
                {
                    "rule": "self.__in__.all(d, !(d in self.notIn))",
                    "message": "a domain cannot be both in `in` and in `notIn`",
                    "reason": "FieldValueInvalid",
                },
            ]
        }
    )

    in_: list[EmailDomain] = _set("The email's domain is one of these.", max_length=100)
    not_in: list[EmailDomain] = _set(
        "The email's domain is none of these (your managed domains).", max_length=100
    )

    @model_validator(mode="after")
    def _consistent(self) -> EmailDomainMatch:
        if not self.in_ and not self.not_in:
            raise ValueError("name domains in `in` or `notIn`")
        if set(self.in_) & set(self.not_in):
            raise ValueError("a domain cannot be both in `in` and in `notIn`")
        return self


class PagerDutyMatch(CamelModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.notOnCallForDays) || size(self.roles) + size(self.teams) > 0",
                    "message": "name notOnCallForDays, roles or teams",
                    "reason": "FieldValueRequired",
                }
            ]
        }
    )

    not_on_call_for_days: int | None = Field(
        default=None,
        ge=1,
        le=90,
        description="Not on call (any escalation policy) in the last N days; PagerDuty answers at most 90.",
    )
    roles: list[PagerDutyRole] = _set("The PagerDuty user's role is one of these.", max_length=7)
    teams: list[PagerDutyIdItem] = _set(
        "The PagerDuty user is a member of one of these teams.", max_length=100
    )


class Match(CamelModel):
    """Who is stale: every condition given must hold. A person is an email address (case-insensitive)
    with a PagerDuty user, a Slack account, or both; bots and Slack accounts without an email are never
    matched."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "size(self.slackAccount) > 0 || has(self.emailDomains) "
                    "|| has(self.inactiveForDays) || has(self.pagerDuty)",
                    "message": "name at least one condition: an empty match would match everyone",
                    "reason": "FieldValueRequired",
                }
            ]
        }
    )

    slack_account: list[SlackAccountState] = _set(
        "The Slack account for the person's email is in one of these states "
        "(deactivated, missing: no account, guest: single- or multi-channel guest).",
        max_length=3,
    )
    email_domains: EmailDomainMatch | None = Field(default=None, description="The person's email domain.")
    inactive_for_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="No Slack login in the last N days (Slack's team.accessLogs; paid plans and an admin "
        "token only, else the rule reports Unsupported). People without a Slack account have no login.",
    )
    pager_duty: PagerDutyMatch | None = Field(default=None, description="Conditions on the PagerDuty user.")

    @model_validator(mode="after")
    def _something(self) -> Match:
        if not (self.slack_account or self.email_domains or self.inactive_for_days or self.pager_duty):
            raise ValueError("name at least one condition: an empty match would match everyone")
        return self


class Exclude(CamelModel):
    """People never touched, whatever they match."""

    pager_duty_users: list[PagerDutyIdItem] = _set("PagerDuty user ids.", max_length=1000)
    slack_users: list[SlackUserIdItem] = _set("Slack user ids.", max_length=1000)
    pager_duty_teams: list[PagerDutyIdItem] = _set("Members of these PagerDuty teams.", max_length=100)
    slack_user_groups: list[SlackUserGroupIdItem] = _set(
        "Members of these Slack user groups.", max_length=100
    )


class Notify(CamelModel):
    channel: SlackChannelId = Field(
        description="Slack channel for run summaries (counts and the run's name only: no names or emails)."
    )


class Safety(CamelModel):
    """Caps checked before the first change: a run over either is Aborted and keeps its plan for review."""

    max_affected: int = Field(
        default=10,
        ge=0,
        le=100_000,
        description="Most people a run may change; exactly this many is allowed, one more aborts.",
    )
    max_affected_percent: int = Field(
        default=10,
        ge=0,
        le=100,
        description="Most people a run may change, as a percentage of the people it considered "
        "(those with an account the rule's actions touch, exclusions left out); exactly this share is allowed.",
    )


class Protection(CamelModel):
    on_call_within_hours: int = Field(
        default=24,
        ge=0,
        le=720,
        description="People on call now or within this many hours (any escalation policy) are never changed.",
    )
    allow_on_call: bool = Field(default=False, description="Change people on call too. Think twice.")


StartingDeadline = Annotated[
    str,
    Duration(
        timedelta(minutes=1),
        timedelta(days=30),
        "A slot missed (the operator was down) still runs once when it is at most this late; "
        "older slots are skipped, like a CronJob's startingDeadlineSeconds.",
        days=True,
    ),
]


class CleanupRuleSpec(CamelModel):
    """Finds stale and offboarded people across Slack and PagerDuty and removes them, plan first."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.match.pagerDuty) || "
                    "self.match.pagerDuty.teams.all(t, !(t in self.exclude.pagerDutyTeams))",
                    "message": "a team cannot be both matched (match.pagerDuty.teams) and excluded "
                    "(exclude.pagerDutyTeams)",
                    "fieldPath": ".exclude.pagerDutyTeams",
                    "reason": "FieldValueInvalid",
                }
            ]
        }
    )

    schedule: CronSchedule | None = Field(
        default=None,
        description="Cron schedule of runs (five fields, or @daily ...), in timeZone; absent: runs only on "
        f"demand (annotation {RUN_NOW_ANNOTATION}, or `oncall-operator cleanup run`).",
    )
    time_zone: Annotated[str, AfterValidator(check_time_zone)] = Field(
        default="UTC", max_length=64, pattern=TIME_ZONE_PATTERN, description="IANA time zone of the schedule."
    )
    starting_deadline: StartingDeadline = "24h"
    pager_duty: TokenRef = Field(description="The PagerDuty account: a REST API token with write access.")
    slack: SlackTokens = Field(description="The Slack workspace.")
    match: Match = Field(description="Who is stale: every condition given must hold.")
    exclude: Exclude = Field(default=Exclude(), description="People never touched.")
    actions: list[CleanupAction] = Field(
        min_length=1,
        max_length=5,
        description="What to do to each matched person, applied in this order: Slack user groups, "
        "PagerDuty schedules, escalation policies, teams, then deleting the PagerDuty user.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    notify: Notify | None = Field(default=None, description="Post run summaries to Slack.")
    approval: Approval = Field(
        default=Approval.MANUAL,
        description="manual: a run waits in AwaitingApproval until spec.approvedPlanHash names its plan; "
        "automatic: a run applies its plan at once.",
    )
    safety: Safety = Field(default=Safety(), description="Caps that abort a run before its first change.")
    protection: Protection = Field(default=Protection(), description="Who is never touched while on call.")
    dry_run: bool = Field(default=True, description="Plan only (phase Planned); change nothing.")
    suspend: bool = Field(default=False, description="No scheduled or on-demand runs; runs under way finish.")
    runs_history_limit: int = Field(
        default=10, ge=1, le=100, description="Finished runs kept; older ones are deleted (newest kept)."
    )

    @model_validator(mode="after")
    def _teams_not_excluded(self) -> CleanupRuleSpec:
        pd = self.match.pager_duty
        if pd and set(pd.teams) & set(self.exclude.pager_duty_teams):
            raise ValueError("a team cannot be both matched and excluded (exclude.pagerDutyTeams)")
        return self


class RunSummary(CamelModel):
    name: str = Field(description="The CleanupRun.")
    phase: str = Field(description="Its phase when last seen.")
    trigger: str = Field(description="schedule, catchUp or onDemand.")
    matched: int = Field(default=0, description="People matched.")
    affected: int = Field(default=0, description="People with changes planned.")
    failed: int = Field(default=0, description="Changes that failed or need a person.")
    start_time: str | None = Field(default=None, description="When the run started (RFC 3339).")
    completion_time: str | None = Field(default=None, description="When it finished (RFC 3339).")


class RuleTotals(CamelModel):
    """Summed over every run that finished since the rule was created (pruned runs included)."""

    runs: int = Field(default=0, description="Finished runs.")
    matched: int = Field(default=0, description="People matched.")
    affected: int = Field(default=0, description="People with changes planned.")
    applied: int = Field(default=0, description="Changes made.")
    failed: int = Field(default=0, description="Changes that failed or needed a person.")


class CleanupRuleStatus(CamelModel):
    last_schedule_time: str | None = Field(
        default=None,
        description="The last cron slot handled, or when scheduling began for a new rule (RFC 3339).",
    )
    next_run_time: str | None = Field(default=None, description="The next cron slot (RFC 3339).")
    last_run_now: str | None = Field(
        default=None, description=f"The last {RUN_NOW_ANNOTATION} value a run was started for."
    )
    last_runs: list[RunSummary] = Field(default_factory=list, description="The newest runs, newest first.")
    totals: RuleTotals = Field(default=RuleTotals(), description="Counts over all finished runs.")
    counted_runs: list[str] = Field(
        default_factory=list, description="Runs already in totals (the newest 200), so none counts twice."
    )
    observed_generation: int | None = Field(default=None, description="The generation this status reflects.")
    conditions: list[Condition] = Field(default_factory=list, description="Ready and Unsupported.")


CLEANUP_RULE = ResourceKind(
    kind="CleanupRule",
    plural="cleanuprules",
    spec_model=CleanupRuleSpec,
    status_model=CleanupRuleStatus,
    short_names=("cleanup",),
    description="Finds stale and offboarded people across Slack and PagerDuty and removes them: "
    "each run is a CleanupRun holding its plan and outcomes.",
    printer_columns=(
        PrinterColumn("Schedule", ".spec.schedule"),
        PrinterColumn("Dry Run", ".spec.dryRun", type="boolean"),
        PrinterColumn("Approval", ".spec.approval"),
        PrinterColumn("Last Run", ".status.lastRuns[0].name"),
        PrinterColumn("Last Phase", ".status.lastRuns[0].phase"),
        PrinterColumn("Next Run", ".status.nextRunTime"),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status'),
        PrinterColumn("Reason", '.status.conditions[?(@.type=="Ready")].reason', priority=1),
    ),
)
