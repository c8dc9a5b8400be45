"""The CleanupRun daemon: drives one run through its phases until it is finished.

Pending/Planning -> plan (gather, decide, write the plan) -> Planned | Aborted | Completed |
AwaitingApproval | Applying. AwaitingApproval waits for spec.approvedPlanHash (an update wakes it).
Applying applies with per-change progress; after a restart it resumes here. Failures are classified:
an incomplete listing or an unsupported condition refuses the run, a transient failure is retried with
backoff a bounded number of times, anything else fails it - and every outcome is a status and an Event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

import kopf
from pydantic import ValidationError

from oncall_operator.api.cleanup import CleanupReason
from oncall_operator.api.cleanuprun import CLEANUP_RUN, CleanupRunSpec, CleanupRunStatus, RunPhase
from oncall_operator.api.common import validation_problems
from oncall_operator.api.reasons import CommonReason
from oncall_operator.core.backoff import Backoff
from oncall_operator.core.cleanup import status as run_status
from oncall_operator.core.cleanup.encoding import EncodingError, decode
from oncall_operator.core.cleanup.plan import build_plan
from oncall_operator.core.cleanup.progress import ChangeState, Progress
from oncall_operator.core.errors import (
    IncompleteListing,
    InternalError,
    Misconfigured,
    OperatorError,
    Transient,
)
from oncall_operator.core.events import EventToPost, next_event
from oncall_operator.core.status import parse_status, render_status
from oncall_operator.kinds.cleanuprun.apply import Ledger, RunRef, apply, write_patch
from oncall_operator.kinds.cleanuprun.gather import People, Unsupported, gather, read_tokens
from oncall_operator.kinds.events import post_event
from oncall_operator.metrics import (
    CLEANUP_RUN_DURATION,
    CLEANUP_RUNS,
    CLEANUP_SAFETY_ABORTS,
    CLEANUP_USERS,
)
from oncall_operator.services import Services

log = logging.getLogger(__name__)
APPROVAL_POLL_SECONDS = 10.0  # the approval handler wakes us; this only bounds a missed wake-up
TRANSIENT_ATTEMPTS = 6  # then the run fails, naming the reason (the next run starts afresh)
BACKOFF = Backoff(base=5.0, cap=120.0)


@dataclass
class RunScheduler:
    """Shared by the run daemons of one process: wake-ups by uid."""

    wakers: dict[str, asyncio.Event] = field(default_factory=dict)

    def wake(self, uid: str) -> None:
        if uid in self.wakers:
            self.wakers[uid].set()


@dataclass
class RunState:
    status: CleanupRunStatus | None = None  # what this process last wrote: the watch may lag behind
    fresh_check: bool = True  # settle open changes against live state before applying
    ledger: Ledger | None = None
    transient_failures: int = 0
    last_problem: str | None = None
    busy_seconds: float = 0.0


async def drive_run(
    services: Services,
    people: People,
    scheduler: RunScheduler,
    body: kopf.Body,
    namespace: str,
    name: str,
    uid: str,
    stopped: kopf.DaemonStopped,
) -> None:
    wake = scheduler.wakers.setdefault(uid, asyncio.Event())
    state = RunState()
    try:
        while not stopped:
            wake.clear()
            ref = RunRef(namespace, name, body.get("metadata", {}).get("generation"))
            status = state.status or parse_status(CleanupRunStatus, body.get("status"))
            if status.phase.finished:
                return
            try:
                spec = CleanupRunSpec.model_validate(dict(body.get("spec", {})))
            except ValidationError as error:
                problems = validation_problems(error)
                failure = Misconfigured(f"invalid spec: {problems}", reason=CommonReason.INVALID_SPEC)
                await _finish(
                    services,
                    body,
                    ref,
                    None,
                    state,
                    run_status.failed(status, failure, await services.clock.now(), ref.generation),
                )
                return
            started = time.monotonic()
            try:
                await _advance(services, people, body, ref, spec, status, state, stopped, wake)
                state.transient_failures = 0
            except OperatorError as error:
                await _failed(services, body, ref, spec, state, error)
            except Exception as error:  # a bug: a status and an Event, never a dead daemon
                log.exception("unexpected error in CleanupRun %s/%s", namespace, name)
                await _failed(
                    services, body, ref, spec, state, InternalError.wrap(error, "running a cleanup")
                )
            finally:
                state.busy_seconds += time.monotonic() - started
    finally:
        scheduler.wakers.pop(uid, None)


async def _advance(
    services: Services,
    people: People,
    body: kopf.Body,
    ref: RunRef,
    spec: CleanupRunSpec,
    status: CleanupRunStatus,
    state: RunState,
    stopped: kopf.DaemonStopped,
    wake: asyncio.Event,
) -> None:
    """One step of the state machine; each ends with the status written."""
    rule = spec.rule
    if status.phase in (RunPhase.PENDING, RunPhase.PLANNING):
        now = await services.clock.now()
        state.status = run_status.planning(status, now, ref.generation)
        await _write(services, ref, state.status)
        tokens = await read_tokens(services, ref.namespace, rule)
        try:
            directory = await gather(people, tokens, rule, now)
        except (IncompleteListing, Unsupported) as error:
            refused = run_status.refused(
                state.status,
                error.reason,
                error.message,
                await services.clock.now(),
                ref.generation,
                before_plan=True,
            )
            await _finish(services, body, ref, spec, state, refused)
            return
        plan = build_plan(rule, directory, await services.subjects.key())
        planned = run_status.planned(state.status, rule, plan, await services.clock.now(), ref.generation)
        state.fresh_check = False  # the plan is seconds old: applying it needs no second look
        if planned.phase is RunPhase.ABORTED:
            CLEANUP_SAFETY_ABORTS.labels(ref.namespace, spec.rule_name).inc()
        if planned.phase.finished:
            await _finish(services, body, ref, spec, state, planned)
        else:
            state.status = planned
            await _write(services, ref, planned)
        return
    if status.phase is RunPhase.AWAITING_APPROVAL:
        status = await _notify_once(services, ref, spec, status, state)
        approved = spec.approved_plan_hash
        if approved is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), APPROVAL_POLL_SECONDS)
            return
        now = await services.clock.now()
        if approved != status.plan_hash:
            message = f"spec.approvedPlanHash {approved[:19]}… is not this run's plan ({(status.plan_hash or '')[:19]}…)"
            refused = run_status.refused(
                status, CleanupReason.STALE_PLAN_HASH, message, now, ref.generation, before_plan=False
            )
            await _finish(services, body, ref, spec, state, refused)
            return
        state.status = run_status.approved(status, now, ref.generation)
        state.fresh_check = True  # hours may have passed: every change is checked against live state
        await _write(services, ref, state.status)
        return
    if status.phase is RunPhase.APPLYING:
        if state.ledger is None:
            try:
                items = decode(status.targets, status.items)
            except EncodingError as error:
                raise Misconfigured(
                    f"cannot read the plan in status: {error}", reason=CommonReason.INVALID_SPEC
                ) from error
            state.ledger = Ledger(
                items,
                status.counts.population,
                Progress.from_status(items, status.progress),
                dict(status.failures),
            )
        tokens = await read_tokens(services, ref.namespace, rule)
        finished = await apply(
            services, people, ref, rule, tokens, state.ledger, fresh_check=state.fresh_check, stopped=stopped
        )
        state.fresh_check = False
        if finished:
            ledger = state.ledger
            done = run_status.completed(
                status,
                ledger.items,
                ledger.progress,
                ledger.failures,
                await services.clock.now(),
                ref.generation,
            )
            await _finish(services, body, ref, spec, state, done)


async def _failed(
    services: Services,
    body: kopf.Body,
    ref: RunRef,
    spec: CleanupRunSpec,
    state: RunState,
    error: OperatorError,
) -> None:
    """Transient failures are retried (with backoff, a bounded number of times); others fail the run."""
    status = state.status or parse_status(CleanupRunStatus, body.get("status"))
    if isinstance(error, Transient) and state.transient_failures < TRANSIENT_ATTEMPTS:
        state.transient_failures += 1
        state.fresh_check = True  # what happened before the failure is not known for sure
        delay = BACKOFF.delay(state.transient_failures, error)
        log.warning(
            "CleanupRun %s/%s: %s (%s); retrying in %.0fs",
            ref.namespace,
            ref.name,
            error.reason,
            error.message,
            delay,
        )
        event, state.last_problem = next_event(state.last_problem, error.reason, error.message)
        if event is not None:
            post_event(body, event)
        await asyncio.sleep(delay)
        return
    if state.ledger is not None and status.phase is RunPhase.APPLYING:
        # Keep what is known: every change's state as this process last recorded it.
        status = status.model_copy(
            update={"progress": state.ledger.progress.all_rendered(), "failures": state.ledger.failures}
        )
    await _finish(
        services,
        body,
        ref,
        spec,
        state,
        run_status.failed(status, error, await services.clock.now(), ref.generation),
    )


async def _finish(
    services: Services,
    body: kopf.Body,
    ref: RunRef,
    spec: CleanupRunSpec | None,
    state: RunState,
    status: CleanupRunStatus,
) -> None:
    """Metrics, the Slack summary (its intent recorded first), one Event, then the final status last:
    once a run is finished Kopf stops its daemon at once, so nothing may come after that write."""
    rule_name = spec.rule_name if spec else ref.name
    counts = status.counts
    CLEANUP_RUNS.labels(ref.namespace, rule_name, status.phase.value).inc()
    CLEANUP_USERS.labels(ref.namespace, rule_name, "matched").inc(counts.matched)
    CLEANUP_USERS.labels(ref.namespace, rule_name, "affected").inc(counts.affected)
    if state.ledger is not None:
        failed_people = {
            i
            for (i, row) in state.ledger.progress.states.items()
            if any(s in (ChangeState.FAILED, ChangeState.NEEDS_PERSON) for s in row)
        }
        CLEANUP_USERS.labels(ref.namespace, rule_name, "failed").inc(len(failed_people))
    CLEANUP_RUN_DURATION.labels(ref.namespace, rule_name).observe(state.busy_seconds)
    if spec is not None:
        status = await _notify_once(services, ref, spec, status, state)
    trouble = status.phase in (RunPhase.FAILED, RunPhase.REFUSED, RunPhase.ABORTED) or counts.failed > 0
    post_event(body, EventToPost(trouble, str(status.reason or status.phase.value), status.message or ""))
    state.status = status
    await _write(services, ref, status)


async def _notify_once(
    services: Services, ref: RunRef, spec: CleanupRunSpec, status: CleanupRunStatus, state: RunState
) -> CleanupRunStatus:
    """At most once per phase: the intent is written before the message is sent, never retried."""
    notify = spec.rule.notify
    if notify is None or status.phase.value in status.notified:
        return status
    status = status.model_copy(update={"notified": [*status.notified, status.phase.value]})
    state.status = status
    await write_patch(services, ref, {"notified": status.notified})
    try:
        token = await services.read_credential(ref.namespace, spec.rule.slack.token_secret_ref)
        await services.slack.post(
            token, notify.channel, run_status.summary_text(ref.namespace, ref.name, status)
        )
    except OperatorError as error:
        log.warning(
            "CleanupRun %s/%s: the Slack summary was not posted (%s)", ref.namespace, ref.name, error.reason
        )
    return status


async def _write(services: Services, ref: RunRef, status: CleanupRunStatus) -> None:
    await services.kube.patch_status(CLEANUP_RUN.plural, ref.namespace, ref.name, render_status(status))
