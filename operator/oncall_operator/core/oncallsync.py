"""Pure decisions of an OnCallSync beyond membership: what to announce, the status to write, which Event.

The kind's reconcile gathers facts and acts; these functions turn facts into values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from oncall_operator.api.common import Condition, rfc3339
from oncall_operator.api.oncallsync import (
    HandoffMessageRecord,
    OnCallEntry,
    OnCallSource,
    OnCallSyncReason,
    OnCallSyncSpec,
    OnCallSyncStatus,
    PlannedChanges,
    UnmappedUser,
    UserGroupRef,
    WhenNobodyOnCall,
)
from oncall_operator.api.reasons import CommonReason
from oncall_operator.core.conditions import condition, set_conditions
from oncall_operator.core.errors import OperatorError
from oncall_operator.core.events import EventToPost
from oncall_operator.core.membership import (
    Plan,
    Resolution,
    Shift,
    SourceSelection,
    TemplateContext,
    next_boundary,
    render_template,
    select_current,
)

_NOBODY = {
    WhenNobodyOnCall.KEEP_LAST: "nobody is on call: the group keeps its members (whenNobodyOnCall=keepLast)",
    WhenNobodyOnCall.DISABLE_GROUP: "nobody is on call: the group is disabled (whenNobodyOnCall=disableGroup)",
    WhenNobodyOnCall.FALLBACK: "nobody is on call: the fallback users are the members (whenNobodyOnCall=fallback)",
}
MAX_IDS_IN_EVENT = 10


def membership_event(added: Sequence[str], removed: Sequence[str]) -> EventToPost | None:
    """An Event at each membership change, naming Slack ids only (the first few of long lists)."""
    if not added and not removed:
        return None

    def ids(values: Sequence[str]) -> str:
        shown = ", ".join(values[:MAX_IDS_IN_EVENT])
        return shown + (
            f" and {len(values) - MAX_IDS_IN_EVENT} more" if len(values) > MAX_IDS_IN_EVENT else ""
        )

    parts = ([f"added {ids(added)}"] if added else []) + ([f"removed {ids(removed)}"] if removed else [])
    return EventToPost(False, OnCallSyncReason.MEMBERS_CHANGED, "; ".join(parts))


def group_details_update(
    wanted: UserGroupRef, name: str, description: str, channels: Sequence[str]
) -> dict[str, str] | None:
    """The usergroups.update arguments that make the group read as the spec says, or None.
    Only what the spec sets is managed: a group adopted with create: false keeps the rest."""
    update: dict[str, str] = {}
    if wanted.name is not None and wanted.name != name:
        update["name"] = wanted.name
    if wanted.description is not None and wanted.description != description:
        update["description"] = wanted.description
    if wanted.channels is not None and sorted(wanted.channels) != sorted(channels):
        update["channels"] = ",".join(wanted.channels)
    return update or None


def progress_status(
    previous: OnCallSyncStatus, users: int, generation: int | None, now: datetime
) -> OnCallSyncStatus:
    """Shown while a first sync maps many users (reading directories can take a while)."""
    message = f"first sync: mapping {users} on-call PagerDuty users to Slack accounts"
    return previous.model_copy(
        update={
            "observed_generation": generation,
            "conditions": set_conditions(
                previous.conditions,
                Condition(
                    type="Synced",
                    status="Unknown",
                    reason=OnCallSyncReason.PROGRESSING,
                    message=message,
                    last_transition_time=rfc3339(now),
                    observed_generation=generation,
                ),
            ),
        }
    )


@dataclass(frozen=True)
class Announcements:
    """What to say in Slack after this sync. The topic is idempotent and retried until it reads
    as wanted; a message is announced once per change of who is on call, and never retried."""

    on_call: tuple[str, ...]  # Slack user ids on call now
    topic: str | None  # the text to set, when it differs from what was last set
    topic_channels: tuple[str, ...]
    message: str | None  # the text to post, when who is on call changed
    message_channel: str | None
    # A message recorded as being posted when the operator stopped: post `message` only if the
    # channel's history does not already hold it.
    interrupted: HandoffMessageRecord | None = None


def plan_announcements(
    spec: OnCallSyncSpec, previous: OnCallSyncStatus, resolution: Resolution, group_id: str | None
) -> Announcements:
    on_call_now = tuple(sorted({m.slack_user for m in resolution.on_call if m.slack_user}))
    ends = [m.end for m in resolution.on_call if m.end]
    starts = [m.start for m in resolution.on_call if m.start]
    context = TemplateContext(
        mentions=", ".join(f"<@{user}>" for user in on_call_now) or "nobody",
        group=f"<!subteam^{group_id}>" if group_id else f"@{spec.slack.user_group.handle}",
        start=max(starts, default=None),
        end=min(ends, default=None),
    )
    topic_spec, message_spec = spec.slack.topic, spec.slack.handoff_message
    topic = render_template(topic_spec.template, context, topic_spec.time_zone) if topic_spec else None
    # The first sync announces nothing (nobody handed off); a message already recorded for this
    # set of people - posted, failed or interrupted - is not posted again.
    synced_before = previous.last_sync_time is not None
    before = tuple(sorted({e.slack_user for e in previous.on_call if e.slack_user}))
    recorded = previous.last_handoff_message
    changed = synced_before and before != on_call_now
    message_due = (
        message_spec is not None and changed and (recorded is None or tuple(recorded.on_call) != on_call_now)
    )
    interrupted = interrupted_message(previous, on_call_now) if message_spec else None
    text = render_template(message_spec.template, context, message_spec.time_zone) if message_spec else None
    return Announcements(
        on_call=on_call_now,
        topic=topic if topic is not None and digest(topic) != previous.topic_digest else None,
        topic_channels=tuple(topic_spec.channels) if topic_spec else (),
        message=text if message_due or interrupted else None,
        message_channel=message_spec.channel if message_spec and (message_due or interrupted) else None,
        interrupted=interrupted,
    )


def digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def message_record(
    said: Announcements, now: datetime, failure: OperatorError | None = None
) -> HandoffMessageRecord:
    return HandoffMessageRecord(
        on_call=list(said.on_call),
        state="Failed" if failure else "Pending",
        time=rfc3339(now),
        reason=failure.reason if failure else None,
        channel=said.message_channel,
        digest=digest(said.message) if said.message else None,
    )


def interrupted_message(
    previous: OnCallSyncStatus, on_call_now: tuple[str, ...]
) -> HandoffMessageRecord | None:
    """A message recorded as being posted when the operator stopped, still about who is on call now:
    it may or may not have landed, so the channel's history decides."""
    record = previous.last_handoff_message
    if record is None or record.state != "Pending" or not record.channel or not record.digest:
        return None
    return record if tuple(record.on_call) == on_call_now else None


def synced_status(
    previous: OnCallSyncStatus,
    spec: OnCallSyncSpec,
    resolution: Resolution,
    plan: Plan,
    *,
    group_id: str | None,
    now: datetime,
    boundary: datetime | None,
    generation: int | None,
    topic_digest: str | None,
    handoff_message: HandoffMessageRecord | None,
    announce_failure: OperatorError | None = None,
) -> OnCallSyncStatus:
    """The status after a sync that reached both services (written, dry-run or refused by a limit).

    The group's outcome is `Synced`; a failed topic or message leaves Synced as it is and makes
    the resource Degraded and not Ready, naming the reason."""
    members = list(plan.final_members)
    planned = (
        PlannedChanges(
            add=list(plan.add),
            remove=list(plan.remove),
            enable_group=plan.enable_group,
            disable_group=plan.disable_group,
            create_group=plan.create_group,
        )
        if spec.dry_run or plan.blocked_reason
        else None
    )
    if spec.dry_run:
        synced = condition(
            "Synced",
            False,
            OnCallSyncReason.DRY_RUN,
            "dry run: the plan is in status.plannedChanges",
            generation,
            now,
        )
    elif planned is not None:
        synced = condition(
            "Synced",
            False,
            OnCallSyncReason.SAFETY_LIMIT,
            f"refused to remove {len(planned.remove)} members "
            f"(safety.maxRemovalsPerSync={spec.safety.max_removals_per_sync})",
            generation,
            now,
        )
    elif resolution.nobody_on_call:
        synced = condition(
            "Synced",
            True,
            OnCallSyncReason.NOBODY_ON_CALL,
            _NOBODY[spec.when_nobody_on_call],
            generation,
            now,
        )
    else:
        synced = condition(
            "Synced", True, OnCallSyncReason.GROUP_MATCHES_ON_CALL, f"{len(members)} members", generation, now
        )
    if announce_failure is not None:
        text = f"the group is synced, but Slack refused the announcement: {announce_failure.message}"
        degraded = condition("Degraded", True, announce_failure.reason, text, generation, now)
        ready = condition("Ready", False, announce_failure.reason, text, generation, now)
    else:
        if planned is not None and not spec.dry_run:
            degraded = condition(
                "Degraded", True, OnCallSyncReason.SAFETY_LIMIT, synced.message, generation, now
            )
        elif resolution.unmapped:
            degraded = condition(
                "Degraded",
                True,
                OnCallSyncReason.UNMAPPED_USERS,
                f"{len(resolution.unmapped)} on-call users have no usable Slack account",
                generation,
                now,
            )
        else:
            degraded = condition("Degraded", False, CommonReason.AS_EXPECTED, "", generation, now)
        ready = condition("Ready", True, synced.reason, synced.message, generation, now)
    return OnCallSyncStatus(
        on_call=[
            OnCallEntry(
                pager_duty_user=m.pagerduty_user,
                slack_user=m.slack_user,
                source=OnCallSource(type=m.source_type, id=m.source_id, level=m.level or None),
                start=rfc3339(m.start) if m.start else None,
                end=rfc3339(m.end) if m.end else None,
            )
            for m in resolution.on_call
        ],
        members=members,
        member_count=len(members),
        unmapped=[UnmappedUser(pager_duty_user=user, reason=reason) for user, reason in resolution.unmapped],
        planned_changes=planned,
        last_sync_time=rfc3339(now),
        next_handoff_time=rfc3339(boundary) if boundary else None,
        slack_user_group_id=group_id,
        topic_digest=topic_digest,
        last_handoff_message=handoff_message,
        observed_generation=generation,
        conditions=set_conditions(previous.conditions, ready, synced, degraded),
    )


def failed_status(
    previous: OnCallSyncStatus, error: OperatorError, generation: int | None, now: datetime
) -> OnCallSyncStatus:
    """The last good facts stay; the conditions say what failed."""
    return previous.model_copy(
        update={
            "observed_generation": generation,
            "conditions": set_conditions(
                previous.conditions,
                condition("Ready", False, error.reason, error.message, generation, now),
                condition("Synced", False, error.reason, error.message, generation, now),
                condition("Degraded", True, error.reason, error.message, generation, now),
            ),
        }
    )


def invalid_spec_status(
    previous: OnCallSyncStatus, problems: str, generation: int | None, now: datetime
) -> OnCallSyncStatus:
    reason = CommonReason.INVALID_SPEC
    return previous.model_copy(
        update={
            "observed_generation": generation,
            "conditions": set_conditions(
                previous.conditions,
                condition("Ready", False, reason, problems, generation, now),
                condition("Synced", False, reason, problems, generation, now),
            ),
        }
    )


def suspended_status(previous: OnCallSyncStatus, generation: int | None, now: datetime) -> OnCallSyncStatus:
    return previous.model_copy(
        update={
            "observed_generation": generation,
            "conditions": set_conditions(
                previous.conditions,
                condition(
                    "Ready",
                    False,
                    CommonReason.SUSPENDED,
                    "spec.suspend is true: nothing is synced",
                    generation,
                    now,
                ),
                condition(
                    "Synced",
                    False,
                    CommonReason.SUSPENDED,
                    "spec.suspend is true: nothing is synced",
                    generation,
                    now,
                ),
            ),
        }
    )


def problem_of(status: OnCallSyncStatus) -> tuple[str, str] | None:
    """(reason, message) of what needs attention after a sync, or None when all is well.

    Unmapped users are reported in status and conditions but are not an Event-worthy failure."""
    ready = next((c for c in status.conditions if c.type == "Ready"), None)
    if ready is not None and ready.status == "False":
        return ready.reason, ready.message
    degraded = next((c for c in status.conditions if c.type == "Degraded"), None)
    if (
        degraded is not None
        and degraded.status == "True"
        and degraded.reason == OnCallSyncReason.SAFETY_LIMIT
    ):
        return degraded.reason, degraded.message
    return None


@dataclass(frozen=True)
class OnCallView:
    """What a sync acted on: who was on call, and the next boundary before its planned wake-up.
    A fresh read that gives another view means PagerDuty changed (an override, a schedule edit)."""

    users: frozenset[str]
    boundary: datetime | None
    wake_at: datetime


def view_of(
    shifts: Sequence[Shift], selection: SourceSelection, now: datetime, wake_at: datetime
) -> OnCallView:
    users = frozenset(shift.pagerduty_user for shift, _ in select_current(shifts, selection, now))
    boundary = next_boundary(shifts, selection, now)
    return OnCallView(users, boundary if boundary is not None and boundary <= wake_at else None, wake_at)


def view_changed(applied: OnCallView, fresh: OnCallView) -> bool:
    """Only what changes the plan counts: who is on call, or a boundary before the planned wake-up."""
    return applied.users != fresh.users or applied.boundary != fresh.boundary


def lookahead_interval(
    configured: float, reads_per_round: Sequence[int], budget_per_minute: float, share: float = 0.1
) -> float:
    """Seconds between look-ahead rounds: as configured, but slower when a round would take more than
    `share` of any token's PagerDuty budget (each token has its own). Handoffs keep the rest."""
    busiest = max(reads_per_round, default=0)
    return max(configured, 60.0 * busiest / (share * budget_per_minute))
