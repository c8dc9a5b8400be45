"""A CleanupRule's status from its runs: the newest runs, totals over every finished run, which
runs to prune beyond runsHistoryLimit, and how many wait for approval."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from oncall_operator.api.cleanup import CleanupRuleStatus, RuleTotals, RunSummary
from oncall_operator.api.cleanuprun import FINISHED, RunPhase

COUNTED_RUNS_KEPT = 200
LAST_RUNS_SHOWN = 10


@dataclass(frozen=True)
class RunSnapshot:
    """What the rule needs of one of its runs."""

    name: str
    created: datetime
    phase: RunPhase
    trigger: str
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
