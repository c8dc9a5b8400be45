"""Escalation policies: list (filtered by user, team, name) and get."""

from __future__ import annotations

from typing import Any

from oncall_sandbox.pagerduty.call import ROUTES, Ctx, Reply, not_found
from oncall_sandbox.pagerduty.teams import team_refs
from oncall_sandbox.seed import EscalationPolicy


def render_policy(ctx: Ctx, policy: EscalationPolicy) -> dict[str, Any]:
    rules = []
    for rule in policy.rules:
        targets = []
        for t in rule.targets:
            if t.type == "schedule_reference":
                name = ctx.pd.schedules[t.id].name if t.id in ctx.pd.schedules else "Deleted"
                targets.append(ctx.ref("schedule", t.id, name, "schedules"))
            else:
                targets.append(ctx.user_ref(t.id))
        rules.append(
            {
                "id": rule.id,
                "escalation_delay_in_minutes": rule.escalation_delay_in_minutes,
                "targets": targets,
            }
        )
    return {
        **ctx.ref("escalation_policy", policy.id, policy.name, "escalation_policies"),
        "type": "escalation_policy",
        "name": policy.name,
        "description": policy.description,
        "num_loops": policy.num_loops,
        "on_call_handoff_notifications": "if_has_services",
        "escalation_rules": rules,
        "services": [],
        "teams": team_refs(ctx, policy.teams),
    }


def _reaches(ctx: Ctx, policy: EscalationPolicy, user_ids: set[str]) -> bool:
    """Whether any of the users is a target, directly or through a schedule's layers."""
    for rule in policy.rules:
        for t in rule.targets:
            if t.type == "user_reference" and t.id in user_ids:
                return True
            schedule = ctx.pd.schedules.get(t.id) if t.type == "schedule_reference" else None
            if schedule and user_ids & {u for layer in schedule.layers for u in layer.users}:
                return True
    return False


@ROUTES.handles("GET /escalation_policies")
def list_policies(ctx: Ctx) -> Reply:
    query = ctx.query_text()
    user_ids = set(ctx.many("user_ids"))
    team_ids = set(ctx.many("team_ids"))
    policies = sorted(ctx.pd.policies.values(), key=lambda p: (p.name.lower(), p.id))
    if query:
        policies = [p for p in policies if query in p.name.lower()]
    if team_ids:
        policies = [p for p in policies if team_ids & set(p.teams)]
    if user_ids:
        policies = [p for p in policies if _reaches(ctx, p, user_ids)]
    return 200, ctx.page("escalation_policies", [render_policy(ctx, p) for p in policies])


@ROUTES.handles("GET /escalation_policies/{id}")
def get_policy(ctx: Ctx) -> Reply:
    policy = ctx.pd.policies.get(ctx.args["id"])
    if policy is None:
        raise not_found()
    return 200, {"escalation_policy": render_policy(ctx, policy)}
