"""Teams: list, get, members (with roles), and removing a user from a team."""

from __future__ import annotations

from typing import Any

from oncall_sandbox.pagerduty.call import ROUTES, Ctx, Reply, not_found


def render_team(ctx: Ctx, team_id: str) -> dict[str, Any]:
    team = ctx.pd.teams[team_id]
    return {
        **ctx.ref("team", team.id, team.name, "teams"),
        "type": "team",
        "name": team.name,
        "description": team.description,
        "default_role": "manager",
        "parent": None,
    }


def team_refs(ctx: Ctx, team_ids: list[str]) -> list[dict[str, Any]]:
    return [ctx.ref("team", t, ctx.pd.teams[t].name, "teams") for t in team_ids if t in ctx.pd.teams]


@ROUTES.handles("GET /teams")
def list_teams(ctx: Ctx) -> Reply:
    query = ctx.query_text()
    teams = sorted(ctx.pd.teams.values(), key=lambda t: (t.name.lower(), t.id))
    if query:
        teams = [t for t in teams if query in t.name.lower()]
    return 200, ctx.page("teams", teams, lambda t: render_team(ctx, t.id))


@ROUTES.handles("GET /teams/{id}")
def get_team(ctx: Ctx) -> Reply:
    if ctx.args["id"] not in ctx.pd.teams:
        raise not_found()
    return 200, {"team": render_team(ctx, ctx.args["id"])}


@ROUTES.handles("GET /teams/{id}/members")
def team_members(ctx: Ctx) -> Reply:
    team = ctx.pd.teams.get(ctx.args["id"])
    if team is None:
        raise not_found()
    members = [(user_id, role) for user_id, role in team.roles.items() if user_id in ctx.pd.users]
    return 200, ctx.page("members", members, lambda m: {"user": ctx.user_ref(m[0]), "role": m[1]})


@ROUTES.handles("DELETE /teams/{id}/users/{user_id}", writes=True)
def remove_team_user(ctx: Ctx) -> Reply:
    team = ctx.pd.teams.get(ctx.args["id"])
    user_id = ctx.args["user_id"]
    if team is None or user_id not in ctx.pd.users:
        raise not_found()
    team.roles.pop(user_id, None)
    return 204, None
