"""PagerDuty adapter: one client per token, the account's rate budget, batched /oncalls reads.

The `pagerduty` SDK is synchronous: calls run on this adapter's own threads and never block the
event loop. The SDK's retry loops (which sleep in the thread and ignore `ratelimit-reset`) are
switched off; this adapter retries with growing, jittered backoff and honours the server's reset,
capped. Paging is ours too: every page takes a grant from the budget, pages are capped, a listing
that makes no progress or stops early is an error - never a short answer.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import random
import time
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx2
import pagerduty

from oncall_operator.api.reasons import ExternalReason as R
from oncall_operator.clients.http_limits import (
    CALL_DEADLINE_SECONDS,
    BoundedTransport,
    httpx_timeout,
    trust_store,
)
from oncall_operator.clients.ratelimit import BACKGROUND, PriorityRateLimiter, read_attempts
from oncall_operator.core.backoff import cap_server_wait, parse_retry_after
from oncall_operator.core.errors import (
    IncompleteListing,
    InternalError,
    Misconfigured,
    NotFound,
    OperatorError,
    RateLimited,
    Transient,
    Unauthorized,
)
from oncall_operator.core.membership import Shift
from oncall_operator.metrics import (
    API_REQUESTS,
    RATE_LIMIT_WAIT_SECONDS,
    RATE_LIMIT_WAITS,
    SERVER_WAITS_CAPPED,
)

DEFAULT_BASE_URL = "https://api.pagerduty.com"
ACCOUNT_LIMIT_PER_MINUTE = 900  # PagerDuty allows ~960/min per account; keep headroom
IDS_PER_REQUEST = 40  # keeps query strings well under URL length limits
PAGE_SIZE = 100  # PagerDuty's maximum for classic pagination
OFFSET_CAP = 10_000  # classic pagination ends at offset + limit = 10,000
MAX_PAGES = OFFSET_CAP // PAGE_SIZE
CACHE_SECONDS = 3600.0
DIRECTORY_THRESHOLD = 50  # past this many unknown users, one paged /users listing beats a GET each
BATCH_DEADLINE_SECONDS = 120.0  # a caller of a batched read is answered by then, whatever happens


class MeteredRestClient(pagerduty.RestApiV2Client):  # type: ignore[misc]
    """Counts every HTTP exchange by canonical path and status."""

    def postprocess(self, response: Any, suffix: str | None = None) -> Any:
        result = super().postprocess(response, suffix)
        try:
            path = self.canonical_path(str(response.request.url))
        except Exception:  # an unknown path still gets counted
            path = "other"
        API_REQUESTS.labels("pagerduty", f"{response.request.method} {path}", str(response.status_code)).inc()
        return result


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a time: {type(value).__name__}")
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _get_json(client: MeteredRestClient, path: str, params: dict[str, Any]) -> Any:
    response = client.get(path, params=params)
    if not response.is_success:
        raise pagerduty.HttpError(f"{response.status_code}", response)
    return response.json()


def _send_json(client: MeteredRestClient, verb: str, path: str, body: dict[str, Any] | None) -> Any:
    response = client.request(verb, path, json=body) if body is not None else client.request(verb, path)
    if not response.is_success:
        raise pagerduty.HttpError(f"{response.status_code}", response)
    return response.json() if response.content else None


def _invalid(what: str, problem: str) -> Transient:
    return Transient(f"PagerDuty's answer to {what} {problem}", reason=R.INVALID_RESPONSE)


@dataclass
class _OnCallRequest:
    schedules: frozenset[str]
    policies: frozenset[str]
    since: datetime
    until: datetime
    priority: float
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
        threads: int = 8,
        deadline: float = CALL_DEADLINE_SECONDS,
    ):
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.batch_window = batch_window
        self.rate_limit_scale = rate_limit_scale
        self.ca_file = ca_file
        self._accounts: dict[str, PagerDutyAccount] = {}
        self._clock = clock
        self.deadline = deadline
        # Our own threads: a hung exchange never starves the Kubernetes client's.
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="pagerduty")

    def account(self, token: str) -> PagerDutyAccount:
        key = hashlib.sha256(token.encode()).hexdigest()  # never keep tokens as dict keys in dumps
        if key not in self._accounts:
            transport = BoundedTransport(trust_store(self.ca_file), deadline=self.deadline)
            client = MeteredRestClient(token, transport=transport)
            client.url = self.base_url
            client.timeout = httpx_timeout(self.deadline)  # type: ignore[assignment]
            # The SDK returns at once any status listed here when its attempt budget is below zero,
            # and raises on the first network error: every retry is ours, awaited, never slept in a thread.
            client.retry = {status: 1 for status in (429, 500, 502, 503, 504)}
            client.max_http_attempts = -1
            client.max_network_attempts = 0
            self._accounts[key] = PagerDutyAccount(
                PriorityRateLimiter(ACCOUNT_LIMIT_PER_MINUTE * self.rate_limit_scale), client
            )
        return self._accounts[key]

    async def _call(
        self, account: PagerDutyAccount, priority: float, fn: Callable[[], Any], what: str
    ) -> Any:
        """One request: a grant from the budget, a bounded exchange, classified failures."""
        loop = asyncio.get_running_loop()
        failures, attempts = 0, read_attempts(priority)
        for _ in range(attempts + 8):  # 429s don't use up attempts; the cap bounds them too
            waited = await account.limiter.acquire(priority)
            if waited > 0.01:
                RATE_LIMIT_WAITS.labels("pagerduty", what).inc()
                RATE_LIMIT_WAIT_SECONDS.labels("pagerduty").inc(waited)
            try:
                return await asyncio.wait_for(loop.run_in_executor(self._executor, fn), self.deadline + 5)
            except pagerduty.HttpError as error:
                status = error.response.status_code if error.response is not None else 0
                if status == 429:
                    self._pause(account, error.response)
                    continue
                if status < 500:
                    raise self._classify(status, what) from error
                failure: Exception = error
            except (pagerduty.Error, httpx2.TransportError, TimeoutError) as error:
                failure = error
            except ValueError as error:  # a body that is not the JSON the SDK expected
                raise _invalid(what, "is not JSON") from error
            except Exception as error:
                raise InternalError.wrap(error, f"calling PagerDuty ({what})") from error
            failures += 1
            if failures >= attempts:
                raise Transient(
                    f"PagerDuty did not answer {what} ({type(failure).__name__})",
                    reason=R.PAGERDUTY_UNAVAILABLE,
                ) from failure
            await asyncio.sleep(min(10.0, 0.5 * 2 ** (failures - 1)) * (0.5 + random.random()))
        raise RateLimited(f"PagerDuty kept rate-limiting {what}")

    def _pause(self, account: PagerDutyAccount, response: Any) -> None:
        header = response.headers.get("ratelimit-reset") if response is not None else None
        seconds, capped = cap_server_wait(parse_retry_after(header, datetime.now(UTC), default=2.0))
        if capped:
            SERVER_WAITS_CAPPED.labels("pagerduty").inc()
        account.limiter.refund()  # a refused request did not use the server's budget
        account.limiter.pause(seconds)

    @staticmethod
    def _classify(status: int, what: str) -> OperatorError:
        if 200 <= status < 300:
            # The SDK refused a success answer (a list or a string where it unwraps an object): a garbled
            # answer to retry soon, not a refusal a person must fix.
            return _invalid(what, "is not the object the API documents")
        if status == 401:
            return Unauthorized("PagerDuty rejected the token (401)", reason=R.AUTH_FAILED)
        if status == 403:
            return Unauthorized(f"PagerDuty token may not {what} (403)", reason=R.AUTH_FAILED)
        if status == 404:
            return NotFound(f"PagerDuty answered 404 to {what}")
        return Misconfigured(f"PagerDuty answered {status} to {what}", reason=R.PAGERDUTY_ERROR)

    async def get(
        self, token: str, path: str, what: str, *, params: dict[str, Any] | None = None, priority: float = 0.0
    ) -> dict[str, Any]:
        """A single object (the envelope unwrapped), checked to be an object."""
        return await self._get(self.account(token), path, what, params, priority)

    async def send(
        self,
        token: str,
        verb: str,
        path: str,
        what: str,
        *,
        body: dict[str, Any] | None = None,
        priority: float = 0.0,
    ) -> Any:
        """One write (PUT, POST, DELETE): its JSON answer, or None when empty. Only idempotent writes
        belong here - a 5xx is sent again. A 4xx raises classified, with the SDK error (and so the
        answer's `error` envelope) chained."""
        account = self.account(token)
        return await self._call(
            account, priority, functools.partial(_send_json, account.client, verb, path, body), what
        )

    async def list_all(
        self,
        token: str,
        path: str,
        key: str,
        what: str,
        *,
        params: dict[str, Any] | None = None,
        priority: float = 0.0,
    ) -> list[dict[str, Any]]:
        """Every item of a classic-paginated listing, or an error: never a partial list."""
        return await self._list_pages(self.account(token), path, key, what, params or {}, priority)

    async def _get(
        self, account: PagerDutyAccount, path: str, what: str, params: dict[str, Any] | None, priority: float
    ) -> dict[str, Any]:
        body = await self._call(account, priority, lambda: account.client.rget(path, params=params), what)
        if not isinstance(body, dict):
            raise _invalid(what, f"is a {type(body).__name__}, not an object")
        return body

    async def _list_pages(
        self,
        account: PagerDutyAccount,
        path: str,
        key: str,
        what: str,
        params: dict[str, Any],
        priority: float,
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        seen_first: set[str] = set()
        for page in range(MAX_PAGES):
            query = {**params, "limit": PAGE_SIZE, "offset": page * PAGE_SIZE}
            body = await self._call(
                account, priority, functools.partial(_get_json, account.client, path, query), what
            )
            if not isinstance(body, dict) or not isinstance(body.get(key), list):
                raise _invalid(what, f"has no list '{key}'")
            chunk = body[key]
            if not all(isinstance(item, dict) for item in chunk):
                raise _invalid(what, "lists something that is not an object")
            more = body.get("more") is True
            marker = repr(chunk[0]) if chunk else ""
            if more and (not chunk or marker in seen_first):
                raise IncompleteListing(
                    f"PagerDuty's answer to {what} claims more pages but makes no progress",
                    reason=R.INVALID_RESPONSE,
                )
            seen_first.add(marker)
            items.extend(chunk)
            if not more:
                return items
        # Classic pagination stops at offset + limit = 10,000: a longer listing cannot be read whole.
        raise IncompleteListing(
            f"{what} lists more than PagerDuty's classic pagination reaches ({OFFSET_CAP} items)",
            reason=R.LISTING_TOO_LARGE,
        )

    async def check_exists(self, token: str, kind: str, object_id: str) -> None:
        """Raises ScheduleNotFound / EscalationPolicyNotFound; cached for an hour."""
        account = self.account(token)
        key = f"{kind}/{object_id}"
        if self._clock() - account.known_ids.get(key, -CACHE_SECONDS) < CACHE_SECONDS:
            return
        try:
            await self.get(token, f"/{kind}/{object_id}", f"GET /{kind}/{{id}}")
        except NotFound as error:
            if kind == "schedules":
                reason, noun = R.SCHEDULE_NOT_FOUND, "schedule"
            else:
                reason, noun = R.ESCALATION_POLICY_NOT_FOUND, "escalation policy"
            raise NotFound(f"PagerDuty has no {noun} {object_id}", reason=reason) from error
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
        """On-call shifts over [since, until]. Requests from resources sharing a token within
        `batch_window` go out as one /oncalls read per chunk of ids; every caller is answered
        within BATCH_DEADLINE_SECONDS, and a batch that fails for one caller's input is retried
        caller by caller, so one resource's spec never fails another's sync."""
        account = self.account(token)
        request = _OnCallRequest(
            frozenset(schedules),
            frozenset(policies),
            since,
            until,
            priority,
            asyncio.get_running_loop().create_future(),
        )
        account.pending.append(request)
        if account.flush_task is None or account.flush_task.done():
            account.flush_task = asyncio.create_task(self._flush(account))
        try:
            return await asyncio.wait_for(asyncio.shield(request.future), BATCH_DEADLINE_SECONDS)
        except TimeoutError:
            raise Transient(
                "PagerDuty's on-call read did not complete in time", reason=R.PAGERDUTY_UNAVAILABLE
            ) from None

    async def _flush(self, account: PagerDutyAccount) -> None:
        """Answers batches until nobody waits (a request that arrives mid-read joins the next batch)."""
        while account.pending:
            await asyncio.sleep(self.batch_window)
            batch, account.pending = account.pending, []
            try:
                shifts = await self._read_batch(account, batch)
            except Misconfigured:
                # A 4xx names a bad request: isolate it by reading for each caller alone.
                for request in batch:
                    await self._answer_alone(account, request)
                continue
            except BaseException as error:
                self._settle(batch, error)
                if not isinstance(error, Exception):
                    raise
                continue
            self._answer(batch, shifts)

    @staticmethod
    def _answer(batch: list[_OnCallRequest], shifts: list[Shift]) -> None:
        """Each caller gets the shifts of its own schedules and policies only: with a thousand callers
        sharing one read, handing everyone everything made each round quadratic."""
        by_schedule: dict[str, list[Shift]] = {}
        by_policy: dict[str, list[Shift]] = {}
        for shift in shifts:
            if shift.schedule:
                by_schedule.setdefault(shift.schedule, []).append(shift)
            if shift.escalation_policy:
                by_policy.setdefault(shift.escalation_policy, []).append(shift)
        for request in batch:
            if request.future.done():
                continue
            mine: dict[int, Shift] = {}
            for schedule in request.schedules:
                mine.update((id(s), s) for s in by_schedule.get(schedule, ()))
            for policy in request.policies:
                mine.update((id(s), s) for s in by_policy.get(policy, ()))
            request.future.set_result(list(mine.values()))

    async def _answer_alone(self, account: PagerDutyAccount, request: _OnCallRequest) -> None:
        try:
            shifts = await self._read_batch(account, [request])
        except Exception as error:
            self._settle([request], error)
            return
        self._answer([request], shifts)

    @staticmethod
    def _settle(batch: list[_OnCallRequest], error: BaseException) -> None:
        for request in batch:
            if not request.future.done():
                request.future.set_exception(error)

    async def _read_batch(self, account: PagerDutyAccount, batch: list[_OnCallRequest]) -> list[Shift]:
        since = min(r.since for r in batch)
        until = max(r.until for r in batch)
        priority = min(r.priority for r in batch)
        schedules = sorted(set().union(*(r.schedules for r in batch)))
        policies = sorted(set().union(*(r.policies for r in batch)))
        shifts: list[Shift] = []
        # /oncalls ANDs its filters, so schedules and policies are read separately.
        for key, ids in (("schedule_ids[]", schedules), ("escalation_policy_ids[]", policies)):
            for start in range(0, len(ids), IDS_PER_REQUEST):
                chunk = ids[start : start + IDS_PER_REQUEST]
                shifts.extend(await self._read_oncalls(account, key, chunk, since, until, priority))
        return shifts

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
        entries = await self._list_pages(account, "/oncalls", "oncalls", "GET /oncalls", params, priority)
        return [self._shift(account, entry) for entry in entries]

    def _shift(self, account: PagerDutyAccount, entry: dict[str, Any]) -> Shift:
        user = entry.get("user")
        if not isinstance(user, dict) or not isinstance(user.get("id"), str):
            raise _invalid("GET /oncalls", "has an entry without a user id")
        if isinstance(user.get("email"), str):
            account.emails[user["id"]] = (self._clock(), user["email"])
        try:
            level = entry.get("escalation_level")
            return Shift(
                pagerduty_user=user["id"],
                escalation_policy=(entry.get("escalation_policy") or {}).get("id"),
                level=int(level) if level is not None else None,
                schedule=(entry.get("schedule") or {}).get("id"),
                start=_parse_time(entry.get("start")),
                end=_parse_time(entry.get("end")),
            )
        except (AttributeError, TypeError, ValueError) as error:
            raise _invalid("GET /oncalls", "has a malformed entry") from error

    async def rendered_schedule(
        self, token: str, schedule_id: str, *, since: datetime, until: datetime, priority: float = 0.0
    ) -> list[Shift]:
        """Who a schedule puts on call over [since, until], from its final layer. /oncalls leaves out
        schedules no escalation policy uses, as the real API does; this reads them directly."""
        body = await self.get(
            token,
            f"/schedules/{schedule_id}",
            "GET /schedules/{id}",
            params={"since": since.isoformat(), "until": until.isoformat(), "time_zone": "UTC"},
            priority=priority,
        )
        final = body.get("final_schedule")
        entries = final.get("rendered_schedule_entries") if isinstance(final, dict) else None
        if not isinstance(entries, list):
            raise _invalid("GET /schedules/{id}", "has no final_schedule.rendered_schedule_entries")
        shifts = []
        for entry in entries:
            user = entry.get("user") if isinstance(entry, dict) else None
            if not isinstance(user, dict) or not isinstance(user.get("id"), str):
                raise _invalid("GET /schedules/{id}", "has an entry without a user id")
            try:
                shifts.append(
                    Shift(
                        user["id"],
                        None,
                        None,
                        schedule_id,
                        _parse_time(entry.get("start")),
                        _parse_time(entry.get("end")),
                    )
                )
            except ValueError as error:
                raise _invalid("GET /schedules/{id}", "has a malformed time") from error
        return shifts

    async def roster(self, token: str, *, schedules: Iterable[str], policies: Iterable[str]) -> list[Shift]:
        """Everyone in the rotations (scope everyoneInRotation), permanently 'on call'."""
        shifts: list[Shift] = []
        for schedule_id in schedules:
            schedule = await self.get(
                token, f"/schedules/{schedule_id}", "GET /schedules/{id}", priority=BACKGROUND
            )
            for layer in schedule.get("schedule_layers") or []:
                for entry in (layer or {}).get("users") or []:
                    user = entry.get("user", entry) if isinstance(entry, dict) else None
                    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
                        raise _invalid("GET /schedules/{id}", "has a layer user without an id")
                    shifts.append(Shift(user["id"], None, None, schedule_id, None, None))
        for policy_id in policies:
            policy = await self.get(
                token,
                f"/escalation_policies/{policy_id}",
                "GET /escalation_policies/{id}",
                priority=BACKGROUND,
            )
            for level, rule in enumerate(policy.get("escalation_rules") or [], start=1):
                for target in (rule or {}).get("targets") or []:
                    kind, target_id = str(target.get("type", "")), target.get("id")
                    if not isinstance(target_id, str):
                        raise _invalid("GET /escalation_policies/{id}", "has a target without an id")
                    if kind.startswith("user"):
                        shifts.append(Shift(target_id, policy_id, level, None, None, None))
                    elif kind.startswith("schedule"):
                        for shift in await self.roster(token, schedules=[target_id], policies=[]):
                            shifts.append(Shift(shift.pagerduty_user, policy_id, level, None, None, None))
        return shifts

    async def email_of(self, token: str, user_id: str) -> str | None:
        account = self.account(token)
        cached = account.emails.get(user_id)
        if cached and self._clock() - cached[0] < CACHE_SECONDS:
            return cached[1]
        try:
            user = await self.get(token, f"/users/{user_id}", "GET /users/{id}", priority=BACKGROUND)
        except NotFound:
            return None
        email = user.get("email") if isinstance(user.get("email"), str) else None
        account.emails[user_id] = (self._clock(), email)
        return email

    async def emails_of(self, token: str, user_ids: Collection[str]) -> dict[str, str | None]:
        """Emails of many users: one listing of the account's users when that is cheaper than a
        request each (past DIRECTORY_THRESHOLD uncached users), else one request each."""
        account = self.account(token)
        now = self._clock()
        result: dict[str, str | None] = {}
        missing = []
        for user_id in user_ids:
            cached = account.emails.get(user_id)
            if cached and now - cached[0] < CACHE_SECONDS:
                result[user_id] = cached[1]
            else:
                missing.append(user_id)
        if len(missing) > DIRECTORY_THRESHOLD:
            for user in await self.list_all(token, "/users", "users", "GET /users", priority=BACKGROUND):
                if isinstance(user.get("id"), str):
                    email = user.get("email")
                    account.emails[user["id"]] = (now, email if isinstance(email, str) else None)
            for user_id in missing:
                result[user_id] = account.emails.setdefault(user_id, (now, None))[1]
        else:
            found = await asyncio.gather(*(self.email_of(token, user_id) for user_id in missing))
            result.update(zip(missing, found, strict=True))
        return result

    # The id -> email cache as an inventory class (api/inventory.py): erasure and retention.
    def cache_clock(self) -> float:
        """Now, on the clock cache entries are stamped with (for `learned_before`)."""
        return self._clock()

    def cached_emails(
        self, *, email: str | None, user_id: str | None, evict: bool, learned_before: float | None = None
    ) -> int:
        """Cache entries naming the person (by PagerDuty id, or by email) in every account; with
        `learned_before`, only entries stamped before it."""
        wanted = email.strip().lower() if email else None
        found = 0
        for account in self._accounts.values():
            for key, (when, address) in list(account.emails.items()):
                if learned_before is not None and when >= learned_before:
                    continue
                if key == user_id or (wanted and address and address.strip().lower() == wanted):
                    found += 1
                    if evict:
                        del account.emails[key]
        return found

    def prune_emails(self, max_age: float) -> tuple[int, float | None]:
        """Evicts entries older than max_age seconds: (evicted, age of the oldest left)."""
        now, evicted, oldest = self._clock(), 0, None
        for account in self._accounts.values():
            for key, (when, _) in list(account.emails.items()):
                if now - when > max_age:
                    del account.emails[key]
                    evicted += 1
                else:
                    oldest = max(oldest or 0.0, now - when)
        return evicted, oldest

    def forget_email(self, token: str, user_id: str) -> None:
        self.account(token).emails.pop(user_id, None)

    def close(self) -> None:
        for account in self._accounts.values():
            account.client.close()
        self._executor.shutdown(wait=False, cancel_futures=True)
