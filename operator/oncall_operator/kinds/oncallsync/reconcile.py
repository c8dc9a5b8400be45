"""One OnCallSync sync: gather the facts, let core decide, act on the decision in order.

Acting order: the group, the topic (idempotent), then the status - which records the intent to post
a handoff message before it is posted, so a crash or an ambiguous answer costs at most a missed
message, never a second one - and the message last.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from oncall_operator.api.durations import parse_duration
from oncall_operator.api.oncallsync import (
    ON_CALL_SYNC,
    HandoffMessageRecord,
    OnCallSyncReason,
    OnCallSyncSpec,
    OnCallSyncStatus,
    Scope,
    UnmappedReason,
)
from oncall_operator.api.reasons import ExternalReason
from oncall_operator.clients.slack import GroupState
from oncall_operator.core import oncallsync as decide
from oncall_operator.core.errors import Misconfigured, NotFound, OperatorError, Transient, Unauthorized
from oncall_operator.core.membership import (
    Plan,
    Shift,
    SlackAccount,
    SourceSelection,
    next_boundary,
    plan_changes,
    resolve_members,
    select_current,
)
from oncall_operator.core.ownership import ANNOTATION, Claim, handle_allowed, owner
from oncall_operator.core.status import render_status
from oncall_operator.services import Services


@dataclass(frozen=True)
class ResourceRef:
    namespace: str
    name: str
    generation: int | None


ClaimsOf = Callable[[str], list[Claim]]
PROGRESS_AFTER_USERS = 20  # a first sync mapping more users than this shows progress meanwhile


def claim_of(body: Mapping[str, Any]) -> dict[str, Claim] | None:
    meta = body.get("metadata", {})
    handle = ((body.get("spec") or {}).get("slack") or {}).get("userGroup", {}).get("handle")
    if not isinstance(handle, str):
        return None
    claim = Claim(
        str(meta.get("creationTimestamp", "")),
        meta.get("namespace", ""),
        meta.get("name", ""),
        meta.get("uid", ""),
    )
    return {handle: claim}


@dataclass(frozen=True)
class Contenders:
    """The other OnCallSyncs naming a handle (from the watch), and their workspaces once known."""

    claims_of: ClaimsOf
    body: Mapping[str, Any]
    teams: dict[str, str]


@dataclass(frozen=True)
class Subscription:
    """What the look-ahead needs to re-read a resource's on-call and tell whether it changed."""

    token: str
    spec: OnCallSyncSpec
    selection: SourceSelection
    view: decide.OnCallView


@dataclass(frozen=True)
class SyncResult:
    status: OnCallSyncStatus
    next_wake: datetime
    boundary: datetime | None
    subscription: Subscription | None
    changed: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())  # Slack ids added and removed
    recheck: Transient | None = None  # a handoff message that may not have landed: sync again soon


async def write_status(services: Services, ref: ResourceRef, status: OnCallSyncStatus) -> None:
    await services.kube.patch_status(ON_CALL_SYNC.plural, ref.namespace, ref.name, render_status(status))


async def sync_once(
    services: Services,
    ref: ResourceRef,
    spec: OnCallSyncSpec,
    previous: OnCallSyncStatus,
    priority: float,
    contenders: Contenders,
    *,
    handoff: bool,
) -> SyncResult:
    """Gathers, decides, acts; writes the status before announcing. Raises OperatorError."""
    now = await services.clock.now()
    resync = parse_duration(spec.resync_interval)
    slack_token = await services.read_credential(ref.namespace, spec.slack.token_secret_ref)
    await _check_ownership(services, ref, spec, slack_token, contenders)
    pd_token = await services.read_credential(ref.namespace, spec.pager_duty.token_secret_ref)
    selection = SourceSelection(
        frozenset(spec.pager_duty.schedules),
        {p.id: frozenset(p.levels) for p in spec.pager_duty.escalation_policies},
    )
    shifts = await read_shifts(services, spec, pd_token, now, now + resync, priority)
    current = select_current(shifts, selection, now)
    boundary = next_boundary(shifts, selection, now)
    known = {entry.pager_duty_user: entry.slack_user for entry in previous.on_call if entry.slack_user}
    if previous.last_sync_time is None and len(current) > PROGRESS_AFTER_USERS:
        await write_status(services, ref, decide.progress_status(previous, len(current), ref.generation, now))
    accounts = await _map_accounts(
        services, spec, pd_token, slack_token, {s.pagerduty_user for s, _ in current}, known
    )
    resolution = resolve_members(
        current,
        accounts,
        always_include=spec.slack.always_include,
        fallback_users=spec.fallback_users,
        use_fallback=spec.when_nobody_on_call.value == "fallback",
    )
    group = await _find_group(services, spec, slack_token, previous)
    # At a handoff the last verified members are trusted; resyncs read afresh (out-of-band edits).
    current_members = (
        await services.slack.members(slack_token, group.id, fresh=not handoff) if group else None
    )
    plan = plan_changes(
        current_members=current_members,
        group_enabled=group.enabled if group else True,
        resolution=resolution,
        when_nobody_on_call=spec.when_nobody_on_call.value,
        max_removals=spec.safety.max_removals_per_sync,
    )
    group_id = group.id if group else None
    acting = not spec.dry_run and not plan.blocked_reason
    if acting and group is not None:
        details = decide.group_details_update(
            spec.slack.user_group, group.name, group.description, group.channels
        )
        if details is not None:
            await services.slack.update_group(slack_token, group.id, details, priority=priority)
    if acting:
        group_id = await _apply(services, spec, slack_token, group_id, plan, priority)
        if plan.writes_membership or plan.create_group:
            await _verify(services, pd_token, slack_token, group_id, plan, accounts)
    said = decide.plan_announcements(spec, previous, resolution, group_id)
    topic_digest, record = previous.topic_digest, previous.last_handoff_message
    failure: OperatorError | None = None
    if acting and said.topic is not None:
        try:
            for channel in said.topic_channels:
                await services.slack.set_topic(slack_token, channel, said.topic)
            topic_digest = decide.digest(said.topic)
        except (Misconfigured, NotFound, Unauthorized) as error:
            failure = error  # the group is synced: say so, and what failed

    def status_now(handoff_message: HandoffMessageRecord | None) -> OnCallSyncStatus:
        return decide.synced_status(
            previous,
            spec,
            resolution,
            plan,
            group_id=group_id,
            now=now,
            boundary=boundary,
            generation=ref.generation,
            topic_digest=topic_digest,
            handoff_message=handoff_message,
            announce_failure=failure,
        )

    post = acting and said.message is not None and said.message_channel is not None
    recheck: Transient | None = None
    if post and said.interrupted is not None:
        # The operator stopped while posting: the channel's history says whether it landed.
        assert said.interrupted.channel is not None and said.interrupted.digest is not None
        await services.writes_settled(f"OnCallSync {ref.namespace}/{ref.name}")
        since = datetime.fromisoformat(said.interrupted.time.replace("Z", "+00:00")).timestamp()
        landed = await services.slack.posted_since(
            slack_token, said.interrupted.channel, since, said.interrupted.digest
        )
        if landed is not False:  # there already, or unknowable: never risk a second post
            record = said.interrupted.model_copy(update={"state": "Posted" if landed else "Unknown"})
            post = False
    if post:
        assert said.message is not None and said.message_channel is not None
        # Intent first: a recorded message is posted again only if the history shows it did not land.
        record = decide.message_record(said, now)
        await write_status(services, ref, status_now(record))
        try:
            await services.slack.post(slack_token, said.message_channel, said.message)
            record = record.model_copy(update={"state": "Posted"})
        except Transient as error:
            # A 5xx or a dropped connection may have landed: the record stays Pending, and a sync soon
            # after looks in the channel's history before posting again.
            failure, recheck = failure or error, error
        except OperatorError as error:
            record = decide.message_record(said, now, error)  # refused: nothing landed
            failure = failure or error
    status = status_now(record)
    await write_status(services, ref, status)
    next_wake = min(boundary, now + resync) if boundary else now + resync
    subscription = (
        Subscription(pd_token, spec, selection, decide.view_of(shifts, selection, now, next_wake))
        if spec.pager_duty.scope is Scope.ON_CALL_NOW
        else None
    )
    changed = (plan.add, plan.remove) if acting and plan.writes_membership else ((), ())
    return SyncResult(status, next_wake, boundary, subscription, changed, recheck)


async def _check_ownership(
    services: Services, ref: ResourceRef, spec: OnCallSyncSpec, slack_token: str, contenders: Contenders
) -> None:
    """Writes nothing unless this resource owns the group and its namespace may manage it."""
    handle = spec.slack.user_group.handle
    annotations = await services.kube.namespace_annotations(ref.namespace)
    if not handle_allowed(
        handle, annotations.get(ANNOTATION), required=services.settings.require_group_allowlist
    ):
        raise Misconfigured(
            f"namespace {ref.namespace} may not manage @{handle} (annotation {ANNOTATION})",
            reason=OnCallSyncReason.USER_GROUP_NOT_ALLOWED,
        )
    mine = claim_of(contenders.body)
    assert mine is not None
    team = await services.slack.team_id(slack_token)
    contenders.teams[mine[handle].uid] = team
    winner = owner(contenders.claims_of(handle), mine[handle], team, contenders.teams)
    if winner.uid != mine[handle].uid:
        raise Misconfigured(
            f"@{handle} is managed by {winner.ref}, the oldest OnCallSync for it; this one writes nothing",
            reason=OnCallSyncReason.GROUP_OWNED_ELSEWHERE,
        )


async def read_shifts(
    services: Services, spec: OnCallSyncSpec, token: str, now: datetime, until: datetime, priority: float
) -> list[Shift]:
    """Shifts of the spec's sources over [now, until] (a roster for everyoneInRotation)."""
    policies = [p.id for p in spec.pager_duty.escalation_policies]
    for schedule in spec.pager_duty.schedules:
        await services.pagerduty.check_exists(token, "schedules", schedule)
    for policy in policies:
        await services.pagerduty.check_exists(token, "escalation_policies", policy)
    if spec.pager_duty.scope is not Scope.ON_CALL_NOW:
        return await services.pagerduty.roster(token, schedules=spec.pager_duty.schedules, policies=policies)
    shifts = await services.pagerduty.on_call(
        token,
        schedules=spec.pager_duty.schedules,
        policies=policies,
        since=now,
        until=until,
        priority=priority,
    )
    # /oncalls leaves out schedules that no escalation policy uses; read those from the schedule itself.
    answered = {shift.schedule for shift in shifts}
    for schedule in spec.pager_duty.schedules:
        if schedule not in answered:
            shifts = shifts + await services.pagerduty.rendered_schedule(
                token, schedule, since=now, until=until, priority=priority
            )
    return shifts


async def _map_accounts(
    services: Services,
    spec: OnCallSyncSpec,
    pd_token: str,
    slack_token: str,
    users: set[str],
    known: dict[str, str],
) -> dict[str, SlackAccount | UnmappedReason]:
    """Each on-call PagerDuty user's Slack account, or why there is none. `known` is the Slack id
    each one had at the last sync: Slack's email lookup finds no deactivated account, so when it
    misses, the old id tells a deactivated account from none at all."""
    overrides = {o.pager_duty_user: o.slack_user for o in spec.user_mapping.overrides}
    by_email = sorted(users - set(overrides))
    emails = await services.pagerduty.emails_of(pd_token, by_email)
    accounts = await services.slack.accounts_by_email(slack_token, {e for e in emails.values() if e})

    async def one(user: str) -> tuple[str, SlackAccount | UnmappedReason]:
        if user in overrides:
            account = await services.slack.user_by_id(slack_token, overrides[user])
            return user, account or UnmappedReason.NO_SLACK_ACCOUNT
        email = emails.get(user)
        if not email:
            return user, UnmappedReason.NO_EMAIL
        found = accounts.get(email)
        if found is None and user in known:
            former = await services.slack.user_by_id(slack_token, known[user])
            if former is not None and former.deleted:
                return user, former
        return user, found or UnmappedReason.NO_SLACK_ACCOUNT

    return dict(await asyncio.gather(*(one(user) for user in sorted(users))))


async def _verify(
    services: Services,
    pd_token: str,
    slack_token: str,
    group_id: str | None,
    plan: Plan,
    accounts: dict[str, SlackAccount | UnmappedReason],
) -> None:
    """The group must read back as written. Slack drops members it will not keep (a user deactivated
    since the lookup): forget what the read-back contradicts, so the next sync looks them up afresh."""
    assert group_id is not None
    actual = set(await services.slack.members(slack_token, group_id, fresh=False))
    missing = set(plan.final_members) - actual
    if not missing:
        return
    for pd_user, account in accounts.items():
        if isinstance(account, SlackAccount) and account.id in missing:
            email = await services.pagerduty.email_of(pd_token, pd_user)
            services.slack.forget_user(slack_token, email=email, user_id=account.id)
    raise Transient(
        f"Slack did not keep {len(missing)} of the members written (deactivated since?); looking them up again",
        reason=ExternalReason.VERIFICATION_FAILED,
    )


async def _find_group(
    services: Services, spec: OnCallSyncSpec, token: str, previous: OnCallSyncStatus
) -> GroupState | None:
    handle = spec.slack.user_group.handle
    group = await services.slack.find_group(token, handle)
    if group is None and previous.slack_user_group_id:
        group = await services.slack.find_group(token, handle, refresh=True)
    if group is None and not spec.slack.user_group.create:
        raise Misconfigured(
            f"no Slack user group @{handle} and userGroup.create is false",
            reason=ExternalReason.GROUP_NOT_FOUND,
        )
    return group


async def _apply(
    services: Services, spec: OnCallSyncSpec, token: str, group_id: str | None, plan: Plan, priority: float
) -> str | None:
    user_group = spec.slack.user_group
    if plan.is_noop:
        return group_id
    if plan.create_group:
        created = await services.slack.create_group(
            token,
            handle=user_group.handle,
            name=user_group.name or user_group.handle,
            description=user_group.description,
            users=list(plan.final_members),
            priority=priority,
            channels=user_group.channels,
        )
        return created.id
    assert group_id is not None
    if plan.enable_group:
        await services.slack.set_enabled(token, group_id, True, priority=priority)
    if plan.writes_membership:
        await services.slack.set_members(token, group_id, list(plan.final_members), priority=priority)
    if plan.disable_group:
        await services.slack.set_enabled(token, group_id, False, priority=priority)
    return group_id
