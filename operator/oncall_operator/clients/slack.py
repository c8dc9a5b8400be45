"""Slack adapter: one AsyncWebClient per token, per-method rate budgets served
earliest-handoff-first, a shared email -> user cache, and clear error reasons."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from oncall_operator.api.reasons import ExternalReason as R
from oncall_operator.clients.ratelimit import PriorityRateLimiter
from oncall_operator.clients.slack_limits import POST_MESSAGE_PER_CHANNEL, READ_METHODS, per_minute
from oncall_operator.core.errors import (
    Misconfigured,
    NotFound,
    OperatorError,
    RateLimited,
    Transient,
    Unauthorized,
)
from oncall_operator.core.membership import SlackAccount
from oncall_operator.metrics import API_REQUESTS, RATE_LIMIT_WAIT_SECONDS, RATE_LIMIT_WAITS

USER_CACHE_SECONDS = 3600.0
NEGATIVE_CACHE_SECONDS = 600.0
GROUP_CACHE_SECONDS = 60.0

_AUTH_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
# Errors Slack documents for an outage or overload: worth retrying, never a configuration problem.
_TRANSIENT_ERRORS = {"fatal_error", "internal_error", "service_unavailable", "request_timeout"}
_NOT_FOUND: dict[str, tuple[R | None, str]] = {
    "users_not_found": (None, "no such user"),  # user lookups turn these into "no account"
    "user_not_found": (None, "no such user"),
    "no_such_subteam": (R.GROUP_NOT_FOUND, "the user group no longer exists"),
    "channel_not_found": (R.CHANNEL_NOT_FOUND, "Slack has no such channel (or the bot cannot see it)"),
}
_MISCONFIGURED = {
    "paid_teams_only": (R.PLAN_UPGRADE_REQUIRED, "the Slack workspace's plan has no user groups"),
    "plan_upgrade_required": (R.PLAN_UPGRADE_REQUIRED, "the Slack workspace's plan has no user groups"),
    "not_in_channel": (R.NOT_IN_CHANNEL, "the bot is not a member of the channel"),
    "name_already_exists": (R.GROUP_CONFLICT, "another user group already uses this name"),
    "too_long": (R.TOPIC_TOO_LONG, "the rendered topic is longer than Slack allows"),
}


@dataclass
class GroupState:
    id: str
    enabled: bool


@dataclass
class SlackWorkspace:
    """State shared by every resource using one bot token."""

    client: AsyncWebClient
    limiters: dict[str, PriorityRateLimiter] = field(default_factory=dict)
    users_by_email: dict[str, tuple[float, SlackAccount | None]] = field(default_factory=dict)
    users_by_id: dict[str, tuple[float, SlackAccount | None]] = field(default_factory=dict)
    groups: tuple[float, dict[str, GroupState]] | None = None
    # Members as last read or verified, so a handoff needs one write and one read.
    members: dict[str, list[str]] = field(default_factory=dict)
    groups_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _account(user: dict[str, Any]) -> SlackAccount:
    return SlackAccount(
        id=user["id"],
        deleted=bool(user.get("deleted")),
        is_bot=bool(user.get("is_bot")) or bool(user.get("is_app_user")),
        is_restricted=bool(user.get("is_restricted") or user.get("is_ultra_restricted")),
    )


class Slack:
    def __init__(
        self,
        base_url: str | None = None,
        *,
        rate_limit_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.base_url = base_url or AsyncWebClient.BASE_URL
        # >1 only where the server's limits are scaled too (sandbox benchmarks at accelerated time).
        self.rate_limit_scale = rate_limit_scale
        self._workspaces: dict[str, SlackWorkspace] = {}
        self._clock = clock

    def workspace(self, token: str) -> SlackWorkspace:
        key = hashlib.sha256(token.encode()).hexdigest()
        if key not in self._workspaces:
            client = AsyncWebClient(
                token=token,
                base_url=self.base_url,
                timeout=15,
                # No SDK retries: a blind retry of a write that landed would write twice.
                # call() retries reads and 429s itself; writes are checked before a retry.
                retry_handlers=[],
            )
            self._workspaces[key] = SlackWorkspace(client)
        return self._workspaces[key]

    def _limiter(self, workspace: SlackWorkspace, method: str, limit_key: str | None) -> PriorityRateLimiter:
        key = f"{method}:{limit_key}" if limit_key else method
        if key not in workspace.limiters:
            if method == "chat.postMessage":
                count, seconds = POST_MESSAGE_PER_CHANNEL
                limiter = PriorityRateLimiter(count * self.rate_limit_scale, window=seconds)
            else:
                limiter = PriorityRateLimiter(per_minute(method) * self.rate_limit_scale)
            workspace.limiters[key] = limiter
        return workspace.limiters[key]

    async def call(
        self, token: str, method: str, *, priority: float = 0.0, limit_key: str | None = None, **params: Any
    ) -> dict[str, Any]:
        """One Web API call; `limit_key` splits a budget further (postMessage: per channel)."""
        workspace = self.workspace(token)
        limiter = self._limiter(workspace, method, limit_key)
        transient_failures = 0
        for _ in range(10):
            waited = await limiter.acquire(priority)
            if waited > 0.01:
                RATE_LIMIT_WAITS.labels("slack", method).inc()
                RATE_LIMIT_WAIT_SECONDS.labels("slack").inc(waited)
            try:
                response = await workspace.client.api_call(method, params=params)
                API_REQUESTS.labels("slack", method, str(response.status_code)).inc()
                return dict(response.data) if isinstance(response.data, dict) else {}
            except SlackApiError as error:
                API_REQUESTS.labels("slack", method, str(error.response.status_code)).inc()
                code = error.response.get("error", "unknown")
                if error.response.status_code == 429 or code == "ratelimited":
                    limiter.refund()
                    limiter.pause(float(error.response.headers.get("Retry-After", "1") or 1))
                    continue
                if error.response.status_code < 500 and code not in _TRANSIENT_ERRORS:
                    raise self._classify(method, code, error.response.data) from error
                failure = f"Slack answered {error.response.status_code} to {method}"
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as error:
                API_REQUESTS.labels("slack", method, "connection_error").inc()
                failure = f"Slack unreachable for {method} ({type(error).__name__})"
            # 5xx, a dropped connection or a garbled body: reads are retried here with backoff;
            # writes go back to the caller, which checks whether they landed.
            transient_failures += 1
            if method not in READ_METHODS or transient_failures > 3:
                raise Transient(failure, reason=R.SLACK_UNAVAILABLE)
            await asyncio.sleep(0.5 * 2**transient_failures)
        raise RateLimited(f"Slack kept rate-limiting {method}")

    @staticmethod
    def _classify(method: str, code: str, data: Any) -> OperatorError:
        """An `ok: false` answer as a failure of the taxonomy; the message names the method and code only."""
        if code in _AUTH_ERRORS:
            return Unauthorized(f"Slack rejected the bot token ({code})", reason=R.AUTH_FAILED)
        if code == "missing_scope":
            needed = data.get("needed", "?") if isinstance(data, dict) else "?"
            return Unauthorized(
                f"the Slack token lacks the scope {needed} needed by {method}", reason=R.MISSING_SCOPE
            )
        if code == "permission_denied":
            return Unauthorized(
                f"{method}: Slack denied the bot permission for this change", reason=R.PERMISSION_DENIED
            )
        if code in _NOT_FOUND:
            reason, text = _NOT_FOUND[code]
            return NotFound(f"{method}: {text}", reason=reason)
        if code in _MISCONFIGURED:
            reason, text = _MISCONFIGURED[code]
            return Misconfigured(f"{method}: {text}", reason=reason)
        return Transient(f"{method} failed: {code}", reason=R.SLACK_ERROR)

    async def user_by_email(self, token: str, email: str) -> SlackAccount | None:
        cache = self.workspace(token).users_by_email
        return await self._lookup_user(token, cache, email, "users.lookupByEmail", email=email)

    async def user_by_id(self, token: str, user_id: str) -> SlackAccount | None:
        cache = self.workspace(token).users_by_id
        return await self._lookup_user(token, cache, user_id, "users.info", user=user_id)

    async def _lookup_user(
        self,
        token: str,
        cache: dict[str, tuple[float, SlackAccount | None]],
        key: str,
        method: str,
        **params: Any,
    ) -> SlackAccount | None:
        """A cached user lookup; misses are cached for less long (someone may join)."""
        cached = cache.get(key)
        now = self._clock()
        if cached and now - cached[0] < (USER_CACHE_SECONDS if cached[1] else NEGATIVE_CACHE_SECONDS):
            return cached[1]
        try:
            data = await self.call(token, method, priority=1e12, **params)
            account: SlackAccount | None = _account(data["user"])
        except NotFound:
            account = None
        cache[key] = (now, account)
        return account

    async def find_group(self, token: str, handle: str, *, refresh: bool = False) -> GroupState | None:
        workspace = self.workspace(token)
        now = self._clock()
        if refresh or workspace.groups is None or now - workspace.groups[0] > GROUP_CACHE_SECONDS:
            # One usergroups.list (Tier 2) at a time per workspace; waiters reuse its answer.
            async with workspace.groups_lock:
                fresh = workspace.groups is not None and workspace.groups[0] >= now
                if not fresh:
                    data = await self.call(
                        token, "usergroups.list", include_disabled=True, include_users=False
                    )
                    groups = {
                        g["handle"]: GroupState(g["id"], not g.get("date_delete"))
                        for g in data.get("usergroups", [])
                    }
                    workspace.groups = (self._clock(), groups)
        assert workspace.groups is not None
        return workspace.groups[1].get(handle)

    def forget_groups(self, token: str) -> None:
        self.workspace(token).groups = None

    async def create_group(
        self,
        token: str,
        *,
        handle: str,
        name: str,
        description: str | None,
        users: list[str],
        priority: float,
    ) -> GroupState:
        params: dict[str, Any] = {"name": name, "handle": handle}
        if description:
            params["description"] = description
        try:
            data = await self.call(token, "usergroups.create", priority=priority, **params)
        finally:
            self.forget_groups(token)  # a create that failed may still have landed: look again next time
        group = GroupState(data["usergroup"]["id"], True)
        self.forget_groups(token)
        if users:
            await self.set_members(token, group.id, users, priority=priority)
        return group

    async def members(self, token: str, group_id: str, *, fresh: bool = True) -> list[str]:
        """The group's members; `fresh=False` trusts the last read (resyncs read afresh)."""
        workspace = self.workspace(token)
        if not fresh and group_id in workspace.members:
            return list(workspace.members[group_id])
        data = await self.call(token, "usergroups.users.list", usergroup=group_id, include_disabled=True)
        workspace.members[group_id] = list(data.get("users", []))
        return list(workspace.members[group_id])

    async def set_members(self, token: str, group_id: str, users: list[str], *, priority: float) -> None:
        """Writes the member list, then reads it back. A failed write is checked before
        any retry, so a write that landed despite an error is not sent twice."""
        for attempt in range(3):
            try:
                await self.call(
                    token,
                    "usergroups.users.update",
                    usergroup=group_id,
                    users=",".join(users),
                    priority=priority,
                )
                break
            except Transient as error:
                if error.reason != R.SLACK_UNAVAILABLE:
                    raise
                if sorted(await self.members(token, group_id)) == sorted(users):
                    return  # the failed-looking write landed
                if attempt == 2:
                    raise
        actual = await self.members(token, group_id)
        if sorted(actual) != sorted(users):
            raise Transient(
                "the group's members differ from what was just written", reason=R.VERIFICATION_FAILED
            )

    async def set_enabled(self, token: str, group_id: str, enabled: bool, *, priority: float) -> None:
        method = "usergroups.enable" if enabled else "usergroups.disable"
        await self.call(token, method, usergroup=group_id, priority=priority)
        self.forget_groups(token)

    async def set_topic(self, token: str, channel: str, topic: str) -> None:
        await self.call(token, "conversations.setTopic", channel=channel, topic=topic)

    async def post(self, token: str, channel: str, text: str) -> None:
        await self.call(token, "chat.postMessage", limit_key=channel, channel=channel, text=text)
