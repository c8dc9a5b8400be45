"""Helpers for CleanupRule / CleanupRun tests: specs as users write them."""

from __future__ import annotations

from typing import Any

from oncall_operator.api.cleanup import CleanupRuleSpec

ALL_ACTIONS = [
    "removeFromSlackUserGroups",
    "removeFromPagerDutySchedules",
    "removeFromPagerDutyEscalationPolicies",
    "removeFromPagerDutyTeams",
    "deletePagerDutyUser",
]


def rule_body(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "pagerDuty": {"tokenSecretRef": {"name": "pagerduty", "key": "token"}},
        "slack": {"tokenSecretRef": {"name": "slack", "key": "bot-token"}},
        "match": {"slackAccount": ["deactivated", "missing"]},
        "actions": ALL_ACTIONS,
    }
    body.update(spec)
    return body


def rule(**spec: Any) -> CleanupRuleSpec:
    return CleanupRuleSpec.model_validate(rule_body(**spec))
