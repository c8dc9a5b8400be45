"""Escalation policies: list (filtered by user, team, name) and get."""

from __future__ import annotations

from typing import Any

from oncall_sandbox.pagerduty.call import ROUTES, Ctx, Reply, invalid, not_found
from oncall_sandbox.pagerduty.teams import team_refs
from oncall_sandbox.seed import EscalationPolicy, EscalationRule, EscalationTarget


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
    return 200, ctx.page("escalation_policies", policies, lambda p: render_policy(ctx, p))


@ROUTES.handles("GET /escalation_policies/{id}")
def get_policy(ctx: Ctx) -> Reply:
    policy = ctx.pd.policies.get(ctx.args["id"])
    if policy is None:
        raise not_found()
    return 200, {"escalation_policy": render_policy(ctx, policy)}


TARGET_TYPES = {
    "user_reference": "user_reference",
    "user": "user_reference",
    "schedule_reference": "schedule_reference",
    "schedule": "schedule_reference",
}


def _parse_rule(ctx: Ctx, level: int, data: Any, own: dict[str, EscalationRule]) -> EscalationRule:
    if not isinstance(data, dict):
        raise invalid(f"Escalation rule {level} must be an object.")
    targets_data = data.get("targets")
    # PagerDuty refuses a rule nobody is notified by.
    if not isinstance(targets_data, list) or not targets_data:
        raise invalid(f"Escalation rule {level} must have at least one target.")
    targets = []
    for item in targets_data:
        kind = TARGET_TYPES.get(str(item.get("type"))) if isinstance(item, dict) else None
        target_id = item.get("id") if isinstance(item, dict) else None
        known = ctx.pd.users if kind == "user_reference" else ctx.pd.schedules
        if kind is None or not isinstance(target_id, str) or target_id not in known:
            raise invalid(f"Escalation rule {level} has a target that does not exist.")
        targets.append(EscalationTarget(type=kind, id=target_id))  # type: ignore[arg-type]
    base = own.get(str(data.get("id", "")))
    delay = data.get("escalation_delay_in_minutes", base.escalation_delay_in_minutes if base else 30)
    if not isinstance(delay, int) or delay < 1:
        raise invalid(f"Escalation rule {level}: escalation_delay_in_minutes must be a positive integer.")
    taken = {r.id for p in ctx.pd.policies.values() for r in p.rules}
    rule_id = base.id if base else ctx.pd.new_id("PR", taken)
    return EscalationRule(id=rule_id, escalation_delay_in_minutes=delay, targets=targets)


@ROUTES.handles("PUT /escalation_policies/{id}", writes=True)
def update_policy(ctx: Ctx) -> Reply:
    """Name, description, loops and rules (the body's rules replace the policy's)."""
    body = ctx.json()
    policy = ctx.pd.policies.get(ctx.args["id"])
    if policy is None:
        raise not_found()
    data = body.get("escalation_policy") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise invalid("escalation_policy must be an object.")
    rules = policy.rules
    if "escalation_rules" in data:
        items = data["escalation_rules"]
        if not isinstance(items, list) or not items:
            raise invalid("An escalation policy needs at least one escalation rule.")
        own = {r.id: r for r in policy.rules}
        rules = [_parse_rule(ctx, level, item, own) for level, item in enumerate(items, 1)]
    loops = data.get("num_loops", policy.num_loops)
    if not isinstance(loops, int) or not 0 <= loops <= 9:
        raise invalid("num_loops must be between 0 and 9.")
    # Nothing changes unless the whole body is valid.
    policy.rules = rules
    policy.num_loops = loops
    policy.name = str(data.get("name", policy.name))
    policy.description = str(data.get("description", policy.description))
    return 200, {"escalation_policy": render_policy(ctx, policy)}
