"""Slack's side of HTTP under /api/<method>: arguments, auth, scopes, tiers, and the JSON envelope."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from oncall_sandbox.core import SANDBOX, TARGET
from oncall_sandbox.limits import retry_after
from oncall_sandbox.slack.call import METHODS, Call, SlackError

PREFIX = "/api/"


async def read_params(request: web.Request) -> dict[str, Any]:
    """Query string, then a form or JSON body on top (Slack accepts all three)."""
    params: dict[str, Any] = dict(request.query)
    body = await request.read()
    if not body:
        return params
    ctype = request.content_type
    if ctype == "application/json":
        try:
            data = json.loads(body)
        except json.JSONDecodeError:
            raise SlackError("invalid_json") from None
        if not isinstance(data, dict):
            raise SlackError("json_not_object")
        params.update(data)
    elif ctype in ("application/x-www-form-urlencoded", "", "application/octet-stream"):
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    elif ctype.startswith("multipart/"):
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def _reply(payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(payload, status=status, headers=headers, dumps=json.dumps)


async def handle(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    slack = sandbox.state.slack
    name = request.match_info["method"]
    try:
        params = await read_params(request)
    except SlackError as error:
        return _reply({"ok": False, "error": error.error})
    found = METHODS.match(name)
    if found is None:
        return _reply({"ok": False, "error": "unknown_method", "req_method": name}, status=404)
    method, _ = found
    header = request.headers.get("Authorization", "")
    secret = (
        header[7:].strip() if header.lower().startswith("bearer ") else str(params.pop("token", "") or "")
    )
    params.pop("token", None)
    if not secret:
        return _reply({"ok": False, "error": "not_authed"})
    token = slack.tokens.get(secret)
    if token is None or token.revoked:
        return _reply({"ok": False, "error": "invalid_auth"})
    headers = {"X-OAuth-Scopes": ",".join(sorted(token.scopes))}
    if method.scope:
        headers["X-Accepted-OAuth-Scopes"] = method.scope
    if sandbox.limits.enabled:
        limit, window = sandbox.slack_limit(name)
        key = f"{secret}|{name}"
        if name == "chat.postMessage":
            key += "|" + str(params.get("channel", ""))
        wait = sandbox.slack_windows.hit(key, limit, window)
        if wait:
            headers["Retry-After"] = str(retry_after(wait))
            return _reply({"ok": False, "error": "ratelimited"}, status=429, headers=headers)
    call = Call(sandbox, slack, token, params)
    try:
        if method.scope:
            call.require(method.scope)
        result = method.handler(call)
    except SlackError as error:
        return _reply({"ok": False, "error": error.error, **error.extra}, headers=headers)
    finally:
        if method.writes:
            request[TARGET] = call.target or call.text("usergroup") or call.text("channel") or None
    return _reply({"ok": True, **result}, headers=headers)


def routes() -> list[web.RouteDef]:
    return [web.route("*", PREFIX + "{method}", handle)]
