"""OnCallSync: PagerDuty on-call -> the member list of a Slack user group."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, ConfigDict, Field, field_validator, model_validator

from oncall_operator.api.common import (
    PAGERDUTY_ID,
    SET,
    SLACK_CHANNEL_ID,
    SLACK_USER_ID,
    CamelModel,
    Condition,
    Duration,
    PagerDutyId,
    SecretKeyRef,
    SlackChannelId,
    SlackUserId,
    map_keyed,
    no_duplicate_keys,
    no_duplicates,
)
from oncall_operator.api.crd import PrinterColumn, ResourceKind

EscalationLevel = Annotated[int, Field(ge=1, le=20)]

# A template may use only {mentions}, {group}, {start[:fmt]}, {end[:fmt]}; anything else is refused at admission.
TEMPLATE_PATTERN = r"^([^{}]|\{(mentions|group|start|end)(:[^{}]*)?\})*$"
_TEMPLATE_RULE: dict[str, Any] = {
    "rule": f"self.template.matches('{TEMPLATE_PATTERN.replace(chr(92), chr(92) * 2)}')",
    "message": "template may only use {mentions}, {group}, {start[:strftime]} and {end[:strftime]}",
    "fieldPath": ".template",
    "reason": "FieldValueInvalid",
}

ResyncInterval = Annotated[
    str,
    Duration(
        timedelta(seconds=30),
        timedelta(hours=24),
        "Safety-net resync that catches edits made by hand; syncs happen at each shift boundary anyway.",
    ),
]


def _check_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
    return value


TimeZoneName = Annotated[
    str,
    Field(
        max_length=64,
        description="IANA time zone for {start} and {end}, e.g. Europe/Berlin.",
        json_schema_extra={
            # CEL knows the IANA database: reading an hour in an unknown zone fails the rule.
            "x-kubernetes-validations": [
                {
                    "rule": "timestamp('2000-01-01T00:00:00Z').getHours(self) >= 0",
                    "message": "must be an IANA time zone such as Europe/Berlin or UTC",
                    "reason": "FieldValueInvalid",
                }
            ]
        },
    ),
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


class UnmappedReason(StrEnum):
    """Why an on-call PagerDuty user has no member in the group."""

    NO_SLACK_ACCOUNT = "NoSlackAccount"
    SLACK_USER_DEACTIVATED = "SlackUserDeactivated"
    SLACK_USER_IS_BOT = "SlackUserIsBot"
    SLACK_USER_IS_GUEST = "SlackUserIsGuest"
    NO_EMAIL = "NoEmail"
    LOOKUP_FAILED = "LookupFailed"


class OnCallSyncReason(StrEnum):
    """Outcomes of a sync (failures reaching the services are `ExternalReason`s)."""

    GROUP_MATCHES_ON_CALL = "GroupMatchesOnCall"
    DRY_RUN = "DryRun"
    SAFETY_LIMIT = "SafetyLimit"
    UNMAPPED_USERS = "UnmappedUsers"
    NOBODY_ON_CALL = "NobodyOnCall"
    PROGRESSING = "Progressing"  # a first sync maps many users
    GROUP_OWNED_ELSEWHERE = "GroupOwnedElsewhere"  # an older OnCallSync manages this handle
    USER_GROUP_NOT_ALLOWED = "UserGroupNotAllowed"  # the namespace's annotation does not allow it
    MEMBERS_CHANGED = "MembersChanged"  # an Event at a handoff: ids added and removed


class EscalationPolicyRef(CamelModel):
    id: str = Field(pattern=PAGERDUTY_ID, max_length=20, description="PagerDuty escalation policy id.")
    levels: Annotated[list[EscalationLevel], AfterValidator(no_duplicates)] = Field(
        default=[],
        max_length=20,
        description="Escalation levels to include (1 = first responders); empty means every level.",
        json_schema_extra=SET,
    )


class PagerDutySource(CamelModel):
    """Where on-call comes from."""

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
    schedules: Annotated[list[PagerDutyId], AfterValidator(no_duplicates)] = Field(
        default=[],
        max_length=50,
        description="PagerDuty schedule ids whose on-call users join.",
        json_schema_extra=SET,
    )
    escalation_policies: Annotated[list[EscalationPolicyRef], no_duplicate_keys("id")] = Field(
        default=[],
        max_length=50,
        description="Escalation policies (and levels) whose on-call users join.",
        json_schema_extra=map_keyed("id"),
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
    """The Slack user group to keep in sync."""

    handle: str = Field(
        min_length=1,
        max_length=80,
        pattern=r"^[a-z0-9][a-z0-9._-]*$",
        description="The @handle of the group.",
    )
    name: str | None = Field(
        default=None,
        max_length=80,
        description="Display name, kept as written here (unset: the handle at creation, then left alone).",
    )
    description: str | None = Field(
        default=None, max_length=140, description="Description, kept as written here (unset: left alone)."
    )
    channels: Annotated[list[SlackChannelId], AfterValidator(no_duplicates)] | None = Field(
        default=None,
        max_length=20,
        description="The group's default channels, kept as written here (unset: left alone).",
        json_schema_extra=SET,
    )
    create: bool = Field(default=True, description="Create the group when no group has this handle.")


class TopicSpec(CamelModel):
    """A channel topic rewritten when who is on call changes."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [_TEMPLATE_RULE]})

    channels: Annotated[list[SlackChannelId], AfterValidator(no_duplicates)] = Field(
        min_length=1,
        max_length=20,
        description="Channels whose topic is set.",
        json_schema_extra=SET,
    )
    template: str = Field(
        min_length=1,
        max_length=250,
        description="Topic text with {mentions}, {group}, {start[:fmt]}, {end[:fmt]}.",
    )
    time_zone: TimeZoneName = "UTC"

    _template = field_validator("template")(lambda cls, v: _check_template(v))


class HandoffMessageSpec(CamelModel):
    """A message posted when who is on call changes."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": [_TEMPLATE_RULE]})

    channel: str = Field(pattern=SLACK_CHANNEL_ID, max_length=20, description="Channel to post in.")
    template: str = Field(
        min_length=1,
        max_length=2000,
        description="Message text with {mentions}, {group}, {start[:fmt]}, {end[:fmt]}.",
    )
    time_zone: TimeZoneName = "UTC"

    _template = field_validator("template")(lambda cls, v: _check_template(v))


class SlackTarget(CamelModel):
    """Where on-call goes."""

    token_secret_ref: SecretKeyRef = Field(description="Secret key holding a Slack bot token (xoxb-...).")
    user_group: UserGroupRef = Field(description="The user group whose members are set.")
    always_include: Annotated[list[SlackUserId], AfterValidator(no_duplicates)] = Field(
        default=[],
        max_length=100,
        description="Slack user ids that are always members.",
        json_schema_extra=SET,
    )
    topic: TopicSpec | None = Field(default=None, description="Optional channel topic.")
    handoff_message: HandoffMessageSpec | None = Field(default=None, description="Optional handoff message.")
    error_channel: str | None = Field(
        default=None,
        pattern=SLACK_CHANNEL_ID,
        max_length=20,
        description="Channel where sync failures are posted.",
    )


class UserOverride(CamelModel):
    pager_duty_user: str = Field(pattern=PAGERDUTY_ID, max_length=20, description="PagerDuty user id.")
    slack_user: str = Field(pattern=SLACK_USER_ID, max_length=20, description="The Slack user id it maps to.")


class UserMapping(CamelModel):
    """How PagerDuty users become Slack users: by email, unless an override says otherwise."""

    overrides: Annotated[list[UserOverride], no_duplicate_keys("pager_duty_user")] = Field(
        default=[],
        max_length=500,
        description="Explicit matches; they win over email matching.",
        json_schema_extra=map_keyed("pagerDutyUser"),
    )


class Safety(CamelModel):
    max_removals_per_sync: int = Field(
        default=10, ge=0, le=1000, description="Refuse a sync that would remove more members than this."
    )


class OnCallSyncSpec(CamelModel):
    """Keeps a Slack user group's members equal to who is on call in PagerDuty."""

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

    pager_duty: PagerDutySource = Field(description="Where on-call comes from.")
    slack: SlackTarget = Field(description="Where on-call goes.")
    user_mapping: UserMapping = Field(default=UserMapping(), description="PagerDuty -> Slack user matching.")
    when_nobody_on_call: WhenNobodyOnCall = Field(
        default=WhenNobodyOnCall.KEEP_LAST,
        description="keepLast leaves the group as it is; disableGroup disables it; fallback uses fallbackUsers.",
    )
    fallback_users: Annotated[list[SlackUserId], AfterValidator(no_duplicates)] = Field(
        default=[],
        max_length=50,
        description="Members when nobody is on call and whenNobodyOnCall is fallback.",
        json_schema_extra=SET,
    )
    on_delete: OnDelete = Field(default=OnDelete.KEEP, description="What happens to the group on delete.")
    safety: Safety = Field(default=Safety(), description="Limits that make a sync stop and ask.")
    resync_interval: ResyncInterval = "10m"
    suspend: bool = Field(default=False, description="Stop syncing; the group is left as it is.")
    dry_run: bool = Field(default=False, description="Compute the plan into status; write nothing.")

    @model_validator(mode="after")
    def _fallback_present(self) -> OnCallSyncSpec:
        if self.when_nobody_on_call is WhenNobodyOnCall.FALLBACK and not self.fallback_users:
            raise ValueError("whenNobodyOnCall: fallback needs at least one fallbackUsers entry")
        return self


class OnCallSource(CamelModel):
    type: Literal["schedule", "escalationPolicy"] = Field(description="What put the user on call.")
    id: str = Field(description="Its PagerDuty id.")
    level: int | None = Field(default=None, description="The escalation level, for policies.")


class OnCallEntry(CamelModel):
    """Who is on call, by id only: no emails or names reach the status."""

    pager_duty_user: str = Field(description="PagerDuty user id.")
    slack_user: str | None = Field(default=None, description="The Slack user id, when one is usable.")
    source: OnCallSource = Field(description="The schedule or policy level.")
    start: str | None = Field(default=None, description="Shift start (RFC 3339); absent: permanent.")
    end: str | None = Field(default=None, description="Shift end (RFC 3339); absent: permanent.")


class UnmappedUser(CamelModel):
    pager_duty_user: str = Field(description="PagerDuty user id.")
    reason: UnmappedReason = Field(description="Why no Slack member stands for them.")


class PlannedChanges(CamelModel):
    """What a sync would do (dry run) or refused to do (safety limit)."""

    add: list[str] = Field(default_factory=list, description="Slack user ids to add.")
    remove: list[str] = Field(default_factory=list, description="Slack user ids to remove.")
    enable_group: bool = Field(default=False, description="The group would be enabled.")
    disable_group: bool = Field(default=False, description="The group would be disabled.")
    create_group: bool = Field(default=False, description="The group would be created.")


class HandoffMessageRecord(CamelModel):
    """The last handoff message: recorded before it is posted, so it is never posted twice."""

    on_call: list[str] = Field(default_factory=list, description="The Slack user ids it announces.")
    state: Literal["Pending", "Posted", "Failed", "Unknown"] = Field(
        description="Pending: being posted, or the operator stopped meanwhile - the next sync looks in the "
        "channel's history and posts it only if it is not there; Unknown: the history could not be read "
        "(channels:history), so it is not posted again."
    )
    channel: str | None = Field(default=None, description="Where it is posted.")
    digest: str | None = Field(
        default=None, description="sha256 of its text, to find it in the channel's history."
    )
    time: str = Field(description="When it was recorded (RFC 3339).")
    reason: str | None = Field(default=None, description="Why it failed, when it did.")


class OnCallSyncStatus(CamelModel):
    on_call: list[OnCallEntry] = Field(default_factory=list, description="Who is on call now, by id.")
    members: list[str] = Field(default_factory=list, description="The group's Slack user ids after the sync.")
    member_count: int | None = Field(default=None, description="len(members).")
    unmapped: list[UnmappedUser] = Field(
        default_factory=list, description="On-call PagerDuty users with no usable Slack account."
    )
    planned_changes: PlannedChanges | None = Field(
        default=None, description="Set on a dry run or a refused sync."
    )
    last_sync_time: str | None = Field(default=None, description="When the last sync finished (RFC 3339).")
    next_handoff_time: str | None = Field(
        default=None, description="The next shift boundary known (RFC 3339)."
    )
    slack_user_group_id: str | None = Field(default=None, description="The Slack user group's id.")
    topic_digest: str | None = Field(
        default=None,
        description="sha256 of the channel topic as last set: it is rewritten only when it differs.",
    )
    last_handoff_message: HandoffMessageRecord | None = Field(
        default=None, description="The last handoff message and whether it was posted."
    )
    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation this status reflects."
    )
    conditions: list[Condition] = Field(default_factory=list, description="Ready, Synced and Degraded.")


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
        PrinterColumn("Synced", '.status.conditions[?(@.type=="Synced")].status'),
        PrinterColumn("Suspended", ".spec.suspend", type="boolean"),
        PrinterColumn("Reason", '.status.conditions[?(@.type=="Ready")].reason', priority=1),
        PrinterColumn("Last Sync", ".status.lastSyncTime", type="date", priority=1),
    ),
)
