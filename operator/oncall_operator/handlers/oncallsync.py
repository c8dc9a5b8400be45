"""Kopf handlers for OnCallSync: validate, run one daemon per resource, write status.

Each daemon sleeps until the next shift boundary (or the resync safety net, or a
spec change) and then syncs; the decisions live in core.membership.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from oncall_operator import API_GROUP, API_VERSION
from oncall_operator.api.common import Condition, merge_condition, now_rfc3339
from oncall_operator.api.oncallsync import ON_CALL_SYNC, OnCallSyncSpec, Scope, WhenNobodyOnCall
from oncall_operator.clients import kube
from oncall_operator.clients.clock import Clock, clock_from_env
from oncall_operator.clients.errors import SyncError
from oncall_operator.clients.pagerduty import PagerDuty
from oncall_operator.clients.slack import Slack
from oncall_operator.core.durations import resync_interval
from oncall_operator.core.membership import (
    Plan,
    Resolution,
    SlackAccount,
    SourceSelection,
    TemplateContext,
    UnmappedReason,
    next_boundary,
    plan_changes,
    render_template,
    resolve_members,
    select_current,
)
from oncall_operator.metrics import (
    GROUP_MEMBERS,
    HANDOFF_LAG,
    QUEUE_DEPTH,
    RESOURCES,
    SYNC_DURATION,
    SYNCS,
    UNMAPPED_USERS,
)

PLURAL = ON_CALL_SYNC.plural
log = logging.getLogger(__name__)
MAX_BACKOFF = 300.0


@dataclass
class Services:
    """Shared by every OnCallSync daemon: API adapters, clock, wake-ups, worker slots."""

    pagerduty: PagerDuty
    slack: Slack
    clock: Clock
    workers: asyncio.Semaphore
    wakers: dict[str, asyncio.Event] = field(default_factory=dict)
    queued: int = 0

    def wake(self, uid: str) -> None:
        if uid in self.wakers:
            self.wakers[uid].set()


def _services(memo: Any) -> Services:
    services: Services = memo["oncallsync"]
    return services


@kopf.on.startup()
def create_services(memo: Any, **_: Any) -> None:
    # Only for sandbox benchmarks whose server limits are scaled by the same factor.
    scale = float(os.environ.get("ONCALL_RATE_LIMIT_SCALE", "1"))
    memo["oncallsync"] = Services(
        pagerduty=PagerDuty(
            os.environ.get("ONCALL_PAGERDUTY_URL"),
            rate_limit_scale=scale,
            ca_file=os.environ.get("ONCALL_PAGERDUTY_CA_FILE"),
        ),
        slack=Slack(os.environ.get("ONCALL_SLACK_URL"), rate_limit_scale=scale),
        clock=clock_from_env(os.environ.get("ONCALL_CLOCK_URL")),
        workers=asyncio.Semaphore(int(memo.get("workers", 16))),
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _condition(type_: str, ok: bool, reason: str, message: str, generation: int | None) -> Condition:
    return Condition(
        type=type_,
        status="True" if ok else "False",
        reason=reason,
        message=message,
        last_transition_time=now_rfc3339(),
        observed_generation=generation,
    )


@kopf.on.resume(API_GROUP, API_VERSION, PLURAL)
@kopf.on.create(API_GROUP, API_VERSION, PLURAL)
@kopf.on.update(API_GROUP, API_VERSION, PLURAL, field="spec")
def validate_and_wake(
    reason: str,
    spec: kopf.Spec,
    meta: kopf.Meta,
    status: kopf.Status,
    uid: str,
    memo: Any,
    patch: kopf.Patch,
    **_: Any,
) -> None:
    """Admission already checked the schema; this catches what a schema cannot (or an old CRD)."""
    try:
        OnCallSyncSpec.model_validate(dict(spec))
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        generation = meta.get("generation")
        conditions = list(status.get("conditions", []))
        for condition in (
            _condition("Ready", False, "InvalidSpec", problems, generation),
            _condition("Synced", False, "InvalidSpec", problems, generation),
        ):
            conditions = merge_condition(conditions, condition)
        patch.status["conditions"] = conditions
        patch.status["observedGeneration"] = generation
        raise kopf.PermanentError(f"invalid spec: {problems}") from None
    if reason == "update":  # the daemon syncs on its own when it starts (create/resume)
        _services(memo).wake(uid)


@dataclass
class SyncOutcome:
    status: dict[str, Any]
    next_wake: datetime
    boundary: datetime | None


async def _map_accounts(
    services: Services, spec: OnCallSyncSpec, pd_token: str, slack_token: str, users: set[str]
) -> dict[str, SlackAccount | UnmappedReason]:
    overrides = {o.pager_duty_user: o.slack_user for o in spec.user_mapping.overrides}

    async def one(user: str) -> tuple[str, SlackAccount | UnmappedReason]:
        if user in overrides:
            account = await services.slack.user_by_id(slack_token, overrides[user])
            return user, account or "NoSlackAccount"
        email = await services.pagerduty.email_of(pd_token, user)
        if not email:
            return user, "NoEmail"
        found = await services.slack.user_by_email(slack_token, email)
        return user, found or "NoSlackAccount"

    return dict(await asyncio.gather(*(one(user) for user in sorted(users))))


async def sync_once(
    services: Services,
    namespace: str,
    spec: OnCallSyncSpec,
    previous: dict[str, Any],
    generation: int | None,
    priority: float,
    *,
    handoff: bool = False,
) -> SyncOutcome:
    now = await services.clock.now()
    resync = resync_interval(spec.resync_interval)
    pd_token = await kube.read_secret_key(
        namespace, spec.pager_duty.token_secret_ref.name, spec.pager_duty.token_secret_ref.key
    )
    slack_token = await kube.read_secret_key(
        namespace, spec.slack.token_secret_ref.name, spec.slack.token_secret_ref.key
    )
    policies = [p.id for p in spec.pager_duty.escalation_policies]
    for schedule in spec.pager_duty.schedules:
        await services.pagerduty.check_exists(pd_token, "schedules", schedule)
    for policy in policies:
        await services.pagerduty.check_exists(pd_token, "escalation_policies", policy)
    selection = SourceSelection(
        frozenset(spec.pager_duty.schedules),
        {p.id: frozenset(p.levels) for p in spec.pager_duty.escalation_policies},
    )
    if spec.pager_duty.scope is Scope.ON_CALL_NOW:
        shifts = await services.pagerduty.on_call(
            pd_token,
            schedules=spec.pager_duty.schedules,
            policies=policies,
            since=now,
            until=now + resync,
            priority=priority,
        )
    else:
        shifts = await services.pagerduty.roster(
            pd_token, schedules=spec.pager_duty.schedules, policies=policies
        )
    current = select_current(shifts, selection, now)
    boundary = next_boundary(shifts, selection, now)
    accounts = await _map_accounts(
        services, spec, pd_token, slack_token, {s.pagerduty_user for s, _ in current}
    )
    resolution = resolve_members(
        current,
        accounts,
        always_include=spec.slack.always_include,
        fallback_users=spec.fallback_users,
        use_fallback=spec.when_nobody_on_call is WhenNobodyOnCall.FALLBACK,
    )
    handle = spec.slack.user_group.handle
    group = await services.slack.find_group(slack_token, handle)
    if group is None and previous.get("slackUserGroupId"):
        group = await services.slack.find_group(slack_token, handle, refresh=True)
    if group is None and not spec.slack.user_group.create:
        raise SyncError("GroupNotFound", f"no Slack user group @{handle} and userGroup.create is false")
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
    if not spec.dry_run and not plan.blocked_reason:
        group_id = await _apply(services, spec, slack_token, group_id, plan, priority)
    status = _status(spec, resolution, plan, group_id, now, boundary, generation)
    if not spec.dry_run and not plan.blocked_reason:
        await _announce(services, spec, slack_token, previous, resolution)
    next_wake = min(boundary, now + resync) if boundary else now + resync
    return SyncOutcome(status, next_wake, boundary)


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


async def _announce(
    services: Services,
    spec: OnCallSyncSpec,
    token: str,
    previous: dict[str, Any],
    resolution: Resolution,
) -> None:
    """Topic and handoff message, only when who is on call changed; sent last."""
    on_call_now = sorted({m.slack_user for m in resolution.on_call if m.slack_user})
    before = (
        sorted({entry["slackUser"] for entry in previous["onCall"] if entry.get("slackUser")})
        if "onCall" in previous
        else None
    )
    if before is not None and sorted(before) == on_call_now:
        return
    ends = [m.end for m in resolution.on_call if m.end]
    starts = [m.start for m in resolution.on_call if m.start]
    context = TemplateContext(
        mentions=", ".join(f"<@{user}>" for user in on_call_now) or "nobody",
        group=f"<!subteam^{previous.get('slackUserGroupId', '')}>"
        if previous.get("slackUserGroupId")
        else f"@{spec.slack.user_group.handle}",
        start=max(starts, default=None),
        end=min(ends, default=None),
    )
    if spec.slack.topic:
        topic = render_template(spec.slack.topic.template, context, spec.slack.topic.time_zone)
        for channel in spec.slack.topic.channels:
            await services.slack.set_topic(token, channel, topic)
    if spec.slack.handoff_message and before is not None:
        await services.slack.post(
            token,
            spec.slack.handoff_message.channel,
            render_template(
                spec.slack.handoff_message.template, context, spec.slack.handoff_message.time_zone
            ),
        )


def _status(
    spec: OnCallSyncSpec,
    resolution: Resolution,
    plan: Plan,
    group_id: str | None,
    now: datetime,
    boundary: datetime | None,
    generation: int | None,
) -> dict[str, Any]:
    members = list(plan.final_members)
    status: dict[str, Any] = {
        "onCall": [
            {
                "pagerDutyUser": m.pagerduty_user,
                "slackUser": m.slack_user,
                "source": {
                    "type": m.source_type,
                    "id": m.source_id,
                    **({"level": m.level} if m.level else {}),
                },
                "start": _iso(m.start),
                "end": _iso(m.end),
            }
            for m in resolution.on_call
        ],
        "members": members,
        "memberCount": len(members),
        "unmapped": [{"pagerDutyUser": user, "reason": reason} for user, reason in resolution.unmapped],
        "plannedChanges": None,
        "lastSyncTime": _iso(now),
        "nextHandoffTime": _iso(boundary),
        "slackUserGroupId": group_id,
        "observedGeneration": generation,
    }
    if spec.dry_run or plan.blocked_reason:
        status["plannedChanges"] = {
            "add": list(plan.add),
            "remove": list(plan.remove),
            "enableGroup": plan.enable_group,
            "disableGroup": plan.disable_group,
            "createGroup": plan.create_group,
        }
    return status


def _conditions(
    previous: list[dict[str, Any]],
    outcome: SyncOutcome | None,
    error: SyncError | None,
    spec: OnCallSyncSpec | None,
    generation: int | None,
) -> list[dict[str, Any]]:
    conditions = list(previous)
    if error is not None:
        updates = [
            _condition("Ready", False, error.reason, error.message, generation),
            _condition("Synced", False, error.reason, error.message, generation),
            _condition("Degraded", True, error.reason, error.message, generation),
        ]
    else:
        assert outcome is not None and spec is not None
        status = outcome.status
        planned = status.get("plannedChanges")
        unmapped = status.get("unmapped", [])
        if spec.dry_run:
            synced = _condition(
                "Synced", False, "DryRun", "dry run: the plan is in status.plannedChanges", generation
            )
        elif planned:
            synced = _condition(
                "Synced",
                False,
                "SafetyLimit",
                f"refused to remove {len(planned['remove'])} members "
                f"(safety.maxRemovalsPerSync={spec.safety.max_removals_per_sync})",
                generation,
            )
        else:
            synced = _condition(
                "Synced", True, "GroupMatchesOnCall", f"{status['memberCount']} members", generation
            )
        if planned and not spec.dry_run:
            degraded = _condition("Degraded", True, "SafetyLimit", synced.message, generation)
        elif unmapped:
            degraded = _condition(
                "Degraded",
                True,
                "UnmappedUsers",
                f"{len(unmapped)} on-call users have no usable Slack account",
                generation,
            )
        else:
            degraded = _condition("Degraded", False, "AsExpected", "", generation)
        updates = [_condition("Ready", True, synced.reason, synced.message, generation), synced, degraded]
    for condition in updates:
        conditions = merge_condition(conditions, condition)
    return conditions


@kopf.daemon(API_GROUP, API_VERSION, PLURAL, cancellation_timeout=10.0)
async def keep_in_sync(
    body: kopf.Body,
    namespace: str | None,
    name: str,
    uid: str,
    stopped: kopf.DaemonStopped,
    memo: Any,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    assert namespace is not None  # OnCallSync is namespaced
    services = _services(memo)
    wake = services.wakers.setdefault(uid, asyncio.Event())
    RESOURCES.labels("OnCallSync").inc()
    failures = 0
    written: dict[str, Any] = {}  # our last status: the watch may not have delivered it yet
    last_reason: str | None = None
    due: datetime | None = None  # the boundary this sync was woken for (handoff lag)
    try:
        while not stopped:
            wake.clear()
            spec_data = dict(body.get("spec", {}))
            generation = body.get("metadata", {}).get("generation")
            previous = {**dict(body.get("status", {})), **written}
            try:
                spec = OnCallSyncSpec.model_validate(spec_data)
            except ValidationError:
                await _wait(services, wake, stopped, None, 3600.0)  # the create/update handler reports it
                continue
            if spec.suspend:
                await kube.patch_status(
                    PLURAL,
                    namespace,
                    name,
                    {
                        "observedGeneration": generation,
                        "conditions": merge_condition(
                            previous.get("conditions", []),
                            _condition("Synced", False, "Suspended", "spec.suspend is true", generation),
                        ),
                    },
                )
                await _wait(services, wake, stopped, None, 3600.0)
                continue
            started = time.monotonic()
            services.queued += 1
            QUEUE_DEPTH.set(services.queued)
            try:
                async with services.workers:
                    services.queued -= 1
                    QUEUE_DEPTH.set(services.queued)
                    priority = due.timestamp() if due else time.time()
                    outcome = await sync_once(
                        services, namespace, spec, previous, generation, priority, handoff=due is not None
                    )
                error = None
            except SyncError as failure:
                outcome, error = None, failure
            SYNC_DURATION.observe(time.monotonic() - started)
            if outcome is not None:
                failures = 0
                status = outcome.status
                status["conditions"] = _conditions(
                    previous.get("conditions", []), outcome, None, spec, generation
                )
                await kube.patch_status(PLURAL, namespace, name, status)
                written = status
                SYNCS.labels(namespace, name, "dry_run" if spec.dry_run else "success").inc()
                GROUP_MEMBERS.labels(namespace, name).set(status["memberCount"])
                UNMAPPED_USERS.labels(namespace, name).set(len(status["unmapped"]))
                if due is not None and not spec.dry_run:
                    HANDOFF_LAG.observe(max(0.0, ((await services.clock.now()) - due).total_seconds()))
                if status.get("plannedChanges") and not spec.dry_run and last_reason != "SafetyLimit":
                    kopf.warn(
                        body,
                        reason="SafetyLimit",
                        message=status["conditions"][-1]["message"]
                        if status["conditions"]
                        else "safety limit",
                    )
                    last_reason = "SafetyLimit"
                elif not status.get("plannedChanges"):
                    if last_reason is not None:
                        kopf.info(body, reason="Recovered", message="sync succeeded again")
                    last_reason = None
                boundary = (
                    outcome.boundary if outcome.boundary and outcome.boundary <= outcome.next_wake else None
                )
                reached = await _wait(services, wake, stopped, outcome.next_wake, None)
                due = boundary if reached else None
            else:
                assert error is not None
                failures += 1
                SYNCS.labels(namespace, name, "error").inc()
                await kube.patch_status(
                    PLURAL,
                    namespace,
                    name,
                    {
                        "observedGeneration": generation,
                        "conditions": _conditions(
                            previous.get("conditions", []), None, error, spec, generation
                        ),
                    },
                )
                if error.reason != last_reason:
                    kopf.warn(body, reason=error.reason, message=error.message)
                    await _report_error(services, spec, namespace, name, error)
                    last_reason = error.reason
                backoff = error.retry_after or min(MAX_BACKOFF, 5.0 * 2 ** (failures - 1))
                logger.warning("sync failed (%s); retrying in %.0fs", error.reason, backoff)
                await _wait(services, wake, stopped, None, backoff)
    finally:
        services.wakers.pop(uid, None)
        for gauge in (GROUP_MEMBERS, UNMAPPED_USERS):
            with contextlib.suppress(KeyError):
                gauge.remove(namespace, name)
        RESOURCES.labels("OnCallSync").dec()


async def _report_error(
    services: Services, spec: OnCallSyncSpec, namespace: str, name: str, error: SyncError
) -> None:
    """Failures go to the error channel too, when one is set (best effort)."""
    if not spec.slack.error_channel or error.reason in ("SecretNotFound", "AuthFailed"):
        return
    try:
        token = await kube.read_secret_key(
            namespace, spec.slack.token_secret_ref.name, spec.slack.token_secret_ref.key
        )
        await services.slack.post(
            token,
            spec.slack.error_channel,
            f":warning: OnCallSync {namespace}/{name}: {error.reason}: {error.message}",
        )
    except SyncError:
        log.warning("could not post to the error channel")


async def _wait(
    services: Services,
    wake: asyncio.Event,
    stopped: kopf.DaemonStopped,
    until: datetime | None,
    seconds: float | None,
) -> bool:
    """Sleeps until `until` on the on-call clock (or for `seconds`), a wake-up, or stop.
    True when the time came, False when woken or stopped first."""
    deadline = time.monotonic() + seconds if seconds is not None else None
    while not stopped and not wake.is_set():
        if until is not None:
            remaining = (until - await services.clock.now()).total_seconds()
        else:
            assert deadline is not None
            remaining = deadline - time.monotonic()
        if remaining <= 0:
            return True
        step = min(remaining, services.clock.poll_seconds) if until is not None else remaining
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=step)
    return False


@kopf.on.delete(API_GROUP, API_VERSION, PLURAL, retries=5, backoff=5)
async def on_delete(spec: kopf.Spec, namespace: str | None, status: kopf.Status, memo: Any, **_: Any) -> None:
    """onDelete: disableGroup disables the group; keep leaves it to its members."""
    if spec.get("onDelete") != "disableGroup" or not status.get("slackUserGroupId"):
        return
    assert namespace is not None
    services = _services(memo)
    try:
        model = OnCallSyncSpec.model_validate(dict(spec))
        token = await kube.read_secret_key(
            namespace, model.slack.token_secret_ref.name, model.slack.token_secret_ref.key
        )
        await services.slack.set_enabled(token, status["slackUserGroupId"], False, priority=0.0)
    except SyncError as error:
        raise kopf.TemporaryError(f"could not disable the group: {error.reason}", delay=10) from None
