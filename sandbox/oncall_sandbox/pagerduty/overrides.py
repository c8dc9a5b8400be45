"""Schedule overrides: list over a window, create (one or many), delete or truncate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from oncall_sandbox.pagerduty.call import ROUTES, Ctx, PagerDutyError, Reply, invalid, not_found
from oncall_sandbox.pagerduty.schedules import find_schedule
from oncall_sandbox.seed import ScheduleOverride


def render_override(ctx: Ctx, override: ScheduleOverride) -> dict[str, Any]:
    return {
        "id": override.id,
        "start": ctx.fmt(override.start),
        "end": ctx.fmt(override.end),
        "user": ctx.user_ref(override.user),
    }


@ROUTES.handles("GET /schedules/{id}/overrides")
def list_overrides(ctx: Ctx) -> Reply:
    schedule = find_schedule(ctx)
    if "since" not in ctx.request.query or "until" not in ctx.request.query:
        raise invalid("since and until are required.")
    since = ctx.time("since", ctx.sandbox.clock.now())
    until = ctx.time("until", since)
    found = [o for o in schedule.overrides if o.end > since and o.start < until]
    found.sort(key=lambda o: o.start)
    return 200, {"overrides": [render_override(ctx, o) for o in found]}


def _parse_override(ctx: Ctx, data: Any) -> ScheduleOverride:
    if not isinstance(data, dict):
        raise invalid("Override must be an object.")
    user = data.get("user")
    user_id = user.get("id") if isinstance(user, dict) else None
    if not isinstance(user_id, str) or user_id not in ctx.pd.users:
        raise invalid("User must be a valid user reference.")
    try:
        zone = ZoneInfo(str(data.get("time_zone") or "UTC"))
        start = datetime.fromisoformat(str(data["start"]).replace("Z", "+00:00"))
        end = datetime.fromisoformat(str(data["end"]).replace("Z", "+00:00"))
    except (KeyError, ValueError, ZoneInfoNotFoundError):
        raise invalid("Override start and end must be ISO 8601 times.") from None
    start = start if start.tzinfo else start.replace(tzinfo=zone)
    end = end if end.tzinfo else end.replace(tzinfo=zone)
    if end <= start:
        raise invalid("Override end must be after its start.")
    return ScheduleOverride(
        id=ctx.pd.new_override_id(), start=start.astimezone(UTC), end=end.astimezone(UTC), user=user_id
    )


@ROUTES.handles("POST /schedules/{id}/overrides", writes=True)
def create_overrides(ctx: Ctx) -> Reply:
    body = ctx.json()
    schedule = find_schedule(ctx)
    if isinstance(body, dict) and "override" in body:
        override = _parse_override(ctx, body["override"])
        schedule.overrides.append(override)
        return 201, {"override": render_override(ctx, override)}
    items = body.get("overrides") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise invalid("overrides must be a non-empty list.")
    results = []
    for item in items:
        # Each override succeeds or fails on its own, as PD's multi-create reports per item.
        try:
            override = _parse_override(ctx, item)
        except PagerDutyError as error:
            results.append({"status": 400, "errors": error.errors})
            continue
        schedule.overrides.append(override)
        results.append({"status": 201, "override": render_override(ctx, override)})
    return 201, results


@ROUTES.handles("DELETE /schedules/{id}/overrides/{override_id}", writes=True)
def delete_override(ctx: Ctx) -> Reply:
    schedule = ctx.pd.schedules.get(ctx.args["id"])
    override_id = ctx.args["override_id"]
    override = next((o for o in schedule.overrides if o.id == override_id), None) if schedule else None
    if schedule is None or override is None:
        raise not_found()
    now = ctx.sandbox.clock.now()
    if override.end <= now:
        raise invalid("Cannot delete an override that has already ended.")
    if override.start < now:
        # An active override is truncated to end now (PD answers 200 with the result).
        override.end = now
        return 200, {"override": render_override(ctx, override)}
    schedule.overrides.remove(override)
    return 204, None
