"""The middleware every API request passes: faults before (or around) the handler, then the request log."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from oncall_sandbox import fault_answers
from oncall_sandbox import pagerduty as pagerduty_api
from oncall_sandbox import slack as slack_api
from oncall_sandbox.core import SANDBOX
from oncall_sandbox.faults import AFTER_HANDLER, Fault

Handler = Any  # aiohttp's middleware handler type is not exported in a typed form


def classify(request: web.Request) -> tuple[str, str] | None:
    """(api, method) of an API request, the method as logs and faults name it; None for the rest."""
    path = request.path
    if path.startswith(slack_api.PREFIX):
        return "slack", path[len(slack_api.PREFIX) :]
    if path == pagerduty_api.PREFIX or path.startswith(pagerduty_api.PREFIX + "/"):
        return "pagerduty", pagerduty_api.template(request.method, path)
    return None


def _drop(request: web.Request) -> web.Response:
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=599)


def _offset(request: web.Request) -> int:
    try:
        return int(request.query.get("offset", "0"))
    except ValueError:
        return 0


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Faults before the handler (a faulted write changes nothing) or around it, then the request log."""
    kind = classify(request)
    if kind is None:
        passthrough: web.StreamResponse = await handler(request)
        return passthrough
    api, method = kind
    sandbox = request.app[SANDBOX]
    body = await request.read()
    after: list[Fault] = []
    response: web.StreamResponse | None = None
    for fault in sandbox.faults.firing(api, method, sandbox.state.random):
        if fault.kind == "latency":
            await asyncio.sleep(fault.latency_seconds)
        elif fault.kind in AFTER_HANDLER:
            after.append(fault)
        elif fault.kind in ("drop_connection", "timeout"):
            if fault.kind == "timeout":
                await asyncio.sleep(fault.latency_seconds)
            sandbox.record(request, api, method, 0, body, None)
            return _drop(request)
        elif fault.kind in ("headers_then_silence", "huge_body"):
            sandbox.record(request, api, method, 200, body, None)
            if fault.kind == "huge_body":
                return await fault_answers.huge_body(request, api, fault)
            return await fault_answers.headers_then_silence(request, fault)
        else:
            response = fault_answers.canned(api, fault)
            break
    if response is None:
        served = request
        if any(f.kind == "paging_loop" and f.mode == "same_page" for f in after):
            served = request.clone(rel_url=request.rel_url.without_query_params("offset"))
        response = await handler(served)
        for fault in after:
            if not isinstance(response, web.Response):
                break
            if fault.kind == "drip_feed":
                sandbox.record(request, api, method, response.status, body, None)
                return await fault_answers.drip_feed(request, fault, response)
            if fault.kind == "paging_loop":
                response = fault_answers.paging_loop(fault, response, _offset(request))
            else:
                response = fault_answers.spoiled(api, fault, response)
    sandbox.record(request, api, method, response.status, body, response)
    return response
