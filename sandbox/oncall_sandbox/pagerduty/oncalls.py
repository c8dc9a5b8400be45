"""GET /oncalls: every escalation policy walked level by level, target by target, over a window."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from oncall_sandbox import oncall
from oncall_sandbox.pagerduty.call import MAX_RANGE, ROUTES, Ctx, PagerDutyError, Reply
from oncall_sandbox.pagerduty.users import render_user
from oncall_sandbox.seed import EscalationPolicy, Schedule


def oncall_entries(
    ctx: Ctx, since: datetime, until: datetime, *, policies: set[str], schedules: set[str], users: set[str]
) -> list[dict[str, Any]]:
    """The raw /oncalls rows (UTC datetimes), before rendering and pagination."""
    rows: list[dict[str, Any]] = []
    cache: dict[str, list[oncall.Entry]] = {}
    for policy in sorted(ctx.pd.policies.values(), key=lambda p: p.id):
        if policies and policy.id not in policies:
            continue
        for level, rule in enumerate(policy.rules, start=1):
            for target in rule.targets:
                if target.type == "user_reference":
                    if schedules or target.id not in ctx.pd.users:
                        continue
                    rows.append(
                        {
                            "policy": policy,
                            "level": level,
                            "schedule": None,
                            "user": target.id,
                            "start": None,
                            "end": None,
                        }
                    )
                    continue
                schedule = ctx.pd.schedules.get(target.id)
                if schedule is None or (schedules and schedule.id not in schedules):
                    continue
                if schedule.id not in cache:
                    cache[schedule.id] = oncall.shifts(schedule, since, until)
                for entry in cache[schedule.id]:
                    rows.append(
                        {
                            "policy": policy,
                            "level": level,
                            "schedule": schedule,
                            "user": entry.user,
                            "start": entry.start,
                            "end": entry.end,
                        }
                    )
    if users:
        rows = [r for r in rows if r["user"] in users]
    return rows


def _earliest(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only the earliest row per (user, policy, level), as `earliest=true` asks."""
    never = datetime.min.replace(tzinfo=UTC)
    earliest: dict[tuple[str, str, int], dict[str, Any]] = {}
    for row in rows:
        key = (row["user"], row["policy"].id, row["level"])
        best = earliest.get(key)
        if best is None or (row["start"] or never) < (best["start"] or never):
            earliest[key] = row
    return [r for r in rows if earliest.get((r["user"], r["policy"].id, r["level"])) is r]


@ROUTES.handles("GET /oncalls")
def list_oncalls(ctx: Ctx) -> Reply:
    now = ctx.sandbox.clock.now()
    since = ctx.time("since", now)
    until = ctx.time("until", now if "since" not in ctx.request.query else since)
    if until < since or until - since > MAX_RANGE:
        raise PagerDutyError(400, "Invalid Query Date Range", 2005)
    rows = oncall_entries(
        ctx,
        since,
        until,
        policies=set(ctx.many("escalation_policy_ids")),
        schedules=set(ctx.many("schedule_ids")),
        users=set(ctx.many("user_ids")),
    )
    if ctx.flag("earliest"):
        rows = _earliest(rows)
    full_users = "users" in ctx.includes()
    rendered = []
    for row in rows:
        user = ctx.pd.users[row["user"]]
        schedule: Schedule | None = row["schedule"]
        policy: EscalationPolicy = row["policy"]
        rendered.append(
            {
                "escalation_policy": ctx.ref(
                    "escalation_policy", policy.id, policy.name, "escalation_policies"
                ),
                "escalation_level": row["level"],
                "schedule": ctx.ref("schedule", schedule.id, schedule.name, "schedules")
                if schedule
                else None,
                "user": render_user(ctx, user) if full_users else ctx.user_ref(user.id),
                "start": ctx.fmt(row["start"]),
                "end": ctx.fmt(row["end"]),
            }
        )
    return 200, ctx.page("oncalls", rendered)
