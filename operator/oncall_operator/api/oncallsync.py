"""OnCallSync: PagerDuty on-call -> the member list of a Slack user group."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from oncall_operator.api.common import CamelModel, Condition, SecretKeyRef
from oncall_operator.api.crd import PrinterColumn, ResourceKind

PAGERDUTY_ID = r"^P[A-Z0-9]{2,}$"
SLACK_USER_ID = r"^[UW][A-Z0-9]{2,}$"
SLACK_CHANNEL_ID = r"^[CG][A-Z0-9]{2,}$"
DURATION = r"^([0-9]+h)?([0-9]+m)?([0-9]+s)?$"

PagerDutyId = Annotated[str, Field(pattern=PAGERDUTY_ID)]
SlackUserId = Annotated[str, Field(pattern=SLACK_USER_ID)]
SlackChannelId = Annotated[str, Field(pattern=SLACK_CHANNEL_ID)]
EscalationLevel = Annotated[int, Field(ge=1, le=20)]

# A template may use only {mentions}, {group}, {start[:fmt]}, {end[:fmt]}; anything else is refused at admission.
TEMPLATE_PATTERN = r"^([^{}]|\{(mentions|group|start|end)(:[^{}]*)?\})*$"
_TEMPLATE_RULE: dict[str, Any] = {
    "rule": f"self.template.matches('{TEMPLATE_PATTERN.replace(chr(92), chr(92) * 2)}')",
    "message": "template may only use {mentions}, {group}, {start[:strftime]} and {end[:strftime]}",
    "fieldPath": ".template",
    "reason": "FieldValueInvalid",
}


def _check_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
    return value


TimeZoneName = Annotated[
    str,
    Field(max_length=64, description="IANA time zone for {start} and {end}, e.g. Europe/Berlin."),
    AfterValidator(_check_time_zone),
]


def _check_template(value: str) -> str:
    if not re.fullmatch(TEMPLATE_PATTERN, value):
        raise ValueError(_TEMPLATE_RULE["message"])
    return value


class Scope(StrEnum):
    ON_CALL_NOW = "onCallNow"
    EVERYONE_IN_ROTATION = "everyoneInRotation"


class WhenNobodyOnCall(StrEnum):
    KEEP_LAST = "keepLast"
    DISABLE_GROUP = "disableGroup"
    FALLBACK = "fallback"


class OnDelete(StrEnum):
    KEEP = "keep"
    DISABLE_GROUP = "disableGroup"


class EscalationPolicyRef(CamelModel):
    id: str = Field(pattern=PAGERDUTY_ID, description="PagerDuty escalation policy id.")
    levels: list[EscalationLevel] = Field(
        default=[],
        max_length=20,
        description="Escalation levels to include (1 = first responders); empty means every level.",
    )


class PagerDutySource(CamelModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "size(self.schedules) + size(self.escalationPolicies) > 0",
                    "message": "name at least one schedule or escalation policy",
                    "reason": "FieldValueRequired",
                }
            ]
        }
    )

    token_secret_ref: SecretKeyRef = Field(description="Secret key holding a PagerDuty REST API token.")
    schedules: list[PagerDutyId] = Field(
        default=[], max_length=50, description="PagerDuty schedule ids whose on-call users join."
    )
    escalation_policies: list[EscalationPolicyRef] = Field(
        default=[], max_length=50, description="Escalation policies (and levels) whose on-call join."
    )
    scope: Scope = Field(
        default=Scope.ON_CALL_NOW,
        description="onCallNow: who is on call right now; everyoneInRotation: every user of the rotations.",
    )

    @model_validator(mode="after")
    def _some_source(self) -> PagerDutySource:
        if not self.schedules and not self.escalation_policies:
            raise ValueError("name at least one schedule or escalation policy")
        return self


class UserGroupRef(CamelModel):
    handle: str = Field(
        min_length=1,
        max_length=80,
        pattern=r"^[a-z0-9][a-z0-9._-]*$",
        description="The @handle of the group.",
    )
    name: str | None = Field(
        default=None, max_length=80, description="Display name when the group is created."
    )
    description: str | None = Field(default=None, max_length=140)
    create: bool = Field(default=True, description="Create the group when no group has this handle.")


class TopicSpec(CamelModel):
    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [_TEMPLATE_RULE]})

    channels: list[SlackChannelId] = Field(
        min_length=1, max_length=20, description="Channels whose topic is set."
    )
    template: str = Field(
        min_length=1,
        max_length=250,
        description="Topic text with {mentions}, {group}, {start[:fmt]}, {end[:fmt]}.",
    )
    time_zone: TimeZoneName = "UTC"

    _template = field_validator("template")(lambda cls, v: _check_template(v))


class HandoffMessageSpec(CamelModel):
    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [_TEMPLATE_RULE]})

    channel: str = Field(pattern=SLACK_CHANNEL_ID)
    template: str = Field(min_length=1, max_length=2000)
    time_zone: TimeZoneName = "UTC"

    _template = field_validator("template")(lambda cls, v: _check_template(v))


class SlackTarget(CamelModel):
    token_secret_ref: SecretKeyRef = Field(description="Secret key holding a Slack bot token (xoxb-...).")
    user_group: UserGroupRef
    always_include: list[SlackUserId] = Field(
        default=[], max_length=100, description="Slack user ids that are always members."
    )
    topic: TopicSpec | None = None
    handoff_message: HandoffMessageSpec | None = None
    error_channel: str | None = Field(
        default=None, pattern=SLACK_CHANNEL_ID, description="Channel where sync failures are posted."
    )


class UserOverride(CamelModel):
    pager_duty_user: str = Field(pattern=PAGERDUTY_ID)
    slack_user: str = Field(pattern=SLACK_USER_ID)


class UserMapping(CamelModel):
    overrides: list[UserOverride] = Field(
        default=[], max_length=500, description="Explicit matches; they win over email matching."
    )


class Safety(CamelModel):
    max_removals_per_sync: int = Field(
        default=10, ge=0, le=1000, description="Refuse a sync that would remove more members than this."
    )


class OnCallSyncSpec(CamelModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.whenNobodyOnCall != 'fallback' || size(self.fallbackUsers) > 0",
                    "message": "whenNobodyOnCall: fallback needs at least one fallbackUsers entry",
                    "fieldPath": ".fallbackUsers",
                    "reason": "FieldValueRequired",
                }
            ]
        }
    )

    pager_duty: PagerDutySource
    slack: SlackTarget
    user_mapping: UserMapping = Field(default=UserMapping())
    when_nobody_on_call: WhenNobodyOnCall = Field(
        default=WhenNobodyOnCall.KEEP_LAST,
        description="keepLast leaves the group as it is; disableGroup disables it; fallback uses fallbackUsers.",
    )
    fallback_users: list[SlackUserId] = Field(
        default=[],
        max_length=50,
        description="Members when nobody is on call and whenNobodyOnCall is fallback.",
    )
    on_delete: OnDelete = Field(default=OnDelete.KEEP, description="What happens to the group on delete.")
    safety: Safety = Field(default=Safety())
    resync_interval: str = Field(
        default="10m", pattern=DURATION, description="Safety-net resync (e.g. 10m, 1h30m); min 30s."
    )
    suspend: bool = Field(default=False, description="Stop syncing; the group is left as it is.")
    dry_run: bool = Field(default=False, description="Compute the plan into status; write nothing.")

    @model_validator(mode="after")
    def _fallback_present(self) -> OnCallSyncSpec:
        if self.when_nobody_on_call is WhenNobodyOnCall.FALLBACK and not self.fallback_users:
            raise ValueError("whenNobodyOnCall: fallback needs at least one fallbackUsers entry")
        return self


class OnCallSource(CamelModel):
    type: Literal["schedule", "escalationPolicy"]
    id: str
    level: int | None = None


class OnCallEntry(CamelModel):
    """Who is on call, by id only: no emails or names reach the status."""

    pager_duty_user: str
    slack_user: str | None = None
    source: OnCallSource
    start: str | None = None
    end: str | None = None


class UnmappedUser(CamelModel):
    pager_duty_user: str
    reason: Literal[
        "NoSlackAccount",
        "SlackUserDeactivated",
        "SlackUserIsBot",
        "SlackUserIsGuest",
        "NoEmail",
        "LookupFailed",
    ]


class PlannedChanges(CamelModel):
    add: list[str] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)
    enable_group: bool = False
    disable_group: bool = False
    create_group: bool = False


class OnCallSyncStatus(CamelModel):
    on_call: list[OnCallEntry] = Field(default_factory=list)
    members: list[str] = Field(default_factory=list)
    member_count: int | None = None
    unmapped: list[UnmappedUser] = Field(default_factory=list)
    planned_changes: PlannedChanges | None = None
    last_sync_time: str | None = None
    next_handoff_time: str | None = None
    slack_user_group_id: str | None = None
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)


ON_CALL_SYNC = ResourceKind(
    kind="OnCallSync",
    plural="oncallsyncs",
    spec_model=OnCallSyncSpec,
    status_model=OnCallSyncStatus,
    short_names=("ocs",),
    description="Keeps a Slack user group's members equal to who is on call in PagerDuty.",
    printer_columns=(
        PrinterColumn("Group", ".spec.slack.userGroup.handle", description="Slack user group handle"),
        PrinterColumn("Members", ".status.memberCount", type="integer"),
        # A string: kubectl shows future dates as <invalid>.
        PrinterColumn("Next Handoff", ".status.nextHandoffTime"),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status'),
        PrinterColumn("Reason", '.status.conditions[?(@.type=="Ready")].reason', priority=1),
        PrinterColumn("Last Sync", ".status.lastSyncTime", type="date", priority=1),
    ),
)
