"""What a faulted request gets back: canned error answers, spoiled real answers, and streamed ones.

Streamed answers (drip_feed, headers_then_silence, huge_body) write to the socket themselves and
are never held in memory; they are logged with their status but not recorded as exchanges.
"""

from __future__ import annotations

import asyncio
import json
import time
from email.utils import formatdate
from http import HTTPStatus

from aiohttp import web

from oncall_sandbox.faults import Fault, edit_field
from oncall_sandbox.limits import retry_after

SLACK_STATUS_ERRORS = {503: "service_unavailable", 504: "request_timeout"}
# What an Envoy sidecar says when the upstream resets (a plain-text body a JSON client must survive).
PLAIN_TEXT = "upstream connect error or disconnect/reset before headers. reset reason: connection termination"
CHUNK = 64 * 1024


def html_page(status: int) -> str:
    """The error page a proxy (nginx) serves in front of an API."""
    title = (
        f"{status} {HTTPStatus(status).phrase}" if status in HTTPStatus._value2member_map_ else str(status)
    )
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )


def retry_after_header(value: int | str) -> str:
    if isinstance(value, int):
        return str(retry_after(value)) if value >= 0 else str(value)
    if value.startswith("http-date+"):
        return formatdate(time.time() + float(value.removeprefix("http-date+")), usegmt=True)
    return value


def canned(api: str, fault: Fault) -> web.Response:
    """An answer that replaces the handler's."""
    kind, status = fault.kind, fault.status
    if kind == "rate_limit":
        seconds = retry_after_header(fault.retry_after)
        if api == "slack":
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": seconds}
            )
        return web.json_response(
            {"error": {"message": "Rate Limit Exceeded", "code": 2020}},
            status=429,
            headers={"ratelimit-limit": "960", "ratelimit-remaining": "0", "ratelimit-reset": seconds},
        )
    if kind == "malformed_json":
        # A truncated body: the client's JSON decoder has to cope.
        return web.Response(
            status=200,
            body=b'{"ok": tru' if api == "slack" else b'{"oncalls": [',
            content_type="application/json",
        )
    if kind == "html_error":
        return web.Response(status=status, text=fault.text or html_page(status), content_type="text/html")
    if kind == "plain_text":
        return web.Response(status=status, text=fault.text or PLAIN_TEXT, content_type="text/plain")
    if kind == "json_body":
        return web.Response(status=status, text=json.dumps(fault.body), content_type="application/json")
    if api == "slack":
        error = SLACK_STATUS_ERRORS.get(status, "internal_error")
        return web.json_response({"ok": False, "error": error}, status=status)
    return web.json_response(
        {"error": {"message": "Service Unavailable" if status == 503 else "Internal Server Error"}},
        status=status,
    )


def spoiled(api: str, fault: Fault, response: web.Response) -> web.Response:
    """The handler's real answer, spoiled (`status_after_apply`, `drop_field`, `null_field`, `set_field`)."""
    if fault.kind == "status_after_apply":
        return canned(api, fault.model_copy(update={"kind": "status"}))
    if not isinstance(response.body, bytes) or not response.body:
        return response
    document = json.loads(response.body)
    if fault.kind == "set_field":
        edit_field(document, fault.field or "", drop=False, value=fault.body)
    else:
        edit_field(document, fault.field or "", drop=fault.kind == "drop_field")
    return _json_like(response, document)


def _json_like(response: web.Response, document: object) -> web.Response:
    headers = {
        k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")
    }
    return web.Response(
        status=response.status, text=json.dumps(document), content_type="application/json", headers=headers
    )


def paging_loop(fault: Fault, response: web.Response, requested_offset: int) -> web.Response:
    """A classic page turned into a loop: empty with more=true, or (same_page) the first page again."""
    if response.status != 200 or not isinstance(response.body, bytes):
        return response
    document = json.loads(response.body)
    if not isinstance(document, dict) or "more" not in document:
        return response
    if fault.mode == "empty_more":
        for key, value in document.items():
            if isinstance(value, list):
                document[key] = []
    document["offset"] = requested_offset
    document["more"] = True
    return _json_like(response, document)


async def _safe_write(stream: web.StreamResponse, data: bytes) -> bool:
    """False once the client has gone away."""
    try:
        await stream.write(data)
    except (ConnectionError, RuntimeError):
        return False
    return True


async def drip_feed(request: web.Request, fault: Fault, response: web.Response) -> web.StreamResponse:
    """The real status and headers at once, then the body one byte every `interval_seconds`."""
    body = response.body if isinstance(response.body, bytes) else b""
    stream = web.StreamResponse(status=response.status, headers=response.headers)
    stream.content_length = len(body)
    await stream.prepare(request)
    for i in range(len(body)):
        if not await _safe_write(stream, body[i : i + 1]):
            return stream
        await asyncio.sleep(fault.interval_seconds)
    await stream.write_eof()
    return stream


async def headers_then_silence(request: web.Request, fault: Fault) -> web.StreamResponse:
    """200 and headers promising a body, then nothing for `latency_seconds`, then the connection drops."""
    stream = web.StreamResponse(status=200)
    stream.content_type = "application/json"
    stream.content_length = 1024
    await stream.prepare(request)
    await asyncio.sleep(fault.latency_seconds)
    if request.transport is not None:
        request.transport.abort()
    return stream


async def huge_body(request: web.Request, api: str, fault: Fault) -> web.StreamResponse:
    """A 200 JSON body of `size_bytes`, chunked (no Content-Length), valid if read to the end."""
    head = b'{"ok": true, "padding": "' if api == "slack" else b'{"padding": "'
    tail = b'"}'
    stream = web.StreamResponse(status=200)
    stream.content_type = "application/json"
    stream.enable_chunked_encoding()
    await stream.prepare(request)
    remaining = max(fault.size_bytes - len(head) - len(tail), 0)
    if not await _safe_write(stream, head):
        return stream
    chunk = b"x" * CHUNK
    while remaining > 0:
        piece = chunk if remaining >= CHUNK else chunk[:remaining]
        if not await _safe_write(stream, piece):
            return stream
        remaining -= len(piece)
    if await _safe_write(stream, tail):
        await stream.write_eof()
    return stream
