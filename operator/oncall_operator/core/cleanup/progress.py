"""Exactly once: the state of every planned change, the steps that apply them, and what a fresh look
at both services says about changes a restart or an approval left open.

A change is recorded as `i` (intent) in the run's status before its request is sent and as its outcome
after. On resume, a change still at `i` may or may not have landed: it is checked against live state
(is the user still in the group / schedule / policy / team, does the PagerDuty user still exist) and
only sent again when it did not. The same fresh look skips changes that are no longer needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from oncall_operator.core.cleanup.directory import Directory, PagerDutyUser
from oncall_operator.core.cleanup.plan import APPLY_ORDER, Change, ChangeKind, Plan, PlanItem


class ChangeState(StrEnum):
    PENDING = "."
    INTENT = "i"  # recorded before the request: it may have landed
    DONE = "d"
    ALREADY_DONE = "a"  # nothing left to do when we looked (someone else did it, or a 404 on a delete)
    SKIPPED = "s"  # the person no longer matches (or is on call now)
    NEEDS_PERSON = "n"
    FAILED = "f"


OPEN = frozenset({ChangeState.PENDING, ChangeState.INTENT})
ChangeRef = tuple[int, int]  # (item index, change index)


@dataclass
class Progress:
    """Per item, one state per change; items absent from the map are all pending."""

    states: dict[int, list[ChangeState]]

    @classmethod
    def from_status(cls, items: Sequence[PlanItem], progress: Mapping[str, str]) -> Progress:
        states: dict[int, list[ChangeState]] = {}
        for key, letters in progress.items():
            if not key.isdigit() or int(key) >= len(items):
                continue
            index = int(key)
            width = len(items[index].changes)
            try:
                parsed = [ChangeState(letter) for letter in letters[:width]]
            except ValueError:
                parsed = []  # unreadable: treat as pending (a fresh look decides before any resend)
            states[index] = parsed + [ChangeState.PENDING] * (width - len(parsed))
        return cls(states)

    def state(self, ref: ChangeRef) -> ChangeState:
        row = self.states.get(ref[0])
        return row[ref[1]] if row else ChangeState.PENDING

    def set(self, items: Sequence[PlanItem], ref: ChangeRef, state: ChangeState) -> None:
        row = self.states.setdefault(ref[0], [ChangeState.PENDING] * len(items[ref[0]].changes))
        row[ref[1]] = state

    def rendered(self, indices: Iterable[int]) -> dict[str, str]:
        """The status.progress entries of these items (a JSON merge patch adds them to the map)."""
        return {
            str(i): "".join(s.value for s in self.states[i]) for i in sorted(set(indices)) if i in self.states
        }

    def all_rendered(self) -> dict[str, str]:
        return self.rendered(self.states)

    def open_refs(self, items: Sequence[PlanItem]) -> list[ChangeRef]:
        return [
            (i, c)
            for i, item in enumerate(items)
            for c in range(len(item.changes))
            if self.state((i, c)) in OPEN
        ]

    def count(self, *states: ChangeState) -> int:
        return sum(1 for row in self.states.values() for s in row if s in states)


@dataclass(frozen=True)
class Member:
    ref: ChangeRef
    user: str  # the Slack or PagerDuty user the change removes


@dataclass(frozen=True)
class Step:
    """One write: removing members from one group / schedule / policy, one team membership, or one
    deletion. Several people leaving the same group is one request (one Slack Tier 2 call, not many)."""

    kind: ChangeKind
    target: str  # the group, schedule, policy or team; the user for a deletion
    members: tuple[Member, ...]


def pending_steps(items: Sequence[PlanItem], progress: Progress) -> list[Step]:
    """The writes still to make, in apply order (groups, schedules, policies, teams, deletions)."""
    grouped: dict[tuple[ChangeKind, str], list[Member]] = {}
    for i, item in enumerate(items):
        for c, change in enumerate(item.changes):
            if progress.state((i, c)) is not ChangeState.PENDING:
                continue
            user = item.slack_user if change.kind is ChangeKind.SLACK_GROUP else item.pagerduty_user
            assert user is not None
            target = change.target if change.target is not None else user
            if change.kind is ChangeKind.TEAM:
                target = f"{change.target}/{user}"  # one request per membership
            grouped.setdefault((change.kind, target), []).append(Member((i, c), user))
    order = {kind: position for position, kind in enumerate(APPLY_ORDER)}
    return [
        Step(kind, target.partition("/")[0] if kind is ChangeKind.TEAM else target, tuple(members))
        for (kind, target), members in sorted(grouped.items(), key=lambda kv: (order[kv[0][0]], kv[0][1]))
    ]


def change_present(
    item: PlanItem, change: Change, fresh: Directory, users: Mapping[str, PagerDutyUser]
) -> bool:
    """Whether live state still holds what the change removes (`users`: fresh PagerDuty users by id)."""
    pd, slack = item.pagerduty_user or "", item.slack_user or ""
    if change.kind is ChangeKind.SLACK_GROUP:
        return slack in fresh.slack_groups.get(change.target or "", frozenset())
    if change.kind is ChangeKind.SCHEDULE:
        return pd in fresh.schedules.get(change.target or "", frozenset())
    if change.kind is ChangeKind.ESCALATION_POLICY:
        return pd in fresh.escalation_policies.get(change.target or "", frozenset())
    user = users.get(pd)
    if change.kind is ChangeKind.TEAM:
        return user is not None and change.target in user.teams
    return user is not None


def reconcile(
    items: Sequence[PlanItem], progress: Progress, fresh_plan: Plan, fresh: Directory
) -> list[ChangeRef]:
    """Settles every open change against a fresh look; returns the changes whose state moved.

    `i` and gone: it landed (done). Pending and gone: already done. Still there but the person no
    longer matches or is on call now: skipped. Still there and still wanted: pending (sent again)."""
    wanted = {(i.pagerduty_user, i.slack_user) for i in fresh_plan.items if not i.protected}
    users = {u.id: u for u in fresh.pagerduty_users}
    moved: list[ChangeRef] = []
    for ref in progress.open_refs(items):
        item = items[ref[0]]
        present = change_present(item, item.changes[ref[1]], fresh, users)
        before = progress.state(ref)
        if not present:
            after = ChangeState.DONE if before is ChangeState.INTENT else ChangeState.ALREADY_DONE
        elif (item.pagerduty_user, item.slack_user) not in wanted:
            after = ChangeState.SKIPPED
        else:
            after = ChangeState.PENDING
        if after is not before:
            progress.set(items, ref, after)
            moved.append(ref)
    return moved
