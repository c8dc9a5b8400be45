"""PagerDuty's side of HTTP under /pagerduty: auth, the account-wide limit, routing, error bodies."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from oncall_sandbox.core import SANDBOX, TARGET, Sandbox
from oncall_sandbox.limits import retry_after
from oncall_sandbox.pagerduty.call import PREFIX, ROUTES, Ctx, PagerDutyError, not_found


def _reply(status: int, payload: Any, headers: dict[str, str]) -> web.Response:
    if status == 204:
        return web.Response(status=204, headers=headers)
    return web.json_response(payload, status=status, headers=headers, dumps=json.dumps)


def request_key(method: str, path: str) -> str:
    """`GET /pagerduty/schedules/PX/overrides` -> `GET /schedules/PX/overrides`, what routes match."""
    return f"{method} /" + path.removeprefix(PREFIX).strip("/")


def template(method: str, path: str) -> str:
    """The canonical name of a request: its route key (`GET /schedules/{id}/overrides`).

    Paths no route serves get PD's usual shape (second segment an id) so 404s group sensibly."""
    key = request_key(method, path)
    found = ROUTES.match(key)
    if found is not None:
        return found[0].key
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


def _rate_limit(sandbox: Sandbox, headers: dict[str, str]) -> None:
    """The account-wide budget (PD's REST limit is per account): fills `headers`, raises 429 when spent."""
    if not sandbox.limits.enabled:
        return
    limit, window = sandbox.limits.pagerduty_per_minute, sandbox.limits.pagerduty_window
    wait = sandbox.pagerduty_window.hit("account", limit, window)
    headers["ratelimit-limit"] = str(limit)
    headers["ratelimit-remaining"] = str(sandbox.pagerduty_window.remaining("account", limit, window))
    headers["ratelimit-reset"] = str(
        retry_after(wait) if wait else max(sandbox.pagerduty_window.reset_in("account", window), 1)
    )
    if wait:
        raise PagerDutyError(429, "Rate Limit Exceeded", 2020)


async def handle(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    headers: dict[str, str] = {}
    try:
        _authenticate(request, sandbox)
        _rate_limit(sandbox, headers)
        found = ROUTES.match(request_key(request.method, request.path))
        if found is None:
            raise not_found()
        route, args = found
        ctx = Ctx(request, sandbox, args, await request.read())
        try:
            status, payload = route.handler(ctx)
        finally:
            if route.writes:
                request[TARGET] = ctx.target or args.get("id")
    except PagerDutyError as error:
        return _reply(error.status, error.body(), headers)
    return _reply(status, payload, headers)


def routes() -> list[web.RouteDef]:
    return [web.route("*", PREFIX + "{tail:(/.*)?}", handle)]
