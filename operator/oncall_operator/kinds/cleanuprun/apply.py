"""Applying a run's plan exactly once.

Every change is recorded in the run's status as intent (`i`) before its request is sent and as its
outcome after; writes go out in small waves so a 10,000-change run costs a few status patches a
second, not two per change. On resume - or after an approval, when the plan may be hours old - a
fresh look at both services settles every open change first: an intent whose target is gone landed
and is not sent again; a person who no longer matches is skipped. Only then is anything sent. A fresh
process takes that look only once a write its predecessor sent can no longer land (core/resume.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import kopf

from oncall_operator.api.cleanup import CleanupRuleSpec
from oncall_operator.api.cleanuprun import CLEANUP_RUN
from oncall_operator.api.reasons import ExternalReason as R
from oncall_operator.core.backoff import Backoff
from oncall_operator.core.cleanup import status as run_status
from oncall_operator.core.cleanup.plan import APPLY_ORDER, ChangeKind, PlanItem, build_plan
from oncall_operator.core.cleanup.progress import (
    ChangeRef,
    ChangeState,
    Progress,
    Step,
    pending_steps,
    reconcile,
)
from oncall_operator.core.errors import NeedsPerson, OperatorError, Transient
from oncall_operator.kinds.cleanuprun.gather import People, Tokens, gather
from oncall_operator.services import Services

log = logging.getLogger(__name__)
# Writes in flight at once per kind: Slack groups and PagerDuty objects are read then rewritten
# whole, so a few; team removals and deletions are single requests, so more.
WAVE = {
    ChangeKind.SLACK_GROUP: 4,
    ChangeKind.SCHEDULE: 4,
    ChangeKind.ESCALATION_POLICY: 4,
    ChangeKind.TEAM: 16,
    ChangeKind.DELETE_USER: 16,
}
STEP_ATTEMPTS = 4  # a 429/5xx storm is waited out inside the run; what still fails is listed
STEP_BACKOFF = Backoff(base=2.0, cap=30.0)
WRITE_ATTEMPTS = 5
Outcome = tuple[ChangeState, str | None]


@dataclass(frozen=True)
class RunRef:
    namespace: str
    name: str
    generation: int | None


@dataclass
class Ledger:
    """The run's progress as this process knows it (the status it last wrote, not the watch's view)."""

    items: tuple[PlanItem, ...]
    population: int
    progress: Progress
    failures: dict[str, str] = field(default_factory=dict)


async def write_patch(services: Services, ref: RunRef, patch: Mapping[str, object]) -> None:
    """A status patch that must land before anything else happens (intent before a request)."""
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            await services.kube.patch_status(CLEANUP_RUN.plural, ref.namespace, ref.name, dict(patch))
            return
        except Transient as error:
            if attempt == WRITE_ATTEMPTS:
                raise
            await asyncio.sleep(STEP_BACKOFF.delay(attempt, error))


async def _record(
    services: Services, ref: RunRef, ledger: Ledger, refs: Sequence[ChangeRef], new_failures: dict[str, str]
) -> None:
    patch = run_status.progress_patch(
        ledger.items, ledger.population, ledger.progress, [r[0] for r in refs], new_failures
    )
    await write_patch(services, ref, patch)


async def apply(
    services: Services,
    people: People,
    ref: RunRef,
    rule: CleanupRuleSpec,
    tokens: Tokens,
    ledger: Ledger,
    *,
    fresh_check: bool,
    stopped: kopf.DaemonStopped,
) -> bool:
    """Applies every open change; False when the operator is stopping (the run resumes later)."""
    items, progress = ledger.items, ledger.progress
    if progress.count(ChangeState.INTENT):
        # Sent before a restart, perhaps still in flight: look once it can no longer land.
        await services.writes_settled(f"CleanupRun {ref.namespace}/{ref.name}", stopped)
        if stopped:
            return False
    if fresh_check or progress.count(ChangeState.INTENT):
        now = await services.clock.now()
        directory = await gather(people, tokens, rule, now)
        fresh_plan = build_plan(rule, directory, await services.subjects.key())
        moved = reconcile(items, progress, fresh_plan, directory)
        if moved:
            await _record(services, ref, ledger, moved, {})
        log.info(
            "CleanupRun %s/%s: %d open changes settled by a fresh look", ref.namespace, ref.name, len(moved)
        )
    steps = pending_steps(items, progress)
    for kind in APPLY_ORDER:
        of_kind = [step for step in steps if step.kind is kind]
        for start in range(0, len(of_kind), WAVE[kind]):
            if stopped:
                return False
            wave = of_kind[start : start + WAVE[kind]]
            refs = [member.ref for step in wave for member in step.members]
            for change in refs:
                progress.set(items, change, ChangeState.INTENT)
            await _record(services, ref, ledger, refs, {})  # intent first: never send what is not recorded
            outcomes = await asyncio.gather(*(run_step(people, tokens, step) for step in wave))
            new_failures: dict[str, str] = {}
            for outcome in outcomes:
                for change, (state, reason) in outcome.items():
                    progress.set(items, change, state)
                    if reason is not None:
                        new_failures[f"{change[0]}.{change[1]}"] = reason
            ledger.failures.update(new_failures)
            await _record(services, ref, ledger, refs, new_failures)
    return True


async def run_step(people: People, tokens: Tokens, step: Step) -> dict[ChangeRef, Outcome]:
    """One write, retried with backoff while the services fail transiently. Each attempt reads the
    target first (or is idempotent), so a write that landed is not sent again."""
    failures = 0
    while True:
        try:
            by_user = await _execute(people, tokens, step)
            return {
                m.ref: by_user.get(m.user, (ChangeState.FAILED, R.INVALID_RESPONSE)) for m in step.members
            }
        except Transient as error:
            failures += 1
            if failures >= STEP_ATTEMPTS:
                return {m.ref: (ChangeState.FAILED, error.reason) for m in step.members}
            await asyncio.sleep(STEP_BACKOFF.delay(failures, error))
        except OperatorError as error:
            state = ChangeState.NEEDS_PERSON if isinstance(error, NeedsPerson) else ChangeState.FAILED
            return {m.ref: (state, error.reason) for m in step.members}
        except Exception:
            log.exception("unexpected error applying a %s change", step.kind.value)
            return {m.ref: (ChangeState.FAILED, R.INTERNAL_ERROR) for m in step.members}


async def _execute(people: People, tokens: Tokens, step: Step) -> dict[str, Outcome]:
    users = [member.user for member in step.members]
    if step.kind is ChangeKind.SLACK_GROUP:
        return await people.slack.remove_members(tokens.slack, step.target, users)
    if step.kind is ChangeKind.SCHEDULE:
        return await people.pagerduty.remove_from_schedule(tokens.pagerduty, step.target, users)
    if step.kind is ChangeKind.ESCALATION_POLICY:
        return await people.pagerduty.remove_from_policy(tokens.pagerduty, step.target, users)
    if step.kind is ChangeKind.TEAM:
        return {
            user: await people.pagerduty.remove_from_team(tokens.pagerduty, step.target, user)
            for user in users
        }
    return {user: await people.pagerduty.delete_user(tokens.pagerduty, user) for user in users}
