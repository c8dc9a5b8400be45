"""A CleanupRun's status at each step of its life, and the summary a run posts to Slack.

Pending -> Planning -> Planned (dry run) | Aborted (a cap) | Completed (nothing to do)
                    | AwaitingApproval -> Applying | Refused (stale hash)
                    | Applying -> Completed
Planning -> Refused (an incomplete listing, an unsupported condition) | Failed (tokens, a bug)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from oncall_operator.api.cleanup import Approval, CleanupReason, CleanupRuleSpec
from oncall_operator.api.cleanuprun import CleanupRunStatus, RunCounts, RunPhase
from oncall_operator.api.common import rfc3339
from oncall_operator.core.cleanup.encoding import encode
from oncall_operator.core.cleanup.plan import Plan, PlanItem, check_caps
from oncall_operator.core.cleanup.progress import ChangeState, Progress
from oncall_operator.core.conditions import condition, set_conditions
from oncall_operator.core.errors import OperatorError

PLAN_READY = "PlanReady"


def _with(
    previous: CleanupRunStatus,
    now: datetime,
    generation: int | None,
    *conditions: tuple[str, bool, str, str],
    **fields: Any,
) -> CleanupRunStatus:
    made = [condition(t, ok, reason, message, generation, now) for t, ok, reason, message in conditions]
    return previous.model_copy(
        update={
            **fields,
            "observed_generation": generation,
            "conditions": set_conditions(previous.conditions, *made),
        }
    )


def planning(previous: CleanupRunStatus, now: datetime, generation: int | None) -> CleanupRunStatus:
    return _with(
        previous,
        now,
        generation,
        ("Planned", False, "Planning", "reading both services"),
        phase=RunPhase.PLANNING,
        start_time=previous.start_time or rfc3339(now),
        reason=None,
        message="reading both services",
    )


def counts_of(population: int, items: Sequence[PlanItem], progress: Progress) -> RunCounts:
    return RunCounts(
        population=population,
        matched=len(items),
        protected=sum(1 for i in items if i.protected),
        affected=sum(1 for i in items if i.changes),
        changes=sum(len(i.changes) for i in items),
        applied=progress.count(ChangeState.DONE),
        skipped=progress.count(ChangeState.ALREADY_DONE, ChangeState.SKIPPED),
        failed=progress.count(ChangeState.NEEDS_PERSON, ChangeState.FAILED),
        needs_person=progress.count(ChangeState.NEEDS_PERSON),
    )


def planned(
    previous: CleanupRunStatus, rule: CleanupRuleSpec, plan: Plan, now: datetime, generation: int | None
) -> CleanupRunStatus:
    """The plan written in full, and the phase it leads to: Planned, Aborted, Completed,
    AwaitingApproval or Applying."""
    targets, lines = encode(plan.items)
    counts = counts_of(plan.population, plan.items, Progress({}))
    summary = (
        f"{counts.matched} matched of {counts.population} considered, {counts.protected} protected "
        f"(on call), {counts.affected} to change ({counts.changes} changes)"
    )
    verdict = check_caps(plan, rule.safety.max_affected, rule.safety.max_affected_percent)
    planned_condition = ("Planned", True, PLAN_READY, summary)
    phase, reason, message = RunPhase.APPLYING, CleanupReason.APPROVED, f"{summary}; approval: automatic"
    approved: tuple[str, bool, str, str] = ("Approved", True, CleanupReason.APPROVED, "approval: automatic")
    done: str | None = None
    if rule.dry_run:
        phase, reason = RunPhase.PLANNED, CleanupReason.DRY_RUN
        message = f"dry run: {summary}" + (f"; a real run would abort: {verdict.message}" if verdict else "")
        approved = ("Approved", False, CleanupReason.DRY_RUN, "dry run: nothing to approve")
        done = rfc3339(now)
    elif verdict is not None:
        phase, reason, message = RunPhase.ABORTED, verdict.reason, f"{verdict.message}; nothing was changed"
        approved = ("Approved", False, verdict.reason, verdict.message)
        done = rfc3339(now)
    elif counts.changes == 0:
        phase, reason, message = RunPhase.COMPLETED, CleanupReason.NOTHING_TO_DO, f"{summary}; nothing to do"
        done = rfc3339(now)
    elif rule.approval is Approval.MANUAL:
        phase, reason = RunPhase.AWAITING_APPROVAL, CleanupReason.AWAITING_APPROVAL
        message = f"{summary}; approve by setting spec.approvedPlanHash to status.planHash"
        approved = (
            "Approved",
            False,
            CleanupReason.AWAITING_APPROVAL,
            "set spec.approvedPlanHash to status.planHash",
        )
    applied_ok = phase is RunPhase.COMPLETED
    return _with(
        previous,
        now,
        generation,
        planned_condition,
        approved,
        ("Applied", applied_ok, reason if applied_ok else phase.value, message),
        phase=phase,
        reason=reason,
        message=message,
        plan_time=rfc3339(now),
        completion_time=done,
        plan_hash=plan.hash,
        counts=counts,
        targets=targets,
        items=lines,
        progress={},
        failures={},
    )


def refused(
    previous: CleanupRunStatus,
    reason: str,
    message: str,
    now: datetime,
    generation: int | None,
    *,
    before_plan: bool,
) -> CleanupRunStatus:
    """Refused: nothing is changed, and this run will not try again (the next one will)."""
    kind = "Planned" if before_plan else "Approved"
    return _with(
        previous,
        now,
        generation,
        (kind, False, reason, message),
        ("Applied", False, reason, "refused: nothing was changed"),
        phase=RunPhase.REFUSED,
        reason=reason,
        message=f"{message}; nothing was changed",
        completion_time=rfc3339(now),
    )


def failed(
    previous: CleanupRunStatus, error: OperatorError, now: datetime, generation: int | None
) -> CleanupRunStatus:
    kind = "Planned" if previous.plan_hash is None else "Applied"
    return _with(
        previous,
        now,
        generation,
        (kind, False, error.reason, error.message),
        phase=RunPhase.FAILED,
        reason=error.reason,
        message=error.message,
        completion_time=rfc3339(now),
    )


def approved(previous: CleanupRunStatus, now: datetime, generation: int | None) -> CleanupRunStatus:
    return _with(
        previous,
        now,
        generation,
        ("Approved", True, CleanupReason.APPROVED, "spec.approvedPlanHash matches status.planHash"),
        ("Applied", False, RunPhase.APPLYING.value, "applying the approved plan"),
        phase=RunPhase.APPLYING,
        reason=CleanupReason.APPROVED,
        message="applying the approved plan",
    )


def progress_patch(
    items: Sequence[PlanItem],
    population: int,
    progress: Progress,
    indices: Sequence[int],
    failures: Mapping[str, str],
) -> dict[str, Any]:
    """A small JSON merge patch of .status: these items' progress, new failures, the counts."""
    return {
        "progress": progress.rendered(indices),
        "failures": dict(failures),
        "counts": counts_of(population, items, progress).model_dump(by_alias=True, mode="json"),
    }


def completed(
    previous: CleanupRunStatus,
    items: Sequence[PlanItem],
    progress: Progress,
    failures: Mapping[str, str],
    now: datetime,
    generation: int | None,
) -> CleanupRunStatus:
    counts = counts_of(previous.counts.population, items, progress)
    partial = counts.failed > 0
    reason = CleanupReason.PARTIALLY_APPLIED if partial else CleanupReason.APPLIED
    message = (
        f"{counts.applied} changes made, {counts.skipped} not needed any more, {counts.failed} failed "
        f"({counts.needs_person} need a person)"
    )
    return _with(
        previous,
        now,
        generation,
        ("Applied", not partial, reason, message),
        phase=RunPhase.COMPLETED,
        reason=reason,
        message=message,
        counts=counts,
        progress=progress.all_rendered(),
        failures={**previous.failures, **failures},
        completion_time=rfc3339(now),
    )


def summary_text(namespace: str, name: str, status: CleanupRunStatus) -> str:
    """The Slack summary of a run: phase, counts and how to see details - no names, no emails."""
    counts = status.counts
    lines = [
        f"CleanupRun {namespace}/{name}: *{status.phase.value}*"
        + (f" ({status.reason})" if status.reason else ""),
        f"matched {counts.matched} of {counts.population}, protected {counts.protected}, "
        f"affected {counts.affected}; changes: {counts.changes} planned, {counts.applied} made, "
        f"{counts.skipped} not needed, {counts.failed} failed ({counts.needs_person} need a person)",
    ]
    if status.phase is RunPhase.AWAITING_APPROVAL and status.plan_hash:
        lines.append(
            f"approve: `oncall-operator cleanup approve {name} -n {namespace} --hash {status.plan_hash}`"
        )
    lines.append(f"details: `oncall-operator cleanup show {name} -n {namespace}`")
    return "\n".join(lines)
