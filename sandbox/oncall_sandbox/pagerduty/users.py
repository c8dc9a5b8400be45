"""Users: list, get, delete; and the user object other endpoints embed."""

from __future__ import annotations

from typing import Any

from oncall_sandbox.pagerduty.call import ROUTES, Ctx, Reply, invalid, not_found
from oncall_sandbox.seed import PagerDutyUser


def render_user(ctx: Ctx, user: PagerDutyUser) -> dict[str, Any]:
    teams = [t for t in ctx.pd.teams.values() if user.id in t.members]
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
        "teams": [ctx.ref("team", t.id, t.name, "teams") for t in teams],
        "contact_methods": [],
        "notification_rules": [],
        "coordinated_incidents": [],
    }


@ROUTES.handles("GET /users")
def list_users(ctx: Ctx) -> Reply:
    query = ctx.query_text()
    team_ids = set(ctx.many("team_ids"))
    users = sorted(ctx.pd.users.values(), key=lambda u: (u.name.lower(), u.id))
    if query:
        users = [u for u in users if query in u.name.lower() or query in u.email.lower()]
    if team_ids:
        users = [
            u for u in users if any(u.id in ctx.pd.teams[t].members for t in team_ids if t in ctx.pd.teams)
        ]
    return 200, ctx.page("users", [render_user(ctx, u) for u in users])


@ROUTES.handles("GET /users/{id}")
def get_user(ctx: Ctx) -> Reply:
    user = ctx.pd.users.get(ctx.args["id"])
    if user is None:
        raise not_found()
    return 200, {"user": render_user(ctx, user)}


@ROUTES.handles("DELETE /users/{id}", writes=True)
def delete_user(ctx: Ctx) -> Reply:
    pd = ctx.pd
    user_id = ctx.args["id"]
    user = pd.users.get(user_id)
    if user is None:
        raise not_found()
    if user.open_incidents:
        raise invalid(f"User cannot be deleted as they have {user.open_incidents} open incidents.")
    del pd.users[user_id]
    # PD takes a deleted user out of teams, rotations, overrides and escalation targets.
    for team in pd.teams.values():
        team.members = [m for m in team.members if m != user_id]
    for schedule in pd.schedules.values():
        for layer in schedule.layers:
            layer.users = [u for u in layer.users if u != user_id]
        schedule.overrides = [o for o in schedule.overrides if o.user != user_id]
    for policy in pd.policies.values():
        for rule in policy.rules:
            rule.targets = [t for t in rule.targets if not (t.type == "user_reference" and t.id == user_id)]
    pd.deleted_users.append(
        {"id": user.id, "name": user.name, "email": user.email, "deleted_at": ctx.sandbox.now_iso()}
    )
    return 204, None
