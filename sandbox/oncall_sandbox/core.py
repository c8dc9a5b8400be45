"""What every part of the sandbox shares: state, clock, limits, faults, request log and recorder."""

from __future__ import annotations

import itertools
import logging
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from aiohttp import web

from oncall_operator.clients import slack_limits
from oncall_sandbox.clock import Clock
from oncall_sandbox.faults import FaultSet
from oncall_sandbox.limits import SlidingWindow
from oncall_sandbox.state import SandboxState

log = logging.getLogger("oncall_sandbox")

REQUEST_LOG_LIMIT = 100_000
# Set by a write's handler on the aiohttp request: the object it changed, for the request log.
TARGET: web.RequestKey[str | None] = web.RequestKey("target", str)


class LoggedRequest(NamedTuple):
    """One request log entry, compact: 100k of them fit in ~15 MiB."""

    seq: int
    api: str
    method: str
    path: str
    status: int
    real_time: float
    sandbox_time: float
    target: str | None


EXCHANGE_LIMIT = 20_000


@dataclass
class RateLimitConfig:
    enabled: bool = True
    # method -> (requests, window seconds), overriding the documented tiers (seed or control API)
    slack: dict[str, tuple[int, float]] = field(default_factory=dict)
    pagerduty_per_minute: int = 960
    pagerduty_window: float = 60.0


class Sandbox:
    """The object behind the aiohttp app (`app[SANDBOX]`)."""

    def __init__(
        self,
        state: SandboxState,
        *,
        pagerduty_rate_limit_per_minute: int,
        record_exchanges: bool,
        request_log_limit: int = REQUEST_LOG_LIMIT,
    ) -> None:
        self.state = state
        self.clock: Clock = state.clock
        self.faults = FaultSet()
        self.limits = RateLimitConfig(pagerduty_per_minute=pagerduty_rate_limit_per_minute)
        self._apply_seed_limits()
        self.slack_windows = SlidingWindow()
        self.pagerduty_window = SlidingWindow()
        self.requests: deque[LoggedRequest] = deque(maxlen=request_log_limit)
        self.stats: Counter[tuple[str, str, int]] = Counter()
        self.seq = itertools.count(1)
        self.record_exchanges = record_exchanges
        self.exchanges: deque[dict[str, Any]] = deque(maxlen=EXCHANGE_LIMIT)
        self.default_pagerduty_limit = pagerduty_rate_limit_per_minute

    def _apply_seed_limits(self) -> None:
        seed = self.state.seed
        self.limits.slack = {m: (n, 60.0) for m, n in seed.slack.rate_limits.items()}
        if seed.pagerduty.rate_limit_per_minute:
            self.limits.pagerduty_per_minute = seed.pagerduty.rate_limit_per_minute

    def reloaded(self) -> None:
        """After load/reset: limits from the new seed, fresh windows."""
        self.limits.slack.clear()
        self.limits.pagerduty_per_minute = self.default_pagerduty_limit
        self.limits.pagerduty_window = 60.0
        self._apply_seed_limits()
        self.slack_windows.clear()
        self.pagerduty_window.clear()

    def slack_limit(self, method: str) -> tuple[int, float]:
        """(limit, window seconds) for a Slack method: an override, else Slack's documented tier.

        chat.postMessage is limited per channel (the caller keys its window by channel)."""
        if method in self.limits.slack:
            return self.limits.slack[method]
        if method == "chat.postMessage":
            return slack_limits.POST_MESSAGE_PER_CHANNEL
        return slack_limits.per_minute(method), 60.0

    def now_iso(self) -> str:
        return self.clock.now().isoformat()

    def record(
        self,
        request: web.Request,
        api: str,
        method: str,
        status: int,
        body: bytes,
        response: web.StreamResponse | None,
    ) -> None:
        seq = next(self.seq)
        self.requests.append(
            LoggedRequest(
                seq,
                api,
                sys.intern(method),
                sys.intern(request.path),
                status,
                time.time(),
                self.clock.timestamp(),
                request.get(TARGET),
            )
        )
        self.stats[(api, method, status)] += 1
        # Path only: query strings can carry e-mail addresses.
        log.debug("%s %s -> %s", request.method, request.path, status)
        if self.record_exchanges and isinstance(response, web.Response):
            auth = request.headers.get("Authorization", "")
            self.exchanges.append(
                {
                    "seq": seq,
                    "api": api,
                    "method": method,
                    "http_method": request.method,
                    "path": request.path,
                    "query": request.query_string,
                    "request_headers": {
                        "content-type": request.headers.get("Content-Type", ""),
                        # The scheme survives for the validator; the secret does not.
                        "authorization": auth.split(" ", 1)[0] + " <redacted>" if auth else "",
                    },
                    "request_body": body.decode("utf-8", "replace"),
                    "status": status,
                    "response_headers": {"content-type": response.headers.get("Content-Type", "")},
                    "response_body": (response.body or b"").decode("utf-8", "replace")
                    if isinstance(response.body, bytes)
                    else "",
                }
            )


def request_entry(entry: LoggedRequest) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "api": entry.api,
        "method": entry.method,
        "path": entry.path,
        "status": entry.status,
        "target": entry.target,
        "time": datetime.fromtimestamp(entry.real_time, UTC).isoformat(timespec="microseconds"),
        "sandbox_time": datetime.fromtimestamp(entry.sandbox_time, UTC).isoformat(timespec="microseconds"),
        "sandbox_timestamp": entry.sandbox_time,
    }


SANDBOX: web.AppKey[Sandbox] = web.AppKey("sandbox", Sandbox)
