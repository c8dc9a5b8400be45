"""The plan of a run: each matched person, why they matched, and the changes to make, by id.

Then the safety caps, decided on the plan before anything is changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from oncall_operator.api.cleanup import CleanupAction, CleanupReason, CleanupRuleSpec
from oncall_operator.core.cleanup.directory import Directory
from oncall_operator.core.cleanup.matching import (
    PROTECTED_LETTER,
    Person,
    considered,
    excluded,
    join_people,
    match_reasons,
)
from oncall_operator.core.subjects import IdentifierKind, subject_ref


class ChangeKind(StrEnum):
    """One letter per kind of change, in the order changes are applied."""

    SLACK_GROUP = "g"
    SCHEDULE = "s"
    ESCALATION_POLICY = "e"
    TEAM = "t"
    DELETE_USER = "x"


APPLY_ORDER = (
    ChangeKind.SLACK_GROUP,
    ChangeKind.SCHEDULE,
    ChangeKind.ESCALATION_POLICY,
    ChangeKind.TEAM,
    ChangeKind.DELETE_USER,
)
ACTION_KIND = {
    CleanupAction.REMOVE_FROM_SLACK_USER_GROUPS: ChangeKind.SLACK_GROUP,
    CleanupAction.REMOVE_FROM_PAGERDUTY_SCHEDULES: ChangeKind.SCHEDULE,
    CleanupAction.REMOVE_FROM_PAGERDUTY_ESCALATION_POLICIES: ChangeKind.ESCALATION_POLICY,
    CleanupAction.REMOVE_FROM_PAGERDUTY_TEAMS: ChangeKind.TEAM,
    CleanupAction.DELETE_PAGERDUTY_USER: ChangeKind.DELETE_USER,
}
KIND_NAMES = {
    ChangeKind.SLACK_GROUP: "removeFromSlackUserGroup",
    ChangeKind.SCHEDULE: "removeFromPagerDutySchedule",
    ChangeKind.ESCALATION_POLICY: "removeFromPagerDutyEscalationPolicy",
    ChangeKind.TEAM: "removeFromPagerDutyTeam",
    ChangeKind.DELETE_USER: "deletePagerDutyUser",
}


@dataclass(frozen=True, order=True)
class Change:
    kind: ChangeKind
    target: str | None = None  # the group, schedule, policy or team; None for deleting the user

    @property
    def code(self) -> str:
        return self.kind.value + (self.target or "")


@dataclass(frozen=True)
class PlanItem:
    pagerduty_user: str | None
    slack_user: str | None
    subject: str  # subject reference of the email (core.subjects), so an erasure request finds it
    reasons: str  # letters of the conditions that held; `p` when protected (on call)
    changes: tuple[Change, ...]

    @property
    def protected(self) -> bool:
        return PROTECTED_LETTER in self.reasons


@dataclass(frozen=True)
class Plan:
    items: tuple[PlanItem, ...]
    population: int

    @property
    def affected(self) -> int:
        return sum(1 for item in self.items if item.changes)

    @property
    def protected(self) -> int:
        return sum(1 for item in self.items if item.protected)

    @property
    def changes(self) -> int:
        return sum(len(item.changes) for item in self.items)

    @property
    def hash(self) -> str:
        return plan_hash(self.items)


def plan_hash(items: Sequence[PlanItem]) -> str:
    """sha256 of the changes - user ids and actions with their targets - in a canonical order.

    Reasons, subjects and protected people are not part of it: an approval names what will be done."""
    lines = sorted(
        f"{item.pagerduty_user or '-'} {item.slack_user or '-'} {','.join(c.code for c in item.changes)}"
        for item in items
        if item.changes
    )
    return "sha256:" + hashlib.sha256("\n".join(lines).encode()).hexdigest()


def build_plan(spec: CleanupRuleSpec, directory: Directory, subject_key: bytes) -> Plan:
    """Every matched person with their changes; protected people are listed with none."""
    population = 0
    items: list[PlanItem] = []
    protect = not spec.protection.allow_on_call
    for person in join_people(directory.pagerduty_users, directory.slack_users):
        if excluded(person, spec.exclude, directory) or not considered(person, spec.actions):
            continue
        population += 1
        reasons = match_reasons(person, spec.match, directory)
        if reasons is None:
            continue
        on_call = person.pagerduty is not None and person.pagerduty.id in directory.on_call_soon
        if protect and on_call:
            changes: tuple[Change, ...] = ()
            reasons += PROTECTED_LETTER
        else:
            changes = changes_for(person, spec.actions, directory)
        items.append(
            PlanItem(
                pagerduty_user=person.pagerduty.id if person.pagerduty else None,
                slack_user=person.slack.id if person.slack else None,
                subject=subject_ref(subject_key, IdentifierKind.EMAIL, person.email),
                reasons=reasons,
                changes=changes,
            )
        )
    items.sort(key=lambda i: (i.pagerduty_user or "~", i.slack_user or "~", i.subject))
    return Plan(tuple(items), population)


def changes_for(person: Person, actions: Sequence[CleanupAction], directory: Directory) -> tuple[Change, ...]:
    """The changes the rule's actions make to one person, in apply order; none where nothing is left."""
    wanted = {ACTION_KIND[action] for action in actions}
    pd, slack = person.pagerduty, person.slack
    changes: list[Change] = []
    if ChangeKind.SLACK_GROUP in wanted and slack is not None:
        changes += _memberships(ChangeKind.SLACK_GROUP, slack.id, directory.slack_groups)
    if pd is not None:
        if ChangeKind.SCHEDULE in wanted:
            changes += _memberships(ChangeKind.SCHEDULE, pd.id, directory.schedules)
        if ChangeKind.ESCALATION_POLICY in wanted:
            changes += _memberships(ChangeKind.ESCALATION_POLICY, pd.id, directory.escalation_policies)
        if ChangeKind.TEAM in wanted:
            changes += [Change(ChangeKind.TEAM, team) for team in sorted(pd.teams)]
        if ChangeKind.DELETE_USER in wanted:
            changes.append(Change(ChangeKind.DELETE_USER))
    return tuple(changes)


def _memberships(kind: ChangeKind, member: str, containers: Mapping[str, frozenset[str]]) -> list[Change]:
    return [Change(kind, target) for target, members in sorted(containers.items()) if member in members]


@dataclass(frozen=True)
class CapVerdict:
    reason: CleanupReason
    message: str


def check_caps(plan: Plan, max_affected: int, max_affected_percent: int) -> CapVerdict | None:
    """None when the plan may be applied. Exactly `max_affected` people, or exactly the percentage of
    the population, is allowed; one more is not."""
    affected = plan.affected
    if affected > max_affected:
        return CapVerdict(
            CleanupReason.MAX_AFFECTED,
            f"the plan changes {affected} people, more than safety.maxAffected={max_affected}",
        )
    if affected * 100 > max_affected_percent * plan.population:
        return CapVerdict(
            CleanupReason.MAX_AFFECTED_PERCENT,
            f"the plan changes {affected} of {plan.population} people considered, more than "
            f"safety.maxAffectedPercent={max_affected_percent}%",
        )
    return None
