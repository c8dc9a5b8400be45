"""When a CleanupRule runs: cron slots in the rule's time zone (croniter), the one catch-up run for
slots missed while the operator was down (like a CronJob's startingDeadlineSeconds), and run names.

A run's name is derived from its slot, so the API server's 409 on a second create guarantees one run
per slot even when two replicas (or a restart) race for it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from oncall_operator.api.cleanuprun import RunTrigger

# A slot is "on time" (trigger: schedule) when handled this soon after it; later it is a catch-up.
ON_TIME = timedelta(minutes=5)
RULE_NAME_ROOM = 200  # run names add at most 15 characters; object names may have 253


def next_slot(expression: str, zone: str, after: datetime) -> datetime:
    """The first slot strictly after `after`. When clocks fall back, a wall-clock time that repeats
    runs once (as cron does), not twice."""
    local_after = after.astimezone(ZoneInfo(zone))
    candidates = croniter(expression, local_after)
    candidate: datetime = candidates.get_next(datetime)
    if candidate.replace(tzinfo=None) == local_after.replace(tzinfo=None):
        candidate = candidates.get_next(datetime)
    return candidate


def latest_slot(expression: str, zone: str, now: datetime) -> datetime:
    """The last slot at or before `now`."""
    # croniter's get_prev is strictly before its start: start one second later to include `now`.
    start = now.astimezone(ZoneInfo(zone)) + timedelta(seconds=1)
    slot: datetime = croniter(expression, start).get_prev(datetime)
    return slot


@dataclass(frozen=True)
class SlotDecision:
    run_slot: datetime | None  # the slot to create a run for, if any
    trigger: RunTrigger | None
    handled: datetime | None  # the new status.lastScheduleTime (None: unchanged)
    missed: int  # slots skipped: more than one missed, or later than the starting deadline


def decide_slot(
    expression: str, zone: str, last_handled: datetime, now: datetime, starting_deadline: timedelta
) -> SlotDecision:
    """What is due at `now` given the last slot handled (or the rule's creation time).

    The newest due slot runs once if it is at most `starting_deadline` late; older missed slots are
    skipped, never run one after another."""
    latest = latest_slot(expression, zone, now)
    if latest <= last_handled:
        return SlotDecision(None, None, None, 0)
    missed = 0
    first_due = next_slot(expression, zone, last_handled)
    if first_due < latest:
        missed = 1 if next_slot(expression, zone, first_due) >= latest else 2  # "one or more" is enough
    late = now - latest
    if late > starting_deadline:
        return SlotDecision(None, None, latest, missed + 1)
    trigger = RunTrigger.SCHEDULE if late <= ON_TIME and not missed else RunTrigger.CATCH_UP
    return SlotDecision(latest, trigger, latest, missed)


def scheduled_run_name(rule: str, slot: datetime) -> str:
    """`<rule>-<minutes since the epoch>`: one name per slot."""
    return f"{rule[:RULE_NAME_ROOM]}-{int(slot.timestamp()) // 60}"


def on_demand_run_name(rule: str, request: str) -> str:
    """`<rule>-now-<hash of the run-now value>`: one run per value of the annotation."""
    digest = hashlib.sha256(request.encode()).hexdigest()[:10]
    return f"{rule[:RULE_NAME_ROOM]}-now-{digest}"
