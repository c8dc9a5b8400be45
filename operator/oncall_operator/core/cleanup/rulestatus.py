"""A CleanupRule's status from its runs: the newest runs, totals over every finished run, which
runs to prune beyond runsHistoryLimit, and how many wait for approval."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from oncall_operator.api.cleanup import CleanupReason, CleanupRuleStatus, RuleTotals, RunSummary
from oncall_operator.api.cleanuprun import FINISHED, RunPhase
from oncall_operator.api.common import rfc3339
from oncall_operator.api.reasons import CommonReason
from oncall_operator.core.conditions import condition, set_conditions

COUNTED_RUNS_KEPT = 200
LAST_RUNS_SHOWN = 10


@dataclass(frozen=True)
class RunSnapshot:
    """What the rule needs of one of its runs."""

    name: str
    created: datetime
    phase: RunPhase
    trigger: str
    reason: str | None = None
    message: str | None = None
    matched: int = 0
    affected: int = 0
    applied: int = 0
    failed: int = 0
    start_time: str | None = None
    completion_time: str | None = None

    @property
    def finished(self) -> bool:
        return self.phase in FINISHED


def newest_first(runs: Sequence[RunSnapshot]) -> list[RunSnapshot]:
    return sorted(runs, key=lambda r: (r.created, r.name), reverse=True)


def runs_to_prune(runs: Sequence[RunSnapshot], limit: int) -> list[str]:
    """Finished runs beyond the newest `limit` finished ones; runs under way are never pruned."""
    finished = [r for r in newest_first(runs) if r.finished]
    return [r.name for r in finished[limit:]]


def with_runs(previous: CleanupRuleStatus, runs: Sequence[RunSnapshot]) -> CleanupRuleStatus:
    """lastRuns from the runs that exist; totals grow by each finished run not counted before."""
    ordered = newest_first(runs)
    counted = list(previous.counted_runs)
    totals = previous.totals.model_copy()
    for run in reversed(ordered):  # oldest first, so counted_runs stays in age order
        if run.finished and run.name not in counted:
            counted.append(run.name)
            totals = RuleTotals(
                runs=totals.runs + 1,
                matched=totals.matched + run.matched,
                affected=totals.affected + run.affected,
                applied=totals.applied + run.applied,
                failed=totals.failed + run.failed,
            )
    return previous.model_copy(
        update={
            "last_runs": [
                RunSummary(
                    name=r.name,
                    phase=r.phase.value,
                    trigger=r.trigger,
                    matched=r.matched,
                    affected=r.affected,
                    failed=r.failed,
                    start_time=r.start_time,
                    completion_time=r.completion_time,
                )
                for r in ordered[:LAST_RUNS_SHOWN]
            ],
            "totals": totals,
            "counted_runs": counted[-COUNTED_RUNS_KEPT:],
        }
    )


def awaiting_approval(runs: Sequence[RunSnapshot]) -> tuple[int, datetime | None]:
    """(how many runs wait for approval, when the oldest of them was created)."""
    waiting = [r.created for r in runs if r.phase is RunPhase.AWAITING_APPROVAL]
    return len(waiting), min(waiting, default=None)


def unsupported_message(runs: Sequence[RunSnapshot], probe: str | None) -> str | None:
    """Why a condition of the rule cannot be evaluated: the probe's answer, else the newest finished
    run's refusal; None when nothing says so."""
    if probe is not None:
        return probe
    newest = next((r for r in newest_first(runs) if r.finished), None)
    if newest is not None and newest.reason == CleanupReason.UNSUPPORTED:
        return newest.message or "a condition of this rule cannot be evaluated"
    return None


@dataclass(frozen=True)
class Schedule:
    """Where the rule's scheduling stands after this pass."""

    last_schedule_time: datetime | None
    next_run_time: datetime | None
    last_run_now: str | None
    suspended: bool
    on_demand_only: bool


def rule_status(
    previous: CleanupRuleStatus,
    runs: Sequence[RunSnapshot],
    schedule: Schedule,
    unsupported: str | None,
    now: datetime,
    generation: int | None,
) -> CleanupRuleStatus:
    with_history = with_runs(previous, runs)
    if schedule.suspended:
        ready = condition(
            "Ready", True, CommonReason.SUSPENDED, "spec.suspend is true: no new runs", generation, now
        )
    elif schedule.on_demand_only:
        ready = condition(
            "Ready", True, CleanupReason.SCHEDULED, "no schedule: runs on demand only", generation, now
        )
    else:
        when = rfc3339(schedule.next_run_time) if schedule.next_run_time else "never"
        ready = condition("Ready", True, CleanupReason.SCHEDULED, f"next run at {when}", generation, now)
    if unsupported is not None:
        supported = condition("Unsupported", True, CleanupReason.UNSUPPORTED, unsupported, generation, now)
    else:
        supported = condition(
            "Unsupported",
            False,
            CommonReason.AS_EXPECTED,
            "every condition can be evaluated",
            generation,
            now,
        )
    return with_history.model_copy(
        update={
            "last_schedule_time": rfc3339(schedule.last_schedule_time)
            if schedule.last_schedule_time
            else None,
            "next_run_time": rfc3339(schedule.next_run_time) if schedule.next_run_time else None,
            "last_run_now": schedule.last_run_now,
            "observed_generation": generation,
            "conditions": set_conditions(previous.conditions, ready, supported),
        }
    )


def invalid_rule_status(
    previous: CleanupRuleStatus, problems: str, now: datetime, generation: int | None
) -> CleanupRuleStatus:
    ready = condition("Ready", False, CommonReason.INVALID_SPEC, problems, generation, now)
    return previous.model_copy(
        update={"observed_generation": generation, "conditions": set_conditions(previous.conditions, ready)}
    )


def failed_rule_status(
    previous: CleanupRuleStatus, reason: str, message: str, now: datetime, generation: int | None
) -> CleanupRuleStatus:
    ready = condition("Ready", False, reason, message, generation, now)
    return previous.model_copy(
        update={"observed_generation": generation, "conditions": set_conditions(previous.conditions, ready)}
    )
