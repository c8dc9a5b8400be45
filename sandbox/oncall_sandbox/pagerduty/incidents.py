"""GET /incidents: seeded incidents filtered by status, assignee, urgency, service and date range.

As PagerDuty: without `date_range=all` only incidents created in [since, until] (default the last
30 days, at most 180) are listed, and `user_ids[]` only matches open incidents (resolved ones have no
assignments)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from oncall_sandbox.pagerduty.call import ROUTES, Ctx, PagerDutyError, Reply, invalid
from oncall_sandbox.state import IncidentRecord

DEFAULT_RANGE = timedelta(days=30)
MAX_RANGE = timedelta(days=180)
STATUSES = ("triggered", "acknowledged", "resolved")


def render_incident(ctx: Ctx, incident: IncidentRecord) -> dict[str, Any]:
    summary = f"[#{incident.number}] {incident.title}"
    assignees = [] if not incident.is_open else [u for u in incident.assigned_to if u in ctx.pd.users]
    policy = ctx.pd.policies.get(incident.escalation_policy or "")
    out: dict[str, Any] = {
        **ctx.ref("incident", incident.id, summary, "incidents"),
        "type": "incident",
        "incident_number": incident.number,
        "title": incident.title,
        "created_at": ctx.fmt(incident.created_at),
        "updated_at": ctx.fmt(incident.updated_at),
        "status": incident.status,
        "incident_key": f"sandbox-{incident.id.lower()}",
        "service": {
            **ctx.ref("service", incident.service_id, incident.service_name, "services"),
        },
        "assignments": [{"at": ctx.fmt(incident.created_at), "assignee": ctx.user_ref(u)} for u in assignees],
        "assigned_via": "escalation_policy",
        "last_status_change_at": ctx.fmt(incident.resolved_at or incident.updated_at),
        "resolved_at": ctx.fmt(incident.resolved_at),
        "urgency": incident.urgency,
        "teams": [],
        "acknowledgements": [],
        "pending_actions": [],
        "alert_counts": {"all": 1, "triggered": int(incident.is_open), "resolved": int(not incident.is_open)},
        "is_mergeable": True,
    }
    if policy is not None:
        out["escalation_policy"] = ctx.ref("escalation_policy", policy.id, policy.name, "escalation_policies")
    return out


@ROUTES.handles("GET /incidents")
def list_incidents(ctx: Ctx) -> Reply:
    statuses = set(ctx.many("statuses"))
    if statuses - set(STATUSES):
        raise invalid("Statuses must be triggered, acknowledged or resolved.")
    user_ids = set(ctx.many("user_ids"))
    urgencies = set(ctx.many("urgencies"))
    services = set(ctx.many("service_ids"))
    incidents = sorted(ctx.pd.incidents.values(), key=lambda i: (i.created_at, i.number))
    if ctx.request.query.get("date_range") != "all":
        until = ctx.time("until", ctx.sandbox.clock.now())
        since = ctx.time("since", until - DEFAULT_RANGE)
        if until < since or until - since > MAX_RANGE:
            raise PagerDutyError(400, "Invalid Query Date Range", 2005)
        incidents = [i for i in incidents if since <= i.created_at <= until]
    if statuses:
        incidents = [i for i in incidents if i.status in statuses]
    if user_ids:
        incidents = [i for i in incidents if i.is_open and user_ids & set(i.assigned_to)]
    if urgencies:
        incidents = [i for i in incidents if i.urgency in urgencies]
    if services:
        incidents = [i for i in incidents if i.service_id in services]
    return 200, ctx.page("incidents", incidents, lambda i: render_incident(ctx, i))
