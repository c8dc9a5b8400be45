"""The OnCallSync daemon: one loop per resource that sleeps until the next shift boundary and syncs.

Per-kind scheduling state lives in `Scheduler`: wake-ups (spec changes), worker slots, the queue
gauge. Every outcome - success, a classified failure, or an exception nobody foresaw - ends as a
status with conditions and, when the trouble changes, one Event; the loop itself never dies of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import kopf
from pydantic import ValidationError

from oncall_operator.api.oncallsync import OnCallSyncReason, OnCallSyncSpec, OnCallSyncStatus
from oncall_operator.api.reasons import ExternalReason
from oncall_operator.core import oncallsync as decide
from oncall_operator.core.backoff import Backoff
from oncall_operator.core.errors import InternalError, OperatorError
from oncall_operator.core.events import next_event
from oncall_operator.core.status import parse_status
from oncall_operator.kinds.events import post_event
from oncall_operator.kinds.oncallsync.reconcile import (
    ClaimsOf,
    Contenders,
    ResourceRef,
    Subscription,
    SyncResult,
    sync_once,
    write_status,
)
from oncall_operator.metrics import (
    GROUP_MEMBERS,
    HANDOFF_LAG,
    LAST_SUCCESS,
    QUEUE_DEPTH,
    RESOURCES,
    SYNC_DURATION,
    SYNCS,
    UNMAPPED_USERS,
    forget_resource,
    report_ready,
)
from oncall_operator.services import Services

log = logging.getLogger(__name__)
KIND = "OnCallSync"
IDLE_SECONDS = 3600.0  # suspended or invalid: a spec change wakes the daemon anyway
OWNERSHIP_RECHECK_SECONDS = 10.0


@dataclass
class Scheduler:
    """Shared by the OnCallSync daemons of one process."""

    workers: asyncio.Semaphore
    wakers: dict[str, asyncio.Event] = field(default_factory=dict)
    teams: dict[str, str] = field(default_factory=dict)  # uid -> Slack workspace of its token
    subscriptions: dict[str, Subscription] = field(default_factory=dict)  # uid -> what the look-ahead checks
    queued: int = 0
    backoff: Backoff = field(default_factory=Backoff)

    def wake(self, uid: str) -> None:
        if uid in self.wakers:
            self.wakers[uid].set()


@dataclass
class DaemonState:
    """What one daemon remembers between syncs."""

    logger: kopf.Logger  # Kopf's, which names the resource ([namespace/name]) in every line
    written: OnCallSyncStatus | None = None  # our last status: the watch may not have delivered it yet
    failures: int = 0
    last_problem: str | None = None
    due: datetime | None = None  # the boundary this sync was woken for (handoff lag)


async def keep_in_sync(
    services: Services,
    scheduler: Scheduler,
    logger: kopf.Logger,
    body: kopf.Body,
    namespace: str,
    name: str,
    uid: str,
    stopped: kopf.DaemonStopped,
    claims: ClaimsOf,
) -> None:
    wake = scheduler.wakers.setdefault(uid, asyncio.Event())
    RESOURCES.labels(KIND).inc()
    state = DaemonState(logger)
    try:
        while not stopped:
            wake.clear()
            generation = body.get("metadata", {}).get("generation")
            ref = ResourceRef(namespace, name, generation)
            previous = state.written or parse_status(OnCallSyncStatus, body.get("status"))
            try:
                spec = OnCallSyncSpec.model_validate(dict(body.get("spec", {})))
            except ValidationError:
                await _wait(services, wake, stopped, None, IDLE_SECONDS)  # the validate handler reports it
                continue
            # A rotated, deleted or newly labelled Secret wakes the resource within seconds.
            refs = {
                (namespace, spec.pager_duty.token_secret_ref.name),
                (namespace, spec.slack.token_secret_ref.name),
            }
            if spec.suspend:
                forget_resource(
                    KIND, namespace, name
                )  # suspended on purpose: no "not ready" series to alert on
                state.written = decide.suspended_status(previous, generation, await services.clock.now())
                await _guarded(write_status(services, ref, state.written))
                await _wait(services, wake, stopped, None, IDLE_SECONDS)
                continue
            result, error = await _sync(
                services, scheduler, ref, spec, previous, state, Contenders(claims, body, scheduler.teams)
            )
            services.secrets.watch(uid, refs, wake.set)  # as of what this sync read
            if result is not None:
                await _after_success(services, body, ref, spec, result, state)
                if result.subscription is None:
                    scheduler.subscriptions.pop(uid, None)
                else:
                    scheduler.subscriptions[uid] = result.subscription
                if result.recheck is not None:  # a message that may not have landed: look again soon
                    state.failures += 1
                    await _wait(
                        services, wake, stopped, None, scheduler.backoff.delay(state.failures, result.recheck)
                    )
                    state.due = None
                    continue
                boundary = (
                    result.boundary if result.boundary and result.boundary <= result.next_wake else None
                )
                reached = await _wait(services, wake, stopped, result.next_wake, None)
                state.due = boundary if reached else None
            else:
                assert error is not None
                delay = await _after_failure(services, scheduler, body, ref, spec, previous, error, state)
                await _wait(services, wake, stopped, None, delay)
    finally:
        scheduler.wakers.pop(uid, None)
        scheduler.teams.pop(uid, None)
        services.secrets.unwatch(uid)
        scheduler.subscriptions.pop(uid, None)
        forget_resource(KIND, namespace, name)
        for outcome in ("success", "dry_run", "error"):
            with contextlib.suppress(KeyError):
                SYNCS.remove(namespace, name, outcome)
        for gauge in (GROUP_MEMBERS, UNMAPPED_USERS):
            with contextlib.suppress(KeyError):
                gauge.remove(namespace, name)
        RESOURCES.labels(KIND).dec()


async def _sync(
    services: Services,
    scheduler: Scheduler,
    ref: ResourceRef,
    spec: OnCallSyncSpec,
    previous: OnCallSyncStatus,
    state: DaemonState,
    contenders: Contenders,
) -> tuple[SyncResult | None, OperatorError | None]:
    started = time.monotonic()
    scheduler.queued += 1
    QUEUE_DEPTH.set(scheduler.queued)
    try:
        async with scheduler.workers:
            scheduler.queued -= 1
            QUEUE_DEPTH.set(scheduler.queued)
            priority = state.due.timestamp() if state.due else time.time()
            result = await sync_once(
                services, ref, spec, previous, priority, contenders, handoff=state.due is not None
            )
            return result, None
    except OperatorError as error:
        return None, error
    except Exception as error:  # a bug, or an answer nobody foresaw: a condition, never a dead daemon
        # The stack without the exception's text: a message may quote an answer, and answers carry emails.
        stack = "".join(traceback.format_tb(error.__traceback__))
        state.logger.error("unexpected %s while syncing:\n%s", type(error).__name__, stack)
        return None, InternalError.wrap(error, "syncing")
    finally:
        SYNC_DURATION.observe(time.monotonic() - started)


async def _after_success(
    services: Services,
    body: kopf.Body,
    ref: ResourceRef,
    spec: OnCallSyncSpec,
    result: SyncResult,
    state: DaemonState,
) -> None:
    status = result.status
    state.written = status
    if result.recheck is None:  # a message to look for again keeps the backoff growing
        state.failures = 0
    SYNCS.labels(ref.namespace, ref.name, "dry_run" if spec.dry_run else "success").inc()
    GROUP_MEMBERS.labels(ref.namespace, ref.name).set(status.member_count or 0)
    UNMAPPED_USERS.labels(ref.namespace, ref.name).set(len(status.unmapped))
    _set_ready(ref, status)
    LAST_SUCCESS.labels(KIND, ref.namespace, ref.name).set(time.time())
    if state.due is not None and not spec.dry_run:
        HANDOFF_LAG.observe(max(0.0, ((await services.clock.now()) - state.due).total_seconds()))
    members_changed = decide.membership_event(*result.changed)
    if members_changed is not None:
        post_event(body, members_changed)
    problem = decide.problem_of(status)
    event, state.last_problem = next_event(
        state.last_problem, problem[0] if problem else None, problem[1] if problem else ""
    )
    if event is not None:
        post_event(body, event)


async def _after_failure(
    services: Services,
    scheduler: Scheduler,
    body: kopf.Body,
    ref: ResourceRef,
    spec: OnCallSyncSpec,
    previous: OnCallSyncStatus,
    error: OperatorError,
    state: DaemonState,
) -> float:
    """Writes the failure, posts one Event per new trouble, and returns how long to back off."""
    state.failures += 1
    SYNCS.labels(ref.namespace, ref.name, "error").inc()
    state.written = decide.failed_status(previous, error, ref.generation, await services.clock.now())
    await _guarded(write_status(services, ref, state.written))
    _set_ready(ref, state.written)
    event, state.last_problem = next_event(state.last_problem, error.reason, error.message)
    if event is not None:
        post_event(body, event)
        await _report_to_error_channel(services, spec, ref, error)
    # A group owned elsewhere is re-checked soon: when the owner goes, the next oldest takes over.
    if error.reason == OnCallSyncReason.GROUP_OWNED_ELSEWHERE:
        delay = OWNERSHIP_RECHECK_SECONDS
    else:
        delay = scheduler.backoff.delay(state.failures, error)
    state.logger.warning("sync failed (%s); retrying in %.0fs", error.reason, delay)
    return delay


def _set_ready(ref: ResourceRef, status: OnCallSyncStatus) -> None:
    ready = next(((c.status, c.reason) for c in status.conditions if c.type == "Ready"), None)
    report_ready(KIND, ref.namespace, ref.name, ready)


async def _guarded(write: Any) -> None:
    """A status that cannot be written (apiserver away) is retried by the next loop, not fatal."""
    try:
        await write
    except OperatorError as error:
        log.warning("could not write a status: %s", error.message)


async def _report_to_error_channel(
    services: Services, spec: OnCallSyncSpec, ref: ResourceRef, error: OperatorError
) -> None:
    """Failures go to the error channel too, when one is set (best effort)."""
    if not spec.slack.error_channel or error.reason in (
        ExternalReason.SECRET_NOT_FOUND,
        ExternalReason.SECRET_FORBIDDEN,
        ExternalReason.AUTH_FAILED,
    ):
        return
    try:
        token = await services.read_credential(ref.namespace, spec.slack.token_secret_ref)
        await services.slack.post(
            token,
            spec.slack.error_channel,
            f":warning: OnCallSync {ref.namespace}/{ref.name}: {error.reason}: {error.message}",
        )
    except OperatorError:
        log.warning("could not post to the error channel of %s/%s", ref.namespace, ref.name)


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
        await _first_of(wake, stopped, step)
    return False


async def _first_of(wake: asyncio.Event, stopped: kopf.DaemonStopped, seconds: float) -> None:
    """Returns when woken, when Kopf stops the daemon (deletion, shutdown), or after `seconds`."""

    async def until_stopped() -> None:
        await stopped.wait(seconds)

    waiters = {asyncio.ensure_future(wake.wait()), asyncio.ensure_future(until_stopped())}
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
