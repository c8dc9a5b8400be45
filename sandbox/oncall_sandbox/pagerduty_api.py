"""PagerDuty REST API v2 subset under /pagerduty: classic pagination, PD error bodies, on-call rendering."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from oncall_sandbox import oncall
from oncall_sandbox.core import SANDBOX, Sandbox
from oncall_sandbox.limits import retry_after
from oncall_sandbox.seed import EscalationPolicy, PagerDutyUser, Schedule, ScheduleOverride
from oncall_sandbox.state import PagerDutyState

PREFIX = "/pagerduty"
OFFSET_CAP = 10_000  # PD refuses classic pagination past offset+limit 10,000
MAX_RANGE = timedelta(days=90)  # /oncalls and schedule renders accept at most about three months


class PagerDutyError(Exception):
    def __init__(self, status: int, message: str, code: int, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.errors = status, message, code, errors or []

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            error["errors"] = self.errors
        return {"error": error}


def invalid(*errors: str) -> PagerDutyError:
    return PagerDutyError(400, "Invalid Input Provided", 2001, list(errors))


def not_found() -> PagerDutyError:
    return PagerDutyError(404, "Not Found", 2100)


class Ctx:
    """One request: the state, the base URL for `self` links, and parameter helpers."""

    def __init__(self, request: web.Request, sandbox: Sandbox) -> None:
        self.request = request
        self.sandbox = sandbox
        self.pd: PagerDutyState = sandbox.state.pagerduty
        self.base = f"{request.scheme}://{request.host}{PREFIX}"
        self.html = f"https://{self.pd.subdomain}.pagerduty.com"
        self.zone = self._zone()

    def _zone(self) -> ZoneInfo:
        name = self.request.query.get("time_zone", "UTC")
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise invalid("Time Zone is invalid.") from None

    def many(self, name: str) -> list[str]:
        q = self.request.query
        values = q.getall(f"{name}[]", []) + q.getall(name, [])
        return [v for value in values for v in value.split(",") if v]

    def flag(self, name: str) -> bool:
        return self.request.query.get(name, "false").lower() == "true"

    def time(self, name: str, default: datetime) -> datetime:
        raw = self.request.query.get(name)
        if not raw:
            return default
        try:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
        except ValueError:
            raise PagerDutyError(400, "Invalid 'since' or 'until' Parameter Values", 2004) from None
        if value.tzinfo is None:
            # PD reads offset-less times in the requested time zone.
            value = value.replace(tzinfo=self.zone)
        return value.astimezone(UTC)

    def fmt(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        text = value.astimezone(self.zone).isoformat(timespec="seconds")
        return text.replace("+00:00", "Z") if self.zone.key == "UTC" else text

    def ref(self, kind: str, object_id: str, summary: str, collection: str) -> dict[str, Any]:
        return {
            "id": object_id,
            "type": f"{kind}_reference",
            "summary": summary,
            "self": f"{self.base}/{collection}/{object_id}",
            "html_url": f"{self.html}/{collection}/{object_id}",
        }

    def user_ref(self, user_id: str) -> dict[str, Any]:
        user = self.pd.users.get(user_id)
        return self.ref("user", user_id, user.name if user else "Deleted User", "users")

    def page(self, key: str, items: list[Any]) -> dict[str, Any]:
        q = self.request.query
        try:
            limit = int(q.get("limit", "25"))
            offset = int(q.get("offset", "0"))
        except ValueError:
            raise invalid("Limit and offset must be integers.") from None
        if limit < 1 or offset < 0:
            raise invalid("Limit must be positive and offset non-negative.")
        limit = min(limit, 100)
        if offset + limit > OFFSET_CAP:
            raise invalid(f"Offset must be less than {OFFSET_CAP}.")
        chunk = items[offset : offset + limit]
        return {
            key: chunk,
            "limit": limit,
            "offset": offset,
            "more": offset + limit < len(items),
            "total": len(items) if self.flag("total") else None,
        }

    def includes(self) -> set[str]:
        return set(self.many("include"))


# --- rendering ------------------------------------------------------------------------------------


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


def _policies_using(ctx: Ctx, schedule_id: str) -> list[EscalationPolicy]:
    return [
        ep
        for ep in ctx.pd.policies.values()
        if any(t.type == "schedule_reference" and t.id == schedule_id for r in ep.rules for t in r.targets)
    ]


def _entries(ctx: Ctx, entries: list[oncall.Entry]) -> list[dict[str, Any]]:
    return [{"start": ctx.fmt(e.start), "end": ctx.fmt(e.end), "user": ctx.user_ref(e.user)} for e in entries]


def _coverage(entries: list[oncall.Entry], since: datetime, until: datetime) -> float:
    span = (until - since).total_seconds()
    if span <= 0:
        return 0.0
    covered = sum((e.end - e.start).total_seconds() for e in entries)
    return round(100.0 * covered / span, 2)


def render_override(ctx: Ctx, override: ScheduleOverride) -> dict[str, Any]:
    return {
        "id": override.id,
        "start": ctx.fmt(override.start),
        "end": ctx.fmt(override.end),
        "user": ctx.user_ref(override.user),
    }


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
            for ep in _policies_using(ctx, schedule.id)
        ],
        "users": [ctx.user_ref(u) for u in users if u in ctx.pd.users],
        "teams": [
            ctx.ref("team", t, ctx.pd.teams[t].name, "teams") for t in schedule.teams if t in ctx.pd.teams
        ],
    }
    if not full:
        return out
    now = ctx.sandbox.clock.now()
    since = ctx.time("since", now)
    until = ctx.time("until", since + timedelta(days=7))
    if until < since or until - since > MAX_RANGE:
        raise PagerDutyError(400, "Invalid Query Date Range", 2005)
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
                "rendered_schedule_entries": _entries(ctx, oncall.merge(entries)),
                "rendered_coverage_percentage": _coverage(entries, since, until),
            }
        )
    overrides = oncall.override_entries(schedule.overrides, since, until)
    final = oncall.final_entries(schedule, since, until)
    out["schedule_layers"] = layers
    out["overrides_subschedule"] = {
        "name": "Overrides",
        "rendered_schedule_entries": _entries(ctx, overrides),
        "rendered_coverage_percentage": _coverage(
            oncall.merge(sorted(overrides, key=lambda e: e.start)), since, until
        ),
    }
    out["final_schedule"] = {
        "name": "Final Schedule",
        "rendered_schedule_entries": _entries(ctx, final),
        "rendered_coverage_percentage": _coverage(final, since, until),
    }
    return out


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
        "teams": [
            ctx.ref("team", t, ctx.pd.teams[t].name, "teams") for t in policy.teams if t in ctx.pd.teams
        ],
    }


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


def _query_filter(ctx: Ctx, *fields: str) -> str:
    return ctx.request.query.get("query", "").strip().lower()


# --- handlers -------------------------------------------------------------------------------------


def list_users(ctx: Ctx) -> tuple[int, Any]:
    query = _query_filter(ctx)
    team_ids = set(ctx.many("team_ids"))
    users = sorted(ctx.pd.users.values(), key=lambda u: (u.name.lower(), u.id))
    if query:
        users = [u for u in users if query in u.name.lower() or query in u.email.lower()]
    if team_ids:
        users = [
            u for u in users if any(u.id in ctx.pd.teams[t].members for t in team_ids if t in ctx.pd.teams)
        ]
    return 200, ctx.page("users", [render_user(ctx, u) for u in users])


def get_user(ctx: Ctx, user_id: str) -> tuple[int, Any]:
    user = ctx.pd.users.get(user_id)
    if user is None:
        raise not_found()
    return 200, {"user": render_user(ctx, user)}


def delete_user(ctx: Ctx, user_id: str) -> tuple[int, Any]:
    pd = ctx.pd
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


def list_schedules(ctx: Ctx) -> tuple[int, Any]:
    query = _query_filter(ctx)
    schedules = sorted(ctx.pd.schedules.values(), key=lambda s: (s.name.lower(), s.id))
    if query:
        schedules = [s for s in schedules if query in s.name.lower()]
    return 200, ctx.page("schedules", [render_schedule(ctx, s, full=False) for s in schedules])


def get_schedule(ctx: Ctx, schedule_id: str) -> tuple[int, Any]:
    schedule = ctx.pd.schedules.get(schedule_id)
    if schedule is None:
        raise not_found()
    return 200, {"schedule": render_schedule(ctx, schedule, full=True)}


def list_overrides(ctx: Ctx, schedule_id: str) -> tuple[int, Any]:
    schedule = ctx.pd.schedules.get(schedule_id)
    if schedule is None:
        raise not_found()
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


def create_overrides(ctx: Ctx, schedule_id: str, body: Any) -> tuple[int, Any]:
    schedule = ctx.pd.schedules.get(schedule_id)
    if schedule is None:
        raise not_found()
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


def delete_override(ctx: Ctx, schedule_id: str, override_id: str) -> tuple[int, Any]:
    schedule = ctx.pd.schedules.get(schedule_id)
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


def list_policies(ctx: Ctx) -> tuple[int, Any]:
    query = _query_filter(ctx)
    user_ids = set(ctx.many("user_ids"))
    team_ids = set(ctx.many("team_ids"))
    policies = sorted(ctx.pd.policies.values(), key=lambda p: (p.name.lower(), p.id))
    if query:
        policies = [p for p in policies if query in p.name.lower()]
    if team_ids:
        policies = [p for p in policies if team_ids & set(p.teams)]
    if user_ids:
        policies = [
            p
            for p in policies
            if any(
                (t.type == "user_reference" and t.id in user_ids)
                or (
                    t.type == "schedule_reference"
                    and t.id in ctx.pd.schedules
                    and user_ids & {u for layer in ctx.pd.schedules[t.id].layers for u in layer.users}
                )
                for r in p.rules
                for t in r.targets
            )
        ]
    return 200, ctx.page("escalation_policies", [render_policy(ctx, p) for p in policies])


def get_policy(ctx: Ctx, policy_id: str) -> tuple[int, Any]:
    policy = ctx.pd.policies.get(policy_id)
    if policy is None:
        raise not_found()
    return 200, {"escalation_policy": render_policy(ctx, policy)}


def list_teams(ctx: Ctx) -> tuple[int, Any]:
    query = _query_filter(ctx)
    teams = sorted(ctx.pd.teams.values(), key=lambda t: (t.name.lower(), t.id))
    if query:
        teams = [t for t in teams if query in t.name.lower()]
    return 200, ctx.page("teams", [render_team(ctx, t.id) for t in teams])


def get_team(ctx: Ctx, team_id: str) -> tuple[int, Any]:
    if team_id not in ctx.pd.teams:
        raise not_found()
    return 200, {"team": render_team(ctx, team_id)}


def team_members(ctx: Ctx, team_id: str) -> tuple[int, Any]:
    team = ctx.pd.teams.get(team_id)
    if team is None:
        raise not_found()
    members = [
        {"user": ctx.user_ref(m), "role": "manager" if i == 0 else "responder"}
        for i, m in enumerate(team.members)
        if m in ctx.pd.users
    ]
    return 200, ctx.page("members", members)


def remove_team_user(ctx: Ctx, team_id: str, user_id: str) -> tuple[int, Any]:
    team = ctx.pd.teams.get(team_id)
    if team is None or user_id not in ctx.pd.users:
        raise not_found()
    team.members = [m for m in team.members if m != user_id]
    return 204, None


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


def list_oncalls(ctx: Ctx) -> tuple[int, Any]:
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
        earliest: dict[tuple[str, str, int], dict[str, Any]] = {}
        for row in rows:
            key = (row["user"], row["policy"].id, row["level"])
            best = earliest.get(key)
            if best is None or (row["start"] or datetime.min.replace(tzinfo=UTC)) < (
                best["start"] or datetime.min.replace(tzinfo=UTC)
            ):
                earliest[key] = row
        rows = [r for r in rows if earliest.get((r["user"], r["policy"].id, r["level"])) is r]
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


# --- transport ------------------------------------------------------------------------------------


def _reply(status: int, payload: Any, headers: dict[str, str]) -> web.Response:
    if status == 204:
        return web.Response(status=204, headers=headers)
    return web.json_response(payload, status=status, headers=headers, dumps=json.dumps)


def template(method: str, path: str) -> str:
    """`GET /schedules/PABC123/overrides` -> `GET /schedules/{id}/overrides` (PD's canonical paths)."""
    parts = path.removeprefix(PREFIX).strip("/").split("/")
    out = []
    for i, part in enumerate(parts):
        if i == 1:
            out.append("{id}")
        elif i == 3 and parts[2] == "overrides":
            out.append("{override_id}")
        elif i == 3 and parts[2] == "users":
            out.append("{user_id}")
        else:
            out.append(part)
    return f"{method} /" + "/".join(out)


def _authenticate(request: web.Request, sandbox: Sandbox) -> None:
    header = request.headers.get("Authorization", "")
    token = header.split("token=", 1)[1].strip() if header.lower().startswith("token token=") else ""
    if token not in sandbox.state.pagerduty.tokens:
        raise PagerDutyError(401, "Authentication failed", 2006)


async def handle(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    headers: dict[str, str] = {}
    try:
        _authenticate(request, sandbox)
        limit, window = sandbox.limits.pagerduty_per_minute, sandbox.limits.pagerduty_window
        if sandbox.limits.enabled:
            # One bucket for the whole account, as PD's REST limit is account-wide.
            wait = sandbox.pagerduty_window.hit("account", limit, window)
            headers = {
                "ratelimit-limit": str(limit),
                "ratelimit-remaining": str(sandbox.pagerduty_window.remaining("account", limit, window)),
                "ratelimit-reset": str(
                    retry_after(wait)
                    if wait
                    else max(sandbox.pagerduty_window.reset_in("account", window), 1)
                ),
            }
            if wait:
                raise PagerDutyError(429, "Rate Limit Exceeded", 2020)
        ctx = Ctx(request, sandbox)
        status, payload = await _dispatch(request, ctx)
    except PagerDutyError as error:
        return _reply(error.status, error.body(), headers)
    return _reply(status, payload, headers)


async def _dispatch(request: web.Request, ctx: Ctx) -> tuple[int, Any]:
    parts = request.path.removeprefix(PREFIX).strip("/").split("/")
    verb = request.method
    match verb, parts:
        case "GET", ["oncalls"]:
            return list_oncalls(ctx)
        case "GET", ["users"]:
            return list_users(ctx)
        case "GET", ["users", user_id]:
            return get_user(ctx, user_id)
        case "DELETE", ["users", user_id]:
            return delete_user(ctx, user_id)
        case "GET", ["schedules"]:
            return list_schedules(ctx)
        case "GET", ["schedules", schedule_id]:
            return get_schedule(ctx, schedule_id)
        case "GET", ["schedules", schedule_id, "overrides"]:
            return list_overrides(ctx, schedule_id)
        case "POST", ["schedules", schedule_id, "overrides"]:
            try:
                body = json.loads(await request.read() or b"null")
            except json.JSONDecodeError:
                raise invalid("Request body is not valid JSON.") from None
            return create_overrides(ctx, schedule_id, body)
        case "DELETE", ["schedules", schedule_id, "overrides", override_id]:
            return delete_override(ctx, schedule_id, override_id)
        case "GET", ["escalation_policies"]:
            return list_policies(ctx)
        case "GET", ["escalation_policies", policy_id]:
            return get_policy(ctx, policy_id)
        case "GET", ["teams"]:
            return list_teams(ctx)
        case "GET", ["teams", team_id]:
            return get_team(ctx, team_id)
        case "GET", ["teams", team_id, "members"]:
            return team_members(ctx, team_id)
        case "DELETE", ["teams", team_id, "users", user_id]:
            return remove_team_user(ctx, team_id, user_id)
    raise not_found()


def routes() -> list[web.RouteDef]:
    return [web.route("*", PREFIX + "{tail:(/.*)?}", handle)]
