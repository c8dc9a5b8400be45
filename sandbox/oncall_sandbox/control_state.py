"""The control API's view of the emulated world under /_sandbox/: Slack and PagerDuty state, read and
edited as an admin would (deactivate a user, change an address, resolve an incident), and the
on-call engine's answer for independent expectations."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

from oncall_sandbox import oncall
from oncall_sandbox.control_api import PREFIX, Body, bad_request, json_reply, read_body, sandbox_of
from oncall_sandbox.core import Sandbox
from oncall_sandbox.seed import SlackPlan, SlackUser


class SlackUserBody(Body):
    deleted: bool | None = None
    email: str | None = None
    # Slack takes a deactivated account out of every user group (reactivation does not put it back).
    remove_from_groups: bool = True


class IncidentBody(Body):
    status: Literal["triggered", "acknowledged", "resolved"]


class PlanBody(Body):
    plan: SlackPlan


async def usergroups(request: web.Request) -> web.Response:
    slack = sandbox_of(request).state.slack
    return json_reply(
        [
            {
                "id": g.id,
                "handle": g.handle,
                "name": g.name,
                "description": g.description,
                "channels": list(g.channels),
                "users": list(g.users),
                "enabled": not g.date_delete,
                "date_update": g.date_update,
                "date_update_precise": g.date_update_precise,
                "updates": g.updates,
            }
            for g in slack.usergroups.values()
        ]
    )


async def messages(request: web.Request) -> web.Response:
    channel = request.query.get("channel")
    slack = sandbox_of(request).state.slack
    return json_reply(
        [
            {"channel": m["channel"], "text": m["text"], "ts": m["ts"], "blocks": m["blocks"]}
            for m in slack.messages
            if channel is None or m["channel"] == channel
        ]
    )


async def topics(request: web.Request) -> web.Response:
    slack = sandbox_of(request).state.slack
    return json_reply(
        {c.id: {"topic": c.topic, "history": list(c.topic_history)} for c in slack.channels.values()}
    )


def _slack_user_view(sandbox: Sandbox, user: SlackUser) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "deleted": user.deleted,
        "is_bot": user.is_bot,
        "is_restricted": user.is_restricted,
        "is_ultra_restricted": user.is_ultra_restricted,
        "updated": sandbox.state.slack.user_updated.get(user.id, 0),
    }


async def slack_users(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    return json_reply([_slack_user_view(sandbox, u) for u in sandbox.state.slack.users.values()])


async def slack_user_update(request: web.Request) -> web.Response:
    """Deactivate / reactivate a Slack account or change its e-mail, as an admin would."""
    sandbox = sandbox_of(request)
    slack = sandbox.state.slack
    user = slack.users.get(request.match_info["user_id"])
    if user is None:
        raise web.HTTPNotFound(
            text=json.dumps({"error": "no such Slack user"}), content_type="application/json"
        )
    body = await read_body(request, SlackUserBody)
    now = sandbox.clock.timestamp()
    removed: list[str] = []
    if "email" in body.model_fields_set:
        owner = slack.user_by_email(body.email) if body.email else None
        if owner is not None and owner.id != user.id:
            raise bad_request(f"{body.email} belongs to {owner.id}")
        slack.set_email(user, body.email)
    if body.deleted is not None and body.deleted != user.deleted:
        user.deleted = body.deleted
        if body.deleted and body.remove_from_groups:
            for group in slack.usergroups.values():
                if user.id in group.users:
                    group.users = [u for u in group.users if u != user.id]
                    group.touch(now)
                    removed.append(group.id)
    slack.user_updated[user.id] = int(now)
    return json_reply({**_slack_user_view(sandbox, user), "removed_from_groups": removed})


async def slack_plan(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    if request.method == "POST":
        sandbox.state.slack.plan = (await read_body(request, PlanBody)).plan
    return json_reply({"plan": sandbox.state.slack.plan})


async def pd_users(request: web.Request) -> web.Response:
    pd = sandbox_of(request).state.pagerduty
    return json_reply(
        [
            {
                "id": u.id,
                "name": u.name,
                "email": u.email,
                "time_zone": u.time_zone,
                "open_incidents": len(pd.open_incidents(u.id)),
            }
            for u in pd.users.values()
        ]
    )


async def pd_incidents(request: web.Request) -> web.Response:
    pd = sandbox_of(request).state.pagerduty
    return json_reply(
        [
            {"id": i.id, "title": i.title, "status": i.status, "assigned_to": list(i.assigned_to)}
            for i in pd.incidents.values()
        ]
    )


async def pd_incident_update(request: web.Request) -> web.Response:
    """Acknowledge, resolve or re-trigger an incident, as a responder would."""
    sandbox = sandbox_of(request)
    incident = sandbox.state.pagerduty.incidents.get(request.match_info["incident_id"])
    if incident is None:
        raise web.HTTPNotFound(
            text=json.dumps({"error": "no such incident"}), content_type="application/json"
        )
    body = await read_body(request, IncidentBody)
    now = sandbox.clock.now()
    incident.status = body.status
    incident.updated_at = now
    incident.resolved_at = now if body.status == "resolved" else None
    return json_reply({"id": incident.id, "status": incident.status})


async def pd_deleted_users(request: web.Request) -> web.Response:
    return json_reply(list(sandbox_of(request).state.pagerduty.deleted_users))


async def oncall_now(request: web.Request) -> web.Response:
    """Who is on call at `at`, per schedule and per policy level, straight from the engine."""
    sandbox = sandbox_of(request)
    pd = sandbox.state.pagerduty
    raw = request.query.get("at")
    try:
        at = (
            datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
            if raw
            else sandbox.clock.now()
        )
    except ValueError:
        raise bad_request("at must be an ISO 8601 time") from None
    if at.tzinfo is None:
        raise bad_request("at needs a UTC offset")
    at = at.astimezone(UTC)
    schedules: dict[str, list[str]] = {}
    shifts: dict[str, list[dict[str, str]]] = {}
    for schedule in pd.schedules.values():
        current = oncall.shifts(schedule, at, at)
        schedules[schedule.id] = [e.user for e in current]
        shifts[schedule.id] = [
            {"user": e.user, "start": e.start.isoformat(), "end": e.end.isoformat()} for e in current
        ]
    policies: dict[str, dict[str, list[str]]] = {}
    for policy in pd.policies.values():
        levels: dict[str, list[str]] = {}
        for level, rule in enumerate(policy.rules, start=1):
            users: list[str] = []
            for target in rule.targets:
                found = schedules.get(target.id, []) if target.type == "schedule_reference" else [target.id]
                users += [u for u in found if u in pd.users and u not in users]
            levels[str(level)] = users
        policies[policy.id] = levels
    emails = {u.id: u.email for u in pd.users.values()}
    return json_reply(
        {
            "at": at.isoformat(),
            "schedules": schedules,
            "shifts": shifts,
            "escalation_policies": policies,
            "emails": emails,
        }
    )


def routes() -> list[web.RouteDef]:
    p = PREFIX
    return [
        web.get(f"{p}/slack/usergroups", usergroups),
        web.get(f"{p}/slack/messages", messages),
        web.get(f"{p}/slack/topics", topics),
        web.route("*", f"{p}/slack/plan", slack_plan),
        web.get(f"{p}/slack/users", slack_users),
        web.post(f"{p}/slack/users/{{user_id}}", slack_user_update),
        web.get(f"{p}/pagerduty/incidents", pd_incidents),
        web.post(f"{p}/pagerduty/incidents/{{incident_id}}", pd_incident_update),
        web.get(f"{p}/pagerduty/users", pd_users),
        web.get(f"{p}/pagerduty/deleted_users", pd_deleted_users),
        web.get(f"{p}/oncall", oncall_now),
    ]
