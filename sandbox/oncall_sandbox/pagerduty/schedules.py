"""Schedules: list, and one schedule rendered layer by layer with its final schedule over a window."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from oncall_sandbox import oncall
from oncall_sandbox.pagerduty.call import MAX_RANGE, ROUTES, Ctx, PagerDutyError, Reply, invalid, not_found
from oncall_sandbox.pagerduty.teams import team_refs
from oncall_sandbox.pagerduty.users import render_user
from oncall_sandbox.seed import EscalationPolicy, Schedule, ScheduleLayer


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
    return 200, ctx.page("schedules", schedules, lambda s: render_schedule(ctx, s, full=False))


@ROUTES.handles("GET /schedules/{id}")
def get_schedule(ctx: Ctx) -> Reply:
    return 200, {"schedule": render_schedule(ctx, find_schedule(ctx), full=True)}


@ROUTES.handles("GET /schedules/{id}/users")
def schedule_users(ctx: Ctx) -> Reply:
    """Users on call in the schedule's final schedule at any time in [since, until] (default: now)."""
    schedule = find_schedule(ctx)
    since, until = window(ctx, timedelta(0))
    seen: dict[str, None] = {}
    for entry in oncall.shifts(schedule, since, until):
        seen.setdefault(entry.user, None)
    return 200, {"users": [render_user(ctx, ctx.pd.users[u]) for u in seen if u in ctx.pd.users]}


def _layer_users(ctx: Ctx, position: int, data: Any) -> list[str]:
    if not isinstance(data, list):
        raise invalid(f"Schedule layer {position} users must be a list.")
    users = []
    for item in data:
        user = item.get("user") if isinstance(item, dict) else None
        user_id = user.get("id") if isinstance(user, dict) else None
        if not isinstance(user_id, str) or user_id not in ctx.pd.users:
            raise invalid(f"Schedule layer {position} has a user that does not exist.")
        users.append(user_id)
    # PagerDuty refuses a layer nobody is on (delete the layer or end it instead).
    if not users:
        raise invalid(f"Schedule layer {position} must have at least one user.")
    return users


def _parse_layer(ctx: Ctx, position: int, data: Any, own: dict[str, ScheduleLayer]) -> ScheduleLayer:
    """A layer of the body: an existing one (by `id`) with the fields given changed, or a new one."""
    if not isinstance(data, dict):
        raise invalid(f"Schedule layer {position} must be an object.")
    base = own.get(str(data.get("id", "")))
    fields: dict[str, Any] = base.model_dump() if base else {"name": f"Layer {position}"}
    if base is None:
        taken = {layer.id for s in ctx.pd.schedules.values() for layer in s.layers}
        fields["id"] = ctx.pd.new_id("PL", taken)
    for key in ("name", "start", "end", "rotation_virtual_start", "rotation_turn_length_seconds"):
        if key in data:
            fields[key] = data[key]
    if "users" in data or base is None:
        fields["users"] = _layer_users(ctx, position, data.get("users"))
    if "restrictions" in data:
        fields["restrictions"] = data["restrictions"]
    try:
        layer = ScheduleLayer.model_validate(fields)
    except ValidationError as error:
        raise invalid(
            *(
                f"schedule_layers[{position - 1}].{'.'.join(map(str, e['loc']))}: {e['msg']}"
                for e in error.errors()
            )
        ) from None
    for r in layer.restrictions:
        if (r.type == "weekly_restriction") != (r.start_day_of_week is not None):
            raise invalid(f"Schedule layer {position}: start_day_of_week is for weekly restrictions only.")
    return layer


@ROUTES.handles("PUT /schedules/{id}", writes=True)
def update_schedule(ctx: Ctx) -> Reply:
    """Name, description, time zone and layers (the body's layers replace the schedule's)."""
    body = ctx.json()
    schedule = find_schedule(ctx)
    data = body.get("schedule") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise invalid("schedule must be an object.")
    time_zone = data.get("time_zone", schedule.time_zone)
    try:
        ZoneInfo(str(time_zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid("Time Zone is invalid.") from None
    layers = schedule.layers
    if "schedule_layers" in data:
        items = data["schedule_layers"]
        if not isinstance(items, list) or not items:
            raise invalid("A schedule needs at least one layer.")
        own = {layer.id: layer for layer in schedule.layers}
        layers = [_parse_layer(ctx, i, item, own) for i, item in enumerate(items, 1)]
    # Nothing changes unless the whole body is valid.
    schedule.layers = layers
    schedule.time_zone = str(time_zone)
    schedule.name = str(data.get("name", schedule.name))
    schedule.description = str(data.get("description", schedule.description))
    return 200, {"schedule": render_schedule(ctx, schedule, full=True)}
