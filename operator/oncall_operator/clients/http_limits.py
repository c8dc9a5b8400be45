"""Bounds on every answer a server can give: a total deadline per call and a size cap per body.

Per-read timeouts are not enough: a server that drips one byte every few seconds never trips
them, and an endless body fills memory. Both SDKs take a transport/session from us, so the
bounds sit where the bytes are read.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import httpx2

# Longest a single HTTP exchange may take, first byte to last.
CALL_DEADLINE_SECONDS = 30.0
# Largest body we read: a 1,000-user Slack page is ~2 MB; nothing we ask for comes near this.
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
CONNECT_TIMEOUT_SECONDS = 10.0
READ_TIMEOUT_SECONDS = 15.0


class ResponseTooLarge(httpx2.ReadError):
    """A body past MAX_RESPONSE_BYTES (a TransportError, so callers treat it as a failed exchange)."""


def trust_store(ca_file: str | None) -> ssl.SSLContext:
    """The system's CAs, plus a private one when given (a TLS-inspecting proxy, the sandbox)."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


class _BoundedStream(httpx2.SyncByteStream):
    def __init__(self, inner: httpx2.SyncByteStream, deadline: float, limit: int, request: httpx2.Request):
        self._inner, self._deadline, self._limit, self._request = inner, deadline, limit, request

    def __iter__(self) -> Iterator[bytes]:
        size = 0
        for chunk in self._inner:
            size += len(chunk)
            if size > self._limit:
                raise ResponseTooLarge(f"response body over {self._limit} bytes", request=self._request)
            if time.monotonic() > self._deadline:
                raise httpx2.ReadTimeout(
                    "response not complete within the call deadline", request=self._request
                )
            yield chunk

    def close(self) -> None:
        self._inner.close()


class BoundedTransport(httpx2.BaseTransport):
    """Wraps httpx2's transport: the body must arrive whole within the deadline and under the cap."""

    def __init__(
        self,
        verify: ssl.SSLContext,
        *,
        deadline: float = CALL_DEADLINE_SECONDS,
        limit: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self._inner = httpx2.HTTPTransport(verify=verify)
        self._deadline, self._limit = deadline, limit

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        deadline = time.monotonic() + self._deadline
        response = self._inner.handle_request(request)
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self._limit:
            response.close()
            raise ResponseTooLarge(f"response body of {length} bytes", request=request)
        assert isinstance(response.stream, httpx2.SyncByteStream)
        response.stream = _BoundedStream(response.stream, deadline, self._limit, request)
        return response

    def close(self) -> None:
        self._inner.close()


def httpx_timeout(deadline: float = CALL_DEADLINE_SECONDS) -> httpx2.Timeout:
    return httpx2.Timeout(min(READ_TIMEOUT_SECONDS, deadline), connect=min(CONNECT_TIMEOUT_SECONDS, deadline))


class CappedResponse(aiohttp.ClientResponse):
    """aiohttp's response with a size cap on read() (json() and text() read through it)."""

    async def read(self) -> bytes:
        if self._body is None:
            length = self.content_length
            if length is not None and length > MAX_RESPONSE_BYTES:
                self.release()
                raise aiohttp.ClientPayloadError(f"response body of {length} bytes")
            chunks: list[bytes] = []
            size = 0
            async for chunk in self.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    self.release()
                    raise aiohttp.ClientPayloadError(f"response body over {MAX_RESPONSE_BYTES} bytes")
                chunks.append(chunk)
            self._body = b"".join(chunks)
        return self._body


def aiohttp_session(deadline: float = CALL_DEADLINE_SECONDS, **kwargs: Any) -> aiohttp.ClientSession:
    """A session whose every exchange is bounded in time (total) and size; one per process."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(
            total=deadline,
            connect=min(CONNECT_TIMEOUT_SECONDS, deadline),
            sock_read=min(READ_TIMEOUT_SECONDS, deadline),
        ),
        response_class=CappedResponse,
        **kwargs,
    )
