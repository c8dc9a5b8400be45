"""The control API under /_sandbox/: clock, state inspection, seeding, tokens, limits, faults, logs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oncall_sandbox import slack
from oncall_sandbox.core import SANDBOX, Sandbox, request_entry
from oncall_sandbox.faults import Fault
from oncall_sandbox.seed import SeedError, parse_seed
from oncall_sandbox.state import Token

PREFIX = "/_sandbox"
M = TypeVar("M", bound=BaseModel)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClockBody(Body):
    now: datetime | None = None
    advance_seconds: float | None = None


class TokenBody(Body):
    api: Literal["slack", "pagerduty"]
    token: str = Field(min_length=1)
    scopes: list[str] | None = None
    revoked: bool = False


class RateLimitBody(Body):
    api: Literal["slack", "pagerduty"] | None = None
    method: str | None = None
    per_minute: int | None = Field(default=None, gt=0)
    # Tests shrink the window so Retry-After is short: per_minute requests per window_seconds.
    window_seconds: float = Field(default=60.0, gt=0)
    enabled: bool | None = None


class RecordBody(Body):
    enabled: bool


def json_reply(payload: Any, status: int = 200) -> web.Response:
    return web.json_response(payload, status=status, dumps=lambda v: json.dumps(v, default=str))


def bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


async def read_body(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(await request.json())
    except (json.JSONDecodeError, ValidationError) as error:
        raise bad_request(str(error)) from None


def sandbox_of(request: web.Request) -> Sandbox:
    return request.app[SANDBOX]


def _clock(sandbox: Sandbox) -> dict[str, Any]:
    return {"now": sandbox.clock.now().isoformat(), "time_scale": sandbox.clock.time_scale}


async def get_clock(request: web.Request) -> web.Response:
    return json_reply(_clock(sandbox_of(request)))


async def post_clock(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    body = await read_body(request, ClockBody)
    if body.now is not None:
        if body.now.tzinfo is None:
            raise bad_request("now needs a UTC offset")
        sandbox.clock.set(body.now)
    if body.advance_seconds is not None:
        sandbox.clock.advance(body.advance_seconds)
    return json_reply(_clock(sandbox))


async def load(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    try:
        document = await request.json()
        seed = parse_seed(document, "POST /_sandbox/load")
    except json.JSONDecodeError as error:
        raise bad_request(f"POST /_sandbox/load: (top level): not valid JSON: {error}") from None
    except SeedError as error:
        raise bad_request(str(error)) from None
    sandbox.state.load(seed)
    sandbox.reloaded()
    return json_reply({"ok": True})


async def reset(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    sandbox.state.reset()
    sandbox.reloaded()
    return json_reply({"ok": True})


async def tokens(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    body = await read_body(request, TokenBody)
    if body.api == "slack":
        slack = sandbox.state.slack
        existing = slack.tokens.get(body.token)
        scopes = set(body.scopes) if body.scopes is not None else (existing.scopes if existing else set())
        slack.tokens[body.token] = Token(body.token, scopes, body.revoked)
    elif body.revoked:
        sandbox.state.pagerduty.tokens.discard(body.token)
    else:
        sandbox.state.pagerduty.tokens.add(body.token)
    return json_reply({"ok": True})


async def rate_limits(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    if request.method == "POST":
        body = await read_body(request, RateLimitBody)
        if body.enabled is not None:
            sandbox.limits.enabled = body.enabled
        if body.per_minute is not None:
            if body.api == "slack":
                if not body.method:
                    raise bad_request("slack limits need a method")
                sandbox.limits.slack[body.method] = (body.per_minute, body.window_seconds)
            elif body.api == "pagerduty":
                sandbox.limits.pagerduty_per_minute = body.per_minute
                sandbox.limits.pagerduty_window = body.window_seconds
            else:
                raise bad_request("api is required with per_minute")
        # A changed limit starts from a clean window so tests are deterministic.
        sandbox.slack_windows.clear()
        sandbox.pagerduty_window.clear()
    return json_reply(
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
    sandbox = sandbox_of(request)
    if request.method == "POST":
        fault = sandbox.faults.add(await read_body(request, Fault))
        return json_reply({"id": fault.id})
    if request.method == "DELETE":
        sandbox.faults.clear()
        return json_reply({"ok": True})
    return json_reply([f.model_dump() for f in sandbox.faults.all()])


async def requests_log(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    if request.method == "DELETE":
        sandbox.requests.clear()
        sandbox.stats.clear()
        return json_reply({"ok": True})
    since = int(request.query.get("since", "0"))
    api = request.query.get("api")
    method = request.query.get("method")
    return json_reply(
        [
            request_entry(r)
            for r in sandbox.requests
            if r.seq > since and (api is None or r.api == api) and (method is None or r.method == method)
        ]
    )


async def stats(request: web.Request) -> web.Response:
    out: dict[str, dict[str, dict[str, int]]] = {}
    for (api, method, status), count in sorted(sandbox_of(request).stats.items()):
        out.setdefault(api, {}).setdefault(method, {})[str(status)] = count
    return json_reply(out)


async def exchanges(request: web.Request) -> web.Response:
    sandbox = sandbox_of(request)
    if request.method == "DELETE":
        sandbox.exchanges.clear()
        return json_reply({"ok": True})
    if request.method == "POST":
        sandbox.record_exchanges = (await read_body(request, RecordBody)).enabled
        return json_reply({"enabled": sandbox.record_exchanges})
    since = int(request.query.get("since", "0"))
    return json_reply([e for e in sandbox.exchanges if e["seq"] > since])


async def healthz(request: web.Request) -> web.Response:
    return json_reply({"ok": True, "now": sandbox_of(request).clock.now().isoformat()})


def routes() -> list[web.RouteDef]:
    p = PREFIX
    return [
        web.get(f"{p}/healthz", healthz),
        web.get(f"{p}/clock", get_clock),
        web.post(f"{p}/clock", post_clock),
        web.post(f"{p}/load", load),
        web.post(f"{p}/reset", reset),
        web.post(f"{p}/tokens", tokens),
        web.route("*", f"{p}/rate_limits", rate_limits),
        web.route("*", f"{p}/faults", faults),
        web.route("*", f"{p}/requests", requests_log),
        web.get(f"{p}/stats", stats),
        web.route("*", f"{p}/exchanges", exchanges),
    ]
