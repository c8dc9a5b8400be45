"""The CleanupRule daemon: one loop per rule that creates a CleanupRun at each cron slot (and on
demand), keeps the run history within runsHistoryLimit, and writes the rule's status.

It sleeps until the next slot on the operator's clock, or until woken: by a change of the rule (spec,
the run-now annotation) or of one of its runs' phase. Slots missed while the operator was down give
one catch-up run at most, like a CronJob's startingDeadlineSeconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

import kopf
from pydantic import ValidationError

from oncall_operator.api.cleanup import CLEANUP_RULE, RUN_NOW_ANNOTATION, CleanupRuleSpec, CleanupRuleStatus
from oncall_operator.api.cleanuprun import CLEANUP_RUN, RunTrigger
from oncall_operator.api.common import validation_problems
from oncall_operator.api.durations import parse_duration
from oncall_operator.core.backoff import Backoff
from oncall_operator.core.cleanup import rulestatus
from oncall_operator.core.cleanup.schedule import (
    decide_slot,
    next_slot,
    on_demand_run_name,
    scheduled_run_name,
)
from oncall_operator.core.errors import InternalError, Misconfigured, OperatorError, Transient, Unauthorized
from oncall_operator.core.events import next_event
from oncall_operator.core.status import parse_status, render_status
from oncall_operator.kinds.cleanuprule.runs import create_run, list_runs, run_manifest, snapshot
from oncall_operator.kinds.cleanuprun.gather import People
from oncall_operator.kinds.events import post_event
from oncall_operator.metrics import (
    CLEANUP_APPROVAL_WAIT,
    CLEANUP_AWAITING_APPROVAL,
    LAST_SUCCESS,
    RESOURCES,
    forget_resource,
    report_ready,
)
from oncall_operator.services import Services

log = logging.getLogger(__name__)
KIND = "CleanupRule"
IDLE_SECONDS = 3600.0  # no slot ahead: a change wakes the daemon anyway
BACKOFF = Backoff()


@dataclass
class RuleScheduler:
    """Shared by the rule daemons of one process: wake-ups by rule uid, and the phase each run was
    last seen in (a run's progress patches must not wake its rule; a new phase does)."""

    wakers: dict[str, asyncio.Event] = field(default_factory=dict)
    run_phases: dict[str, str | None] = field(default_factory=dict)

    def wake(self, uid: str) -> None:
        if uid in self.wakers:
            self.wakers[uid].set()


@dataclass
class RuleState:
    written: CleanupRuleStatus | None = None
    failures: int = 0
    last_problem: str | None = None
    probed: tuple[int | None, str | None] | None = None  # (generation, Unsupported message) of the probe


async def keep_rule(
    services: Services,
    people: People,
    scheduler: RuleScheduler,
    body: kopf.Body,
    namespace: str,
    name: str,
    uid: str,
    stopped: kopf.DaemonStopped,
) -> None:
    wake = scheduler.wakers.setdefault(uid, asyncio.Event())
    RESOURCES.labels(KIND).inc()
    state = RuleState()
    try:
        while not stopped:
            wake.clear()
            try:
                next_run = await _tick(services, people, body, namespace, name, uid, state)
                state.failures = 0
                event, state.last_problem = next_event(state.last_problem, None, "")
                delay = None
            except Exception as error:
                failure = (
                    error if isinstance(error, OperatorError) else InternalError.wrap(error, "scheduling")
                )
                if not isinstance(error, OperatorError):
                    log.exception("unexpected error in CleanupRule %s/%s", namespace, name)
                next_run, delay = None, await _after_failure(services, body, namespace, name, state, failure)
                event = None
            if event is not None:
                post_event(body, event)
            await _wait(services, wake, stopped, next_run, delay if delay is not None else IDLE_SECONDS)
    finally:
        scheduler.wakers.pop(uid, None)
        for gauge in (CLEANUP_AWAITING_APPROVAL, CLEANUP_APPROVAL_WAIT):
            with contextlib.suppress(KeyError):
                gauge.remove(namespace, name)
        forget_resource(KIND, namespace, name)
        RESOURCES.labels(KIND).dec()


async def _tick(
    services: Services, people: People, body: kopf.Body, namespace: str, name: str, uid: str, state: RuleState
) -> datetime | None:
    """One pass: runs due, history, status. Returns when the next slot is."""
    metadata = body.get("metadata", {})
    generation = metadata.get("generation")
    previous = state.written or parse_status(CleanupRuleStatus, body.get("status"))
    now = await services.clock.now()
    try:
        spec = CleanupRuleSpec.model_validate(dict(body.get("spec", {})))
    except ValidationError as error:
        problems = validation_problems(error, "spec.")
        state.written = rulestatus.invalid_rule_status(previous, problems, now, generation)
        await _write(services, namespace, name, state.written)
        return None

    async def start_run(run_name: str, trigger: RunTrigger, slot: datetime | None) -> None:
        manifest = run_manifest(
            rule_name=name, rule_uid=uid, run_name=run_name, spec=spec, trigger=trigger, slot=slot
        )
        if await create_run(services, namespace, manifest):
            log.info("CleanupRule %s/%s: started run %s (%s)", namespace, name, run_name, trigger.value)

    last_run_now = previous.last_run_now
    request = (metadata.get("annotations") or {}).get(RUN_NOW_ANNOTATION)
    if request and request != last_run_now and not spec.suspend:
        await start_run(on_demand_run_name(name, request), RunTrigger.ON_DEMAND, None)
        last_run_now = request
    # A new rule starts from now on the operator's clock (never for slots before it was seen).
    last_schedule = _time(previous.last_schedule_time) or (now if spec.schedule else None)
    handled = last_schedule or now
    next_run: datetime | None = None
    if spec.schedule:
        if not spec.suspend:
            deadline = parse_duration(spec.starting_deadline)
            decision = decide_slot(spec.schedule, spec.time_zone, handled, now, deadline)
            if decision.run_slot is not None and decision.trigger is not None:
                await start_run(
                    scheduled_run_name(name, decision.run_slot), decision.trigger, decision.run_slot
                )
            if decision.missed:
                log.info("CleanupRule %s/%s: %d missed slot(s) skipped", namespace, name, decision.missed)
            if decision.handled is not None:
                last_schedule = handled = decision.handled
        next_run = next_slot(spec.schedule, spec.time_zone, max(handled, now))
    runs = [snapshot(run) for run in await list_runs(services, namespace, uid)]
    pruned = rulestatus.runs_to_prune(runs, spec.runs_history_limit)
    for run_name in pruned:
        await services.kube.delete_object(CLEANUP_RUN.plural, namespace, run_name)
    runs = [run for run in runs if run.name not in pruned]
    _approval_metrics(namespace, name, runs)
    schedule = rulestatus.Schedule(
        last_schedule_time=last_schedule,
        next_run_time=next_run,
        last_run_now=last_run_now,
        suspended=spec.suspend,
        on_demand_only=not spec.schedule,
    )
    probe = await _probe_access_logs(people, services, namespace, spec, generation, state)
    unsupported = rulestatus.unsupported_message(runs, probe)
    state.written = rulestatus.rule_status(previous, runs, schedule, unsupported, now, generation)
    await _write(services, namespace, name, state.written)
    return next_run


async def _probe_access_logs(
    people: People,
    services: Services,
    namespace: str,
    spec: CleanupRuleSpec,
    generation: int | None,
    state: RuleState,
) -> str | None:
    """inactiveForDays needs team.accessLogs: one request per spec generation says early whether the
    workspace serves it (its plan, the token's type and scope), instead of at the first run."""
    if spec.match.inactive_for_days is None:
        return None
    if state.probed is not None and state.probed[0] == generation:
        return state.probed[1]
    ref = spec.slack.access_logs_token_secret_ref or spec.slack.token_secret_ref
    try:
        token = await services.read_credential(namespace, ref)
        await people.slack.probe_access_logs(token)
        message = None
    except (Misconfigured, Unauthorized) as error:
        message = (
            f"match.inactiveForDays: Slack's team.accessLogs is not available ({error.reason}: {error.message}); "
            "it needs a paid plan and a workspace admin's user token (slack.accessLogsTokenSecretRef)"
        )
    except Transient:
        return None  # not known now: the next pass asks again
    state.probed = (generation, message)
    return message


def _approval_metrics(namespace: str, name: str, runs: list[rulestatus.RunSnapshot]) -> None:
    count, oldest = rulestatus.awaiting_approval(runs)
    CLEANUP_AWAITING_APPROVAL.labels(namespace, name).set(count)
    since = oldest.timestamp() if oldest is not None else None
    # Evaluated at scrape time, so the age grows between passes.
    CLEANUP_APPROVAL_WAIT.labels(namespace, name).set_function(lambda: time.time() - since if since else 0.0)


async def _after_failure(
    services: Services, body: kopf.Body, namespace: str, name: str, state: RuleState, error: OperatorError
) -> float:
    state.failures += 1
    generation = body.get("metadata", {}).get("generation")
    previous = state.written or parse_status(CleanupRuleStatus, body.get("status"))
    state.written = rulestatus.failed_rule_status(
        previous, error.reason, error.message, await services.clock.now(), generation
    )
    with contextlib.suppress(OperatorError):
        await _write(services, namespace, name, state.written)
    event, state.last_problem = next_event(state.last_problem, error.reason, error.message)
    if event is not None:
        post_event(body, event)
    delay = BACKOFF.delay(state.failures, error)
    log.warning("CleanupRule %s/%s failed (%s); retrying in %.0fs", namespace, name, error.reason, delay)
    return delay


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


async def _write(services: Services, namespace: str, name: str, status: CleanupRuleStatus) -> None:
    await services.kube.patch_status(CLEANUP_RULE.plural, namespace, name, render_status(status))
    ready = next(((c.status, c.reason) for c in status.conditions if c.type == "Ready"), None)
    report_ready(KIND, namespace, name, ready)
    if ready is not None and ready[0] == "True":
        LAST_SUCCESS.labels(KIND, namespace, name).set(time.time())


async def _wait(
    services: Services,
    wake: asyncio.Event,
    stopped: kopf.DaemonStopped,
    until: datetime | None,
    seconds: float,
) -> None:
    """Until `until` on the operator's clock (re-read every poll, so a sandbox clock jump counts),
    at most `seconds`, or until woken or stopped."""
    deadline = time.monotonic() + seconds
    while not stopped and not wake.is_set():
        remaining = deadline - time.monotonic()
        if until is not None:
            remaining = min(remaining, (until - await services.clock.now()).total_seconds())
        if remaining <= 0:
            return
        step = min(remaining, services.clock.poll_seconds) if until is not None else remaining
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=step)
