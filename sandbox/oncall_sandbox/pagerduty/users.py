"""Users: list, get, delete (with PagerDuty's refusals); and the user object other endpoints embed."""

from __future__ import annotations

from typing import Any

from oncall_sandbox.pagerduty.call import ROUTES, Ctx, Reply, invalid, not_found
from oncall_sandbox.seed import PagerDutyUser


def render_user(ctx: Ctx, user: PagerDutyUser) -> dict[str, Any]:
    return {
        **ctx.ref("user", user.id, user.name, "users"),
        "type": "user",
        "name": user.name,
        "email": user.email,
        "time_zone": user.time_zone,
        "color": "purple",
        "role": user.role,
        "avatar_url": f"https://secure.gravatar.com/avatar/{user.id.lower()}.png?d=mm&r=PG",
        "description": "",
        "invitation_sent": False,
        "job_title": user.job_title,
        "teams": [ctx.ref("team", t.id, t.name, "teams") for t in ctx.pd.teams_of(user.id)],
        "contact_methods": [],
        "notification_rules": [],
        "coordinated_incidents": [],
    }


@ROUTES.handles("GET /users")
def list_users(ctx: Ctx) -> Reply:
    query = ctx.query_text()
    team_ids = [t for t in ctx.many("team_ids") if t in ctx.pd.teams]
    users = sorted(ctx.pd.users.values(), key=lambda u: (u.name.lower(), u.id))
    if query:
        users = [u for u in users if query in u.name.lower() or query in u.email.lower()]
    if ctx.many("team_ids"):
        users = [u for u in users if any(u.id in ctx.pd.teams[t].roles for t in team_ids)]
    return 200, ctx.page("users", users, lambda u: render_user(ctx, u))


@ROUTES.handles("GET /users/{id}")
def get_user(ctx: Ctx) -> Reply:
    user = ctx.pd.users.get(ctx.args["id"])
    if user is None:
        raise not_found()
    return 200, {"user": render_user(ctx, user)}


def deletion_blockers(ctx: Ctx, user_id: str) -> list[str]:
    """Why PagerDuty would refuse to delete the user now (empty: it would not)."""
    pd = ctx.pd
    reasons = []
    open_incidents = len(pd.open_incidents(user_id))
    if open_incidents:
        reasons.append(f"User cannot be deleted as they have {open_incidents} open incidents.")
    strict = pd.deletion_refuses == "any_membership"
    for schedule in pd.schedules.values():
        for layer in schedule.layers:
            if user_id in layer.users and (strict or set(layer.users) == {user_id}):
                which = "the only user" if set(layer.users) == {user_id} else "a user"
                reasons.append(
                    f"User cannot be deleted as they are {which} on layer '{layer.name}' "
                    f"of schedule {schedule.id}."
                )
    for policy in pd.policies.values():
        for level, rule in enumerate(policy.rules, start=1):
            direct = [t for t in rule.targets if t.type == "user_reference" and t.id == user_id]
            if direct and (strict or len(rule.targets) == len(direct)):
                which = "the only target" if len(rule.targets) == len(direct) else "a target"
                reasons.append(
                    f"User cannot be deleted as they are {which} of escalation rule {level} "
                    f"of escalation policy {policy.id}."
                )
    return reasons


@ROUTES.handles("DELETE /users/{id}", writes=True)
def delete_user(ctx: Ctx) -> Reply:
    pd = ctx.pd
    user_id = ctx.args["id"]
    user = pd.users.get(user_id)
    if user is None:
        raise not_found()
    reasons = deletion_blockers(ctx, user_id)
    if reasons:
        raise invalid(*reasons)
    del pd.users[user_id]
    # PD takes a deleted user out of teams, rotations, overrides and escalation targets.
    for team in pd.teams.values():
        team.roles.pop(user_id, None)
    for schedule in pd.schedules.values():
        for layer in schedule.layers:
            layer.users = [u for u in layer.users if u != user_id]
        schedule.overrides = [o for o in schedule.overrides if o.user != user_id]
    for policy in pd.policies.values():
        for rule in policy.rules:
            rule.targets = [t for t in rule.targets if not (t.type == "user_reference" and t.id == user_id)]
    for incident in pd.incidents.values():
        if user_id in incident.assigned_to:
            incident.assigned_to.remove(user_id)
    pd.deleted_users.append(
        {"id": user.id, "name": user.name, "email": user.email, "deleted_at": ctx.sandbox.now_iso()}
    )
    return 204, None
