"""CleanupRun: the compact encoding (and its size at 10,000 people), steps, and exactly-once resume."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from oncall_operator.api.cleanuprun import CleanupRunStatus, RunPhase
from oncall_operator.core.cleanup import status as run_status
from oncall_operator.core.cleanup.directory import Directory, PagerDutyUser
from oncall_operator.core.cleanup.encoding import EncodingError, decode, encode
from oncall_operator.core.cleanup.plan import Change, ChangeKind, Plan, PlanItem
from oncall_operator.core.cleanup.progress import ChangeState, Progress, pending_steps, reconcile
from oncall_operator.core.status import render_status
from oncall_operator.core.subjects import IdentifierKind, subject_ref
from support.cleanup import rule

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
G, S, E, T, X = (
    ChangeKind.SLACK_GROUP,
    ChangeKind.SCHEDULE,
    ChangeKind.ESCALATION_POLICY,
    ChangeKind.TEAM,
    ChangeKind.DELETE_USER,
)


def item(pd: str | None, slack: str | None, *changes: Change, reasons: str = "D") -> PlanItem:
    subject = subject_ref(b"k" * 32, IdentifierKind.EMAIL, f"{pd or slack}@x.example")
    return PlanItem(pd, slack, subject, reasons, changes)


ITEMS = (
    item("PAAAAAA", "UAAAAAA", Change(G, "S0GROUP1"), Change(S, "PSCHED1"), Change(T, "PTEAM01"), Change(X)),
    item("PBBBBBB", "UBBBBBB", Change(G, "S0GROUP1"), Change(X)),
    item(None, "UCCCCCC", Change(G, "S0GROUP2")),
    item("PDDDDDD", None, reasons="Mp"),
)


def test_encoding_round_trips_and_interns_targets() -> None:
    targets, lines = encode(ITEMS)
    assert targets == ["PSCHED1", "PTEAM01", "S0GROUP1", "S0GROUP2"]
    assert lines[0].split(" ")[3:] == ["D", "g2,s0,t1,x"]
    assert lines[3].endswith(" Mp -") and lines[2].startswith("- UCCCCCC ")
    assert "hmac-sha256:" not in lines[0]
    assert decode(targets, lines) == ITEMS


@pytest.mark.parametrize("bad", ["P1 U1 s D", "P1 U1 s D g9", "P1 U1 s D q0", "P1 U1 s D x3"])
def test_decoding_refuses_what_it_cannot_read(bad: str) -> None:
    with pytest.raises(EncodingError):
        decode(["S1"], [bad])


def test_a_run_of_10000_people_stays_well_under_the_object_limit() -> None:
    """10,000 matched people with five changes each (3 groups, a schedule, deletion), every change done."""
    groups = [f"S0GRP{n:04d}" for n in range(300)]
    items = tuple(
        item(
            f"P{n:06d}",
            f"U0{n:07d}",
            Change(G, groups[n % 300]),
            Change(G, groups[(n + 1) % 300]),
            Change(G, groups[(n + 2) % 300]),
            Change(S, f"PSCH{n % 50:03d}"),
            Change(X),
        )
        for n in range(10_000)
    )
    plan = Plan(items, 12_000)
    status = run_status.planned(
        CleanupRunStatus(),
        rule(dryRun=False, approval="automatic", safety={"maxAffected": 100_000, "maxAffectedPercent": 100}),
        plan,
        NOW,
        1,
    )
    progress = Progress({i: [ChangeState.DONE] * 5 for i in range(len(items))})
    done = run_status.completed(status, items, progress, {}, NOW, 1)
    size = len(json.dumps({"status": render_status(done)}, separators=(",", ":")))
    print(f"status of 10,000 people x 5 changes: {size / 1024:.0f} KiB")
    assert size < 1024 * 1024, f"{size} bytes: too close to the 1.5 MiB limit"
    assert done.counts.applied == 50_000 and done.phase is RunPhase.COMPLETED


def test_steps_group_one_write_per_group_schedule_and_policy() -> None:
    steps = pending_steps(ITEMS, Progress({}))
    assert [(s.kind.value, s.target, [m.user for m in s.members]) for s in steps] == [
        ("g", "S0GROUP1", ["UAAAAAA", "UBBBBBB"]),
        ("g", "S0GROUP2", ["UCCCCCC"]),
        ("s", "PSCHED1", ["PAAAAAA"]),
        ("t", "PTEAM01", ["PAAAAAA"]),
        ("x", "PAAAAAA", ["PAAAAAA"]),
        ("x", "PBBBBBB", ["PBBBBBB"]),
    ]
    progress = Progress.from_status(ITEMS, {"0": "dddd", "1": "d."})
    assert [(s.kind.value, s.target) for s in pending_steps(ITEMS, progress)] == [
        ("g", "S0GROUP2"),
        ("x", "PBBBBBB"),
    ]


def test_progress_reads_what_it_can() -> None:
    progress = Progress.from_status(ITEMS, {"0": "di", "9": "d", "x": "d", "1": "zz"})
    assert progress.state((0, 0)) is ChangeState.DONE and progress.state((0, 1)) is ChangeState.INTENT
    assert progress.state((0, 3)) is ChangeState.PENDING and progress.state((1, 0)) is ChangeState.PENDING
    assert progress.rendered([0]) == {"0": "di.."}


def fresh(groups: dict[str, frozenset[str]], users: list[PagerDutyUser]) -> Directory:
    return Directory(
        now=NOW,
        pagerduty_users=users,
        slack_users=[],
        slack_groups=groups,
        schedules={"PSCHED1": frozenset({"PAAAAAA"})},
    )


def test_resume_checks_intents_against_live_state_before_sending_again() -> None:
    """Killed after recording intent for the group write and the first deletion: the group write
    landed (the users are gone), the deletion did not (the user still exists)."""
    progress = Progress.from_status(ITEMS, {"0": "i...", "1": "ii", "2": "i"})
    users = [
        PagerDutyUser("PAAAAAA", "a@x", "user", frozenset({"PTEAM01"})),
        PagerDutyUser("PBBBBBB", "b@x", "user"),
    ]
    live = fresh({"S0GROUP1": frozenset(), "S0GROUP2": frozenset({"UCCCCCC"})}, users)
    still_wanted = Plan((ITEMS[0], ITEMS[1]), 4)
    moved = reconcile(ITEMS, progress, still_wanted, live)
    assert progress.state((0, 0)) is ChangeState.DONE  # intent, gone: it landed
    assert progress.state((1, 1)) is ChangeState.PENDING  # intent, still there: send again
    assert progress.state((2, 0)) is ChangeState.SKIPPED  # UCCCCCC no longer matches
    assert progress.state((0, 1)) is ChangeState.PENDING  # still in the schedule, still wanted
    assert (0, 0) in moved and (1, 1) in moved
    gone = fresh({}, [])
    reconcile(ITEMS, progress, still_wanted, gone)
    assert (
        progress.state((0, 3)) is ChangeState.ALREADY_DONE
        and progress.state((1, 1)) is ChangeState.ALREADY_DONE
    )


def test_completed_counts_and_reason() -> None:
    planned = run_status.planned(
        CleanupRunStatus(), rule(dryRun=False, approval="manual"), Plan(ITEMS, 30), NOW, 1
    )
    assert planned.phase is RunPhase.AWAITING_APPROVAL and planned.counts.changes == 7
    progress = Progress.from_status(ITEMS, {"0": "dddn", "1": "da", "2": "s"})
    done = run_status.completed(planned, ITEMS, progress, {"0.3": "OpenIncidents"}, NOW, 1)
    assert done.reason == "PartiallyApplied" and done.counts.applied == 4 and done.counts.skipped == 2
    assert (
        done.counts.failed == 1
        and done.counts.needs_person == 1
        and done.failures == {"0.3": "OpenIncidents"}
    )
    text = run_status.summary_text("ns", "run-1", done)
    assert "@" not in text and "Completed" in text and "cleanup show run-1 -n ns" in text
