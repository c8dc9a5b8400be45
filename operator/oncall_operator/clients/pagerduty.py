"""PagerDuty adapter: one client per token, account-wide rate budget, batched /oncalls reads.

The `pagerduty` SDK is synchronous, so calls run in worker threads and never
block the event loop. Its own 429 loop ignores `ratelimit-reset`, so it retries
429 once and this adapter then waits for the reset the server gave.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pagerduty

from oncall_operator.api.reasons import ExternalReason as R
from oncall_operator.clients.ratelimit import PriorityRateLimiter
from oncall_operator.core.backoff import cap_server_wait
from oncall_operator.core.errors import (
    InternalError,
    Misconfigured,
    NotFound,
    RateLimited,
    Transient,
    Unauthorized,
)
from oncall_operator.core.membership import Shift
from oncall_operator.metrics import API_REQUESTS, RATE_LIMIT_WAIT_SECONDS, RATE_LIMIT_WAITS

DEFAULT_BASE_URL = "https://api.pagerduty.com"
ACCOUNT_LIMIT_PER_MINUTE = 900  # PagerDuty allows ~960/min per account; keep headroom
IDS_PER_REQUEST = 40  # keeps query strings well under URL length limits
CACHE_SECONDS = 3600.0


class MeteredRestClient(pagerduty.RestApiV2Client):  # type: ignore[misc]
    """Counts every HTTP exchange (including the SDK's own retries) by canonical path."""

    def postprocess(self, response: Any, suffix: str | None = None) -> Any:
        result = super().postprocess(response, suffix)
        method = response.request.method
        try:
            path = self.canonical_path(str(response.request.url))
        except Exception:  # an unknown path still gets counted
            path = "other"
        API_REQUESTS.labels("pagerduty", f"{method} {path}", str(response.status_code)).inc()
        return result


def _header_seconds(response: Any, name: str, default: float) -> float:
    try:
        return float(response.headers.get(name) or default) if response is not None else default
    except ValueError:
        return default


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC) if value else None


@dataclass
class _OnCallRequest:
    schedules: frozenset[str]
    policies: frozenset[str]
    since: datetime
    until: datetime
    future: asyncio.Future[list[Shift]]


@dataclass
class PagerDutyAccount:
    """Everything shared by the resources that use one token."""

    limiter: PriorityRateLimiter
    client: MeteredRestClient
    emails: dict[str, tuple[float, str | None]] = field(default_factory=dict)
    known_ids: dict[str, float] = field(default_factory=dict)
    pending: list[_OnCallRequest] = field(default_factory=list)
    flush_task: asyncio.Task[None] | None = None


class PagerDuty:
    """Entry point; `account(token)` returns the shared per-token state."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        batch_window: float = 0.05,
        rate_limit_scale: float = 1.0,
        ca_file: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.batch_window = batch_window
        self.rate_limit_scale = rate_limit_scale
        # A private CA (a TLS-inspecting proxy, or the sandbox) to trust besides the system's.
        self.ca_file = ca_file
        self._accounts: dict[str, PagerDutyAccount] = {}
        self._clock = clock

    def account(self, token: str) -> PagerDutyAccount:
        key = hashlib.sha256(token.encode()).hexdigest()  # never keep tokens as dict keys in dumps
        if key not in self._accounts:
            client = (
                MeteredRestClient(token, verify=ssl.create_default_context(cafile=self.ca_file))
                if self.ca_file
                else MeteredRestClient(token)
            )
            client.url = self.base_url
            client.timeout = 15
            client.retry = {429: 1, 500: 2, 502: 2, 503: 2, 504: 2}
            client.max_http_attempts = 4
            client.sleep_timer = 0.5
            self._accounts[key] = PagerDutyAccount(
                PriorityRateLimiter(ACCOUNT_LIMIT_PER_MINUTE * self.rate_limit_scale),
                client,
            )
        return self._accounts[key]

    async def _call(
        self, account: PagerDutyAccount, priority: float, fn: Callable[[], Any], what: str
    ) -> Any:
        for attempt in range(6):
            waited = await account.limiter.acquire(priority)
            if waited > 0.01:
                RATE_LIMIT_WAITS.labels("pagerduty", what).inc()
                RATE_LIMIT_WAIT_SECONDS.labels("pagerduty").inc(waited)
            try:
                return await asyncio.to_thread(fn)
            except pagerduty.HttpError as error:
                response = error.response
                status = response.status_code if response is not None else 0
                if status == 401:
                    raise Unauthorized("PagerDuty rejected the token (401)", reason=R.AUTH_FAILED) from error
                if status == 403:
                    raise Unauthorized(
                        f"PagerDuty token may not {what} (403)", reason=R.AUTH_FAILED
                    ) from error
                if status == 404:
                    raise NotFound(f"PagerDuty answered 404 to {what}") from error
                if status == 429:
                    reset = _header_seconds(response, "ratelimit-reset", 2.0)
                    account.limiter.refund()
                    account.limiter.pause(cap_server_wait(reset)[0])
                    continue
                if status >= 500 and attempt < 5:
                    await asyncio.sleep(min(30.0, 0.5 * 2**attempt))
                    continue
                if status >= 500:
                    raise Transient(
                        f"PagerDuty answered {status} to {what}", reason=R.PAGERDUTY_UNAVAILABLE
                    ) from error
                raise Misconfigured(
                    f"PagerDuty answered {status} to {what}", reason=R.PAGERDUTY_ERROR
                ) from error
            except pagerduty.Error as error:
                if attempt < 5:
                    await asyncio.sleep(min(30.0, 0.5 * 2**attempt))
                    continue
                raise Transient(
                    f"PagerDuty unreachable for {what}", reason=R.PAGERDUTY_UNAVAILABLE
                ) from error
            except ValueError as error:  # a body that is not the JSON the SDK expected
                raise Transient(
                    f"PagerDuty sent an unreadable answer to {what}", reason=R.INVALID_RESPONSE
                ) from error
            except Exception as error:
                raise InternalError.wrap(error, f"calling PagerDuty ({what})") from error
        raise RateLimited(f"PagerDuty kept rate-limiting {what}")

    async def check_exists(self, token: str, kind: str, object_id: str) -> None:
        """Raises ScheduleNotFound / EscalationPolicyNotFound; cached for an hour."""
        account = self.account(token)
        key = f"{kind}/{object_id}"
        if self._clock() - account.known_ids.get(key, -CACHE_SECONDS) < CACHE_SECONDS:
            return
        try:
            await self._call(
                account, 0.0, lambda: account.client.rget(f"/{kind}/{object_id}"), f"GET /{kind}/{{id}}"
            )
        except NotFound as error:
            reason = R.SCHEDULE_NOT_FOUND if kind == "schedules" else R.ESCALATION_POLICY_NOT_FOUND
            raise NotFound(
                f"PagerDuty has no {kind[:-1].replace('_', ' ')} {object_id}", reason=reason
            ) from error
        account.known_ids[key] = self._clock()

    async def on_call(
        self,
        token: str,
        *,
        schedules: Iterable[str],
        policies: Iterable[str],
        since: datetime,
        until: datetime,
        priority: float = 0.0,
    ) -> list[Shift]:
        """On-call shifts from now until `until`. Requests from resources sharing a token
        within `batch_window` go out as one /oncalls read per chunk of ids."""
        account = self.account(token)
        loop = asyncio.get_running_loop()
        request = _OnCallRequest(
            frozenset(schedules), frozenset(policies), since, until, loop.create_future()
        )
        account.pending.append(request)
        if account.flush_task is None or account.flush_task.done():
            account.flush_task = asyncio.create_task(self._flush_later(account, priority))
        return await request.future

    async def _flush_later(self, account: PagerDutyAccount, priority: float) -> None:
        await asyncio.sleep(self.batch_window)
        batch, account.pending = account.pending, []
        try:
            since = min(r.since for r in batch)
            until = max(r.until for r in batch)
            schedules = sorted(set().union(*(r.schedules for r in batch)))
            policies = sorted(set().union(*(r.policies for r in batch)))
            shifts: list[Shift] = []
            # /oncalls ANDs its filters, so schedules and policies are read separately.
            for key, ids in (("schedule_ids[]", schedules), ("escalation_policy_ids[]", policies)):
                for start in range(0, len(ids), IDS_PER_REQUEST):
                    chunk = ids[start : start + IDS_PER_REQUEST]
                    shifts.extend(await self._read_oncalls(account, key, chunk, since, until, priority))
            for request in batch:
                if not request.future.done():
                    request.future.set_result(shifts)
        except BaseException as error:
            for request in batch:
                if not request.future.done():
                    request.future.set_exception(error)
            if not isinstance(error, Exception):
                raise

    async def _read_oncalls(
        self,
        account: PagerDutyAccount,
        key: str,
        ids: list[str],
        since: datetime,
        until: datetime,
        priority: float,
    ) -> list[Shift]:
        params = {
            key: ids,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "include[]": ["users"],
            "time_zone": "UTC",
        }
        entries = await self._call(
            account, priority, lambda: account.client.list_all("oncalls", params=params), "GET /oncalls"
        )
        shifts = []
        now = self._clock()
        for entry in entries:
            user = entry.get("user") or {}
            if "email" in user:
                account.emails[user["id"]] = (now, user.get("email"))
            shifts.append(
                Shift(
                    pagerduty_user=user["id"],
                    escalation_policy=(entry.get("escalation_policy") or {}).get("id"),
                    level=entry.get("escalation_level"),
                    schedule=(entry.get("schedule") or {}).get("id"),
                    start=_parse_time(entry.get("start")),
                    end=_parse_time(entry.get("end")),
                )
            )
        return shifts

    async def roster(self, token: str, *, schedules: Iterable[str], policies: Iterable[str]) -> list[Shift]:
        """Everyone in the rotations (scope everyoneInRotation), permanently 'on call'."""
        account = self.account(token)
        shifts: list[Shift] = []
        for schedule_id in schedules:
            schedule = await self._call(
                account,
                1e12,
                functools.partial(account.client.rget, f"/schedules/{schedule_id}"),
                "GET /schedules/{id}",
            )
            shifts.extend(
                Shift(user["id"], None, None, schedule_id, None, None)
                for layer in schedule.get("schedule_layers", [])
                for user in (entry.get("user", entry) for entry in layer.get("users", []))
            )
        for policy_id in policies:
            policy = await self._call(
                account,
                1e12,
                functools.partial(account.client.rget, f"/escalation_policies/{policy_id}"),
                "GET /escalation_policies/{id}",
            )
            for level, rule in enumerate(policy.get("escalation_rules", []), start=1):
                for target in rule.get("targets", []):
                    if target.get("type", "").startswith("user"):
                        shifts.append(Shift(target["id"], policy_id, level, None, None, None))
                    elif target.get("type", "").startswith("schedule"):
                        for shift in await self.roster(token, schedules=[target["id"]], policies=[]):
                            shifts.append(Shift(shift.pagerduty_user, policy_id, level, None, None, None))
        return shifts

    async def email_of(self, token: str, user_id: str) -> str | None:
        account = self.account(token)
        cached = account.emails.get(user_id)
        if cached and self._clock() - cached[0] < CACHE_SECONDS:
            return cached[1]
        try:
            user = await self._call(
                account, 1e12, lambda: account.client.rget(f"/users/{user_id}"), "GET /users/{id}"
            )
        except NotFound:
            return None
        account.emails[user_id] = (self._clock(), user.get("email"))
        return user.get("email")  # type: ignore[no-any-return]
