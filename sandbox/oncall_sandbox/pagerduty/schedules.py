"""Schedules: list, and one schedule rendered layer by layer with its final schedule over a window."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from oncall_sandbox import oncall
from oncall_sandbox.pagerduty.call import MAX_RANGE, ROUTES, Ctx, PagerDutyError, Reply, not_found
from oncall_sandbox.pagerduty.teams import team_refs
from oncall_sandbox.seed import EscalationPolicy, Schedule


def policies_using(ctx: Ctx, schedule_id: str) -> list[EscalationPolicy]:
    return [
        ep
        for ep in ctx.pd.policies.values()
        if any(t.type == "schedule_reference" and t.id == schedule_id for r in ep.rules for t in r.targets)
    ]


def render_entries(ctx: Ctx, entries: list[oncall.Entry]) -> list[dict[str, Any]]:
    return [{"start": ctx.fmt(e.start), "end": ctx.fmt(e.end), "user": ctx.user_ref(e.user)} for e in entries]


def _coverage(entries: list[oncall.Entry], since: datetime, until: datetime) -> float:
    span = (until - since).total_seconds()
    if span <= 0:
        return 0.0
    covered = sum((e.end - e.start).total_seconds() for e in entries)
    return round(100.0 * covered / span, 2)


def window(ctx: Ctx, default_length: timedelta) -> tuple[datetime, datetime]:
    """`since`/`until` from the query (default: now, `default_length` long), at most 90 days."""
    since = ctx.time("since", ctx.sandbox.clock.now())
    until = ctx.time("until", since + default_length)
    if until < since or until - since > MAX_RANGE:
        raise PagerDutyError(400, "Invalid Query Date Range", 2005)
    return since, until


def render_schedule(ctx: Ctx, schedule: Schedule, *, full: bool) -> dict[str, Any]:
    users = sorted(
        {u for layer in schedule.layers for u in layer.users} | {o.user for o in schedule.overrides}
    )
    out: dict[str, Any] = {
        **ctx.ref("schedule", schedule.id, schedule.name, "schedules"),
        "type": "schedule",
        "name": schedule.name,
        "time_zone": schedule.time_zone,
        "description": schedule.description,
        "escalation_policies": [
            ctx.ref("escalation_policy", ep.id, ep.name, "escalation_policies")
            for ep in policies_using(ctx, schedule.id)
        ],
        "users": [ctx.user_ref(u) for u in users if u in ctx.pd.users],
        "teams": team_refs(ctx, schedule.teams),
    }
    if not full:
        return out
    since, until = window(ctx, timedelta(days=7))
    zone = ZoneInfo(schedule.time_zone)
    layers = []
    for layer in schedule.layers:
        entries = oncall.layer_entries(layer, zone, since, until)
        layers.append(
            {
                "id": layer.id,
                "name": layer.name,
                "start": ctx.fmt(layer.start),
                "end": ctx.fmt(layer.end),
                "rotation_virtual_start": ctx.fmt(layer.rotation_virtual_start),
                "rotation_turn_length_seconds": layer.rotation_turn_length_seconds,
                "users": [{"user": ctx.user_ref(u)} for u in layer.users],
                "restrictions": [
                    {
                        "type": r.type,
                        "start_time_of_day": r.start_time_of_day.strftime("%H:%M:%S"),
                        "duration_seconds": r.duration_seconds,
                        **({"start_day_of_week": r.start_day_of_week} if r.start_day_of_week else {}),
                    }
                    for r in layer.restrictions
                ],
                "rendered_schedule_entries": render_entries(ctx, oncall.merge(entries)),
                "rendered_coverage_percentage": _coverage(entries, since, until),
            }
        )
    overrides = oncall.override_entries(schedule.overrides, since, until)
    final = oncall.final_entries(schedule, since, until)
    out["schedule_layers"] = layers
    out["overrides_subschedule"] = {
        "name": "Overrides",
        "rendered_schedule_entries": render_entries(ctx, overrides),
        "rendered_coverage_percentage": _coverage(
            oncall.merge(sorted(overrides, key=lambda e: e.start)), since, until
        ),
    }
    out["final_schedule"] = {
        "name": "Final Schedule",
        "rendered_schedule_entries": render_entries(ctx, final),
        "rendered_coverage_percentage": _coverage(final, since, until),
    }
    return out


def find_schedule(ctx: Ctx) -> Schedule:
    schedule = ctx.pd.schedules.get(ctx.args["id"])
    if schedule is None:
        raise not_found()
    return schedule


@ROUTES.handles("GET /schedules")
def list_schedules(ctx: Ctx) -> Reply:
    query = ctx.query_text()
    schedules = sorted(ctx.pd.schedules.values(), key=lambda s: (s.name.lower(), s.id))
    if query:
        schedules = [s for s in schedules if query in s.name.lower()]
    return 200, ctx.page("schedules", [render_schedule(ctx, s, full=False) for s in schedules])


@ROUTES.handles("GET /schedules/{id}")
def get_schedule(ctx: Ctx) -> Reply:
    return 200, {"schedule": render_schedule(ctx, find_schedule(ctx), full=True)}
