"""The edits that remove people from a PagerDuty schedule or escalation policy, and how to read
PagerDuty's refusals - decided on the objects as read, before anything is sent.

PagerDuty refuses a layer without users and an escalation rule without targets; so does Slack a user
group without members. Where a removal would empty one, those people stay and need a person (someone
must name a replacement); the others are removed.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from oncall_operator.api.cleanup import CleanupReason

# Fields PagerDuty renders on a layer that a PUT does not take back.
_LAYER_READ_ONLY = ("rendered_schedule_entries", "rendered_coverage_percentage")


def _layer_body(layer: dict[str, Any]) -> dict[str, Any]:
    """A layer as a PUT takes it: read-only renderings dropped, and no `end: null` (an open layer has
    no end; the spec types it as a string)."""
    return {k: v for k, v in copy.deepcopy(layer).items() if k not in _LAYER_READ_ONLY and v is not None}


@dataclass(frozen=True)
class Removal:
    """What one write does for the people asked to leave a schedule, policy or group."""

    body: Any | None  # what to send (layers, rules or the remaining members); None: nothing to send
    removed: frozenset[str] = frozenset()  # leave with this write
    absent: frozenset[str] = frozenset()  # were not there (already done)
    blocked: dict[str, str] = field(default_factory=dict)  # stay: user -> reason


def _user_id(entry: Any) -> str | None:
    user = entry.get("user", entry) if isinstance(entry, dict) else None
    return user.get("id") if isinstance(user, dict) and isinstance(user.get("id"), str) else None


def remove_from_layers(layers: Sequence[dict[str, Any]], leaving: Iterable[str]) -> Removal:
    """The schedule's layers without the people leaving. Someone who is the only user left of a layer
    stays in the whole schedule (no half-done removal): a person must name a replacement first."""
    leaving = frozenset(leaving)
    members = [
        [i for i in (_user_id(entry) for entry in layer.get("users") or []) if i is not None]
        for layer in layers
    ]
    blocked: dict[str, str] = {
        i: CleanupReason.LAST_LAYER_MEMBER for ids in members if ids and set(ids) <= leaving for i in ids
    }
    present = {i for ids in members for i in ids if i in leaving}
    going = present - set(blocked)
    edited = []
    for layer, ids in zip(layers, members, strict=True):
        new = _layer_body(layer)
        new["users"] = [{"user": {"id": i, "type": "user_reference"}} for i in ids if i not in going]
        edited.append(new)
    return Removal(edited if going else None, frozenset(going), leaving - present, blocked)


def remove_from_rules(rules: Sequence[dict[str, Any]], leaving: Iterable[str]) -> Removal:
    """The policy's rules without the people leaving as direct targets (schedule targets stay). Someone
    who is a rule's only target stays in the whole policy until a person names another."""
    leaving = frozenset(leaving)

    def is_user(target: dict[str, Any]) -> bool:
        return str(target.get("type", "")).startswith("user")

    targets = [[t for t in rule.get("targets") or [] if isinstance(t, dict)] for rule in rules]
    blocked: dict[str, str] = {}
    for rule_targets in targets:
        if rule_targets and all(is_user(t) and t.get("id") in leaving for t in rule_targets):
            blocked.update((t["id"], CleanupReason.LAST_ESCALATION_TARGET) for t in rule_targets)
    present = {
        t["id"] for rule_targets in targets for t in rule_targets if is_user(t) and t.get("id") in leaving
    }
    going = present - set(blocked)
    # Rule ids are read-only in the spec: PagerDuty keeps the rules' order and numbers them itself.
    edited = [
        {
            "escalation_delay_in_minutes": rule.get("escalation_delay_in_minutes"),
            "targets": [
                {"id": t["id"], "type": str(t.get("type"))}
                for t in rule_targets
                if not (is_user(t) and t.get("id") in going)
            ],
        }
        for rule, rule_targets in zip(rules, targets, strict=True)
    ]
    return Removal(edited if going else None, frozenset(going), leaving - present, blocked)


def remove_from_members(members: Sequence[str], leaving: Iterable[str]) -> Removal:
    """A Slack user group's remaining members. Slack refuses an empty group (usergroups.users.update:
    no_users_provided); rather than disable a group nobody asked to disable, its last members stay."""
    leaving = frozenset(leaving)
    present = leaving & set(members)
    remaining = [m for m in members if m not in leaving]
    if present and not remaining:
        return Removal(
            None, absent=leaving - present, blocked=dict.fromkeys(present, CleanupReason.LAST_GROUP_MEMBER)
        )
    return Removal(remaining if present else None, removed=frozenset(present), absent=leaving - present)


_REFUSALS = (
    (re.compile(r"open incidents?", re.I), CleanupReason.OPEN_INCIDENTS),
    (re.compile(r"\blayer\b", re.I), CleanupReason.LAST_LAYER_MEMBER),
    (re.compile(r"escalation rule", re.I), CleanupReason.LAST_ESCALATION_TARGET),
)


def deletion_refusal(lines: Iterable[str]) -> CleanupReason:
    """The reason PagerDuty refused to delete a user (its 400 lists them); the first one known wins."""
    for line in lines:
        for pattern, reason in _REFUSALS:
            if pattern.search(line):
                return reason
    return CleanupReason.PAGERDUTY_REFUSED
