"""The control API under /_sandbox/: clock, state inspection, seeding, tokens, limits, faults, logs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oncall_sandbox import oncall, slack
from oncall_sandbox.core import SANDBOX, Sandbox, request_entry
from oncall_sandbox.faults import Fault
from oncall_sandbox.seed import SeedError, SlackPlan, parse_seed
from oncall_sandbox.state import Token

PREFIX = "/_sandbox"
M = TypeVar("M", bound=BaseModel)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClockBody(_Body):
    now: datetime | None = None
    advance_seconds: float | None = None


class TokenBody(_Body):
    api: Literal["slack", "pagerduty"]
    token: str = Field(min_length=1)
    scopes: list[str] | None = None
    revoked: bool = False


class RateLimitBody(_Body):
    api: Literal["slack", "pagerduty"] | None = None
    method: str | None = None
    per_minute: int | None = Field(default=None, gt=0)
    # Tests shrink the window so Retry-After is short: per_minute requests per window_seconds.
    window_seconds: float = Field(default=60.0, gt=0)
    enabled: bool | None = None


class PlanBody(_Body):
    plan: SlackPlan


class RecordBody(_Body):
    enabled: bool


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.json_response(payload, status=status, dumps=lambda v: json.dumps(v, default=str))


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


async def _body(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(await request.json())
    except (json.JSONDecodeError, ValidationError) as error:
        raise _bad(str(error)) from None


def _sandbox(request: web.Request) -> Sandbox:
    return request.app[SANDBOX]


def _clock(sandbox: Sandbox) -> dict[str, Any]:
    return {"now": sandbox.clock.now().isoformat(), "time_scale": sandbox.clock.time_scale}


async def get_clock(request: web.Request) -> web.Response:
    return _json(_clock(_sandbox(request)))


async def post_clock(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    body = await _body(request, ClockBody)
    if body.now is not None:
        if body.now.tzinfo is None:
            raise _bad("now needs a UTC offset")
        sandbox.clock.set(body.now)
    if body.advance_seconds is not None:
        sandbox.clock.advance(body.advance_seconds)
    return _json(_clock(sandbox))


async def usergroups(request: web.Request) -> web.Response:
    slack = _sandbox(request).state.slack
    return _json(
        [
            {
                "id": g.id,
                "handle": g.handle,
                "name": g.name,
                "users": list(g.users),
                "enabled": not g.date_delete,
                "date_update": g.date_update,
                "updates": g.updates,
            }
            for g in slack.usergroups.values()
        ]
    )


async def messages(request: web.Request) -> web.Response:
    channel = request.query.get("channel")
    slack = _sandbox(request).state.slack
    return _json(
        [
            {"channel": m["channel"], "text": m["text"], "ts": m["ts"], "blocks": m["blocks"]}
            for m in slack.messages
            if channel is None or m["channel"] == channel
        ]
    )


async def topics(request: web.Request) -> web.Response:
    slack = _sandbox(request).state.slack
    return _json(
        {c.id: {"topic": c.topic, "history": list(c.topic_history)} for c in slack.channels.values()}
    )


async def slack_plan(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    if request.method == "POST":
        sandbox.state.slack.plan = (await _body(request, PlanBody)).plan
    return _json({"plan": sandbox.state.slack.plan})


async def pd_users(request: web.Request) -> web.Response:
    pd = _sandbox(request).state.pagerduty
    return _json(
        [
            {
                "id": u.id,
                "name": u.name,
                "email": u.email,
                "time_zone": u.time_zone,
                "open_incidents": u.open_incidents,
            }
            for u in pd.users.values()
        ]
    )


async def pd_deleted_users(request: web.Request) -> web.Response:
    return _json(list(_sandbox(request).state.pagerduty.deleted_users))


async def oncall_now(request: web.Request) -> web.Response:
    """Who is on call at `at`, per schedule and per policy level, straight from the engine."""
    sandbox = _sandbox(request)
    pd = sandbox.state.pagerduty
    raw = request.query.get("at")
    try:
        at = (
            datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
            if raw
            else sandbox.clock.now()
        )
    except ValueError:
        raise _bad("at must be an ISO 8601 time") from None
    if at.tzinfo is None:
        raise _bad("at needs a UTC offset")
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
    return _json(
        {
            "at": at.isoformat(),
            "schedules": schedules,
            "shifts": shifts,
            "escalation_policies": policies,
            "emails": emails,
        }
    )


async def load(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    try:
        document = await request.json()
        seed = parse_seed(document, "POST /_sandbox/load")
    except json.JSONDecodeError as error:
        raise _bad(f"POST /_sandbox/load: (top level): not valid JSON: {error}") from None
    except SeedError as error:
        raise _bad(str(error)) from None
    sandbox.state.load(seed)
    sandbox.reloaded()
    return _json({"ok": True})


async def reset(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    sandbox.state.reset()
    sandbox.reloaded()
    return _json({"ok": True})


async def tokens(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    body = await _body(request, TokenBody)
    if body.api == "slack":
        slack = sandbox.state.slack
        existing = slack.tokens.get(body.token)
        scopes = set(body.scopes) if body.scopes is not None else (existing.scopes if existing else set())
        slack.tokens[body.token] = Token(body.token, scopes, body.revoked)
    elif body.revoked:
        sandbox.state.pagerduty.tokens.discard(body.token)
    else:
        sandbox.state.pagerduty.tokens.add(body.token)
    return _json({"ok": True})


async def rate_limits(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    if request.method == "POST":
        body = await _body(request, RateLimitBody)
        if body.enabled is not None:
            sandbox.limits.enabled = body.enabled
        if body.per_minute is not None:
            if body.api == "slack":
                if not body.method:
                    raise _bad("slack limits need a method")
                sandbox.limits.slack[body.method] = (body.per_minute, body.window_seconds)
            elif body.api == "pagerduty":
                sandbox.limits.pagerduty_per_minute = body.per_minute
                sandbox.limits.pagerduty_window = body.window_seconds
            else:
                raise _bad("api is required with per_minute")
        # A changed limit starts from a clean window so tests are deterministic.
        sandbox.slack_windows.clear()
        sandbox.pagerduty_window.clear()
    return _json(
        {
            "enabled": sandbox.limits.enabled,
            "slack": {
                m: sandbox.slack_limit(m)[0] for m in sorted(set(sandbox.limits.slack) | _slack_methods())
            },
            "pagerduty": sandbox.limits.pagerduty_per_minute,
        }
    )


def _slack_methods() -> set[str]:
    return slack.METHODS.keys()


async def faults(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    if request.method == "POST":
        fault = sandbox.faults.add(await _body(request, Fault))
        return _json({"id": fault.id})
    if request.method == "DELETE":
        sandbox.faults.clear()
        return _json({"ok": True})
    return _json([f.model_dump() for f in sandbox.faults.all()])


async def requests_log(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    if request.method == "DELETE":
        sandbox.requests.clear()
        sandbox.stats.clear()
        return _json({"ok": True})
    since = int(request.query.get("since", "0"))
    api = request.query.get("api")
    method = request.query.get("method")
    return _json(
        [
            request_entry(r)
            for r in sandbox.requests
            if r[0] > since and (api is None or r[1] == api) and (method is None or r[2] == method)
        ]
    )


async def stats(request: web.Request) -> web.Response:
    out: dict[str, dict[str, dict[str, int]]] = {}
    for (api, method, status), count in sorted(_sandbox(request).stats.items()):
        out.setdefault(api, {}).setdefault(method, {})[str(status)] = count
    return _json(out)


async def exchanges(request: web.Request) -> web.Response:
    sandbox = _sandbox(request)
    if request.method == "DELETE":
        sandbox.exchanges.clear()
        return _json({"ok": True})
    if request.method == "POST":
        sandbox.record_exchanges = (await _body(request, RecordBody)).enabled
        return _json({"enabled": sandbox.record_exchanges})
    since = int(request.query.get("since", "0"))
    return _json([e for e in sandbox.exchanges if e["seq"] > since])


async def healthz(request: web.Request) -> web.Response:
    return _json({"ok": True, "now": _sandbox(request).clock.now().isoformat()})


def routes() -> list[web.RouteDef]:
    p = PREFIX
    return [
        web.get(f"{p}/healthz", healthz),
        web.get(f"{p}/clock", get_clock),
        web.post(f"{p}/clock", post_clock),
        web.get(f"{p}/slack/usergroups", usergroups),
        web.get(f"{p}/slack/messages", messages),
        web.get(f"{p}/slack/topics", topics),
        web.route("*", f"{p}/slack/plan", slack_plan),
        web.get(f"{p}/pagerduty/users", pd_users),
        web.get(f"{p}/pagerduty/deleted_users", pd_deleted_users),
        web.get(f"{p}/oncall", oncall_now),
        web.post(f"{p}/load", load),
        web.post(f"{p}/reset", reset),
        web.post(f"{p}/tokens", tokens),
        web.route("*", f"{p}/rate_limits", rate_limits),
        web.route("*", f"{p}/faults", faults),
        web.route("*", f"{p}/requests", requests_log),
        web.get(f"{p}/stats", stats),
        web.route("*", f"{p}/exchanges", exchanges),
    ]
