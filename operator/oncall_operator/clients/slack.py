"""Slack adapter: one AsyncWebClient per token on one bounded HTTP session, per-method rate budgets
served earliest-handoff-first, a shared user cache, and every answer classified.

Reads go as GET with a query; writes as POST with the arguments in the body (a member list in a
URL breaks past ~800 ids). Writes are never retried blindly: the caller checks whether a failed
write landed before sending it again. Any answer that is not the documented JSON object - a proxy's
HTML page, plain text, truncated or non-object JSON, `ok: true` without the payload - is an
InvalidResponse, never an empty result.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse as SlackResponse

from oncall_operator.api.reasons import ExternalReason as R
from oncall_operator.clients.http_limits import CALL_DEADLINE_SECONDS, aiohttp_session
from oncall_operator.clients.ratelimit import BACKGROUND, PriorityRateLimiter, read_attempts
from oncall_operator.clients.slack_limits import POST_MESSAGE_PER_CHANNEL, READ_METHODS, per_minute
from oncall_operator.core.backoff import cap_server_wait, parse_retry_after
from oncall_operator.core.errors import (
    IncompleteListing,
    Misconfigured,
    NotFound,
    OperatorError,
    RateLimited,
    Transient,
    Unauthorized,
)
from oncall_operator.core.membership import SlackAccount
from oncall_operator.metrics import (
    API_REQUESTS,
    RATE_LIMIT_WAIT_SECONDS,
    RATE_LIMIT_WAITS,
    SERVER_WAITS_CAPPED,
)

USER_CACHE_SECONDS = 3600.0
NEGATIVE_CACHE_SECONDS = 600.0
GROUP_CACHE_SECONDS = 60.0
DIRECTORY_THRESHOLD = 20  # past this many unknown emails, read the directory instead of looking each up
MAX_PAGES = 200  # users.list at 1,000 per page: 200,000 users

_AUTH_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}
_RATE_LIMITED = {"ratelimited", "rate_limited"}
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
    "paid_only": (R.PLAN_UPGRADE_REQUIRED, "the Slack workspace's plan does not offer this method"),
    "not_allowed_token_type": (R.WRONG_TOKEN_TYPE, "Slack wants a person's (xoxp-) token for this method"),
}


@dataclass(frozen=True)
class GroupState:
    id: str
    enabled: bool
    name: str = ""
    description: str = ""
    channels: tuple[str, ...] = ()


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
    team_id: str | None = None
    bot_user_id: str | None = None
    # Members as of the last usergroups.list, and when we last wrote each group (a snapshot older
    # than our write is stale).
    listed_members: dict[str, tuple[str, ...]] = field(default_factory=dict)
    written_at: dict[str, float] = field(default_factory=dict)


def _digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def email_key(email: str) -> str:
    """Caches are keyed by a digest: the process never keeps an address longer than a request."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


# Slack's error codes and scope names are short snake_case words; anything else in those fields is a
# proxy's or a broken server's text, which may hold anything (an address, a name) and must not reach a
# condition, a log line or a metric label.
_ERROR_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_SCOPES = re.compile(r"[a-z][a-z0-9_.:,]{0,199}")


def slack_error_code(value: Any) -> str | None:
    """The `error` of an answer when it has the shape of a Slack error code, else None."""
    return value if isinstance(value, str) and _ERROR_CODE.fullmatch(value) else None


def scopes_named(value: Any) -> str:
    """The `needed` scopes of a missing_scope answer when they look like scopes, else "?"."""
    return value if isinstance(value, str) and _SCOPES.fullmatch(value) else "?"


def _invalid(method: str, problem: str) -> Transient:
    return Transient(f"Slack's answer to {method} {problem}", reason=R.INVALID_RESPONSE)


def payload(data: dict[str, Any], method: str, key: str, kind: type = dict) -> Any:
    """A documented field of an `ok: true` answer, or InvalidResponse when it is missing or wrong."""
    value = data.get(key)
    if not isinstance(value, kind):
        raise _invalid(method, f"has no {kind.__name__} '{key}'")
    return value


def account_of(user: Any, method: str) -> SlackAccount:
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        raise _invalid(method, "has a user without an id")
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
        deadline: float = CALL_DEADLINE_SECONDS,
    ):
        self.base_url = base_url or AsyncWebClient.BASE_URL
        self.deadline = deadline
        # >1 only where the server's limits are scaled too (sandbox benchmarks at accelerated time).
        self.rate_limit_scale = rate_limit_scale
        self._workspaces: dict[str, SlackWorkspace] = {}
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None

    def workspace(self, token: str) -> SlackWorkspace:
        key = hashlib.sha256(token.encode()).hexdigest()
        if key not in self._workspaces:
            if self._session is None or self._session.closed:
                self._session = aiohttp_session(self.deadline)
            client = AsyncWebClient(
                token=token,
                base_url=self.base_url,
                session=self._session,
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
        """One Web API call; `limit_key` splits a budget further (postMessage: per channel).

        Returns the `ok: true` answer as a dict; everything else raises a classified OperatorError."""
        workspace = self.workspace(token)
        limiter = self._limiter(workspace, method, limit_key)
        reading = method in READ_METHODS
        failures, attempts = 0, read_attempts(priority)
        slow = 0.0  # seconds spent in exchanges that failed
        for _ in range(attempts + 8):  # 429s don't use up attempts
            waited = await limiter.acquire(priority)
            if waited > 0.01:
                RATE_LIMIT_WAITS.labels("slack", method).inc()
                RATE_LIMIT_WAIT_SECONDS.labels("slack").inc(waited)
            sent = self._clock()
            try:
                if reading:
                    response = await workspace.client.api_call(method, http_verb="GET", params=params)
                else:
                    response = await workspace.client.api_call(method, data=params)
            except SlackApiError as error:
                if not isinstance(error.response, SlackResponse):  # the SDK could not read the body
                    API_REQUESTS.labels("slack", method, "invalid_response").inc()
                    failure: OperatorError = _invalid(method, "is not JSON")
                    failure.__cause__ = error
                else:
                    outcome = self._refused(method, error, limiter)
                    if outcome is None:
                        continue  # rate limited: the limiter waits as the server asked
                    failure = outcome
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                API_REQUESTS.labels("slack", method, "connection_error").inc()
                failure = Transient(
                    f"Slack unreachable for {method} ({type(error).__name__})", reason=R.SLACK_UNAVAILABLE
                )
                failure.__cause__ = error
            except (ValueError, TypeError, AttributeError, KeyError) as error:
                # The SDK choked on the body (plain text, a JSON string...): not what Slack documents.
                API_REQUESTS.labels("slack", method, "invalid_response").inc()
                failure = _invalid(method, f"could not be read ({type(error).__name__})")
                failure.__cause__ = error
            else:
                API_REQUESTS.labels("slack", method, str(response.status_code)).inc()
                if not isinstance(response.data, dict):
                    raise _invalid(method, f"is {type(response.data).__name__}, not a JSON object")
                return dict(response.data)
            # Reads are retried here with growing, jittered backoff; writes go back to the caller,
            # which checks whether they landed.
            # A garbled answer usually repeats: leave it to the resource's backoff.
            if not isinstance(failure, Transient) or not reading or failure.reason == R.INVALID_RESPONSE:
                raise failure
            failures += 1
            slow += self._clock() - sent
            # A server that drips or stalls for a whole call deadline is slow, not flaky: quick retries
            # would hold a background listing for attempts x deadline (6 x 30 s). The backoff retries.
            if failures >= attempts or slow >= self.deadline:
                raise failure
            await asyncio.sleep(min(10.0, 0.5 * 2 ** (failures - 1)) * (0.5 + random.random()))
        raise RateLimited(f"Slack kept rate-limiting {method}")

    def _refused(
        self, method: str, error: SlackApiError, limiter: PriorityRateLimiter
    ) -> OperatorError | None:
        """An answer the SDK refused: None when rate limited (wait and retry), else the failure."""
        status = error.response.status_code
        data = error.response.data
        code = slack_error_code(data.get("error")) if isinstance(data, dict) else None
        API_REQUESTS.labels("slack", method, code or str(status)).inc()
        if status == 429 or code in _RATE_LIMITED:
            header = error.response.headers.get("Retry-After") if error.response.headers else None
            seconds, capped = cap_server_wait(parse_retry_after(header, datetime.now(UTC)))
            if capped:
                SERVER_WAITS_CAPPED.labels("slack").inc()
            limiter.refund()  # a refused request did not use the server's budget
            limiter.pause(seconds)
            return None
        if status >= 500 or code in _TRANSIENT_ERRORS:
            return Transient(
                f"Slack answered {status} ({code or 'no error code'}) to {method}", reason=R.SLACK_UNAVAILABLE
            )
        if code is None:
            return _invalid(method, f"(HTTP {status}) is not a Slack error object")
        return self._classify(method, code, data)

    @staticmethod
    def _classify(method: str, code: str, data: Any) -> OperatorError:
        """An `ok: false` answer as a failure of the taxonomy; the message names the method and code only."""
        if code in _AUTH_ERRORS:
            return Unauthorized(f"Slack rejected the bot token ({code})", reason=R.AUTH_FAILED)
        if code == "missing_scope":
            needed = scopes_named(data.get("needed")) if isinstance(data, dict) else "?"
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

    async def team_id(self, token: str) -> str:
        """The workspace a token belongs to (auth.test, once per token)."""
        return (await self._identity(token))[0]

    async def own_user_id(self, token: str) -> str:
        """The token's own user (the app's bot user for a bot token), from auth.test once per token."""
        return (await self._identity(token))[1]

    async def _identity(self, token: str) -> tuple[str, str]:
        """(workspace, the bot's own user id), from auth.test once per token."""
        workspace = self.workspace(token)
        if workspace.team_id is None or workspace.bot_user_id is None:
            data = await self.call(token, "auth.test")
            workspace.team_id = payload(data, "auth.test", "team_id", str)
            workspace.bot_user_id = payload(data, "auth.test", "user_id", str)
        return workspace.team_id, workspace.bot_user_id

    async def posted_since(self, token: str, channel: str, since: float, text_digest: str) -> bool | None:
        """Whether the bot posted a message with this text digest in `channel` since `since` (epoch s).
        None when the history cannot be read (a missing channels:history scope, say)."""
        _, bot = await self._identity(token)
        cursor = ""
        try:
            for _ in range(5):  # 5 pages of 200: messages since a crash a moment ago
                params: dict[str, Any] = {"channel": channel, "oldest": f"{since - 5:.6f}", "limit": 200}
                if cursor:
                    params["cursor"] = cursor
                data = await self.call(token, "conversations.history", **params)
                for message in payload(data, "conversations.history", "messages", list):
                    text = message.get("text") if isinstance(message, dict) else None
                    if isinstance(text, str) and message.get("user") == bot and text_digest == _digest(text):
                        return True
                metadata = data.get("response_metadata")
                cursor = metadata.get("next_cursor", "") if isinstance(metadata, dict) else ""
                if not cursor or not data.get("has_more"):
                    return False
        except (Unauthorized, Misconfigured, NotFound):
            return None
        return None

    async def user_by_email(self, token: str, email: str) -> SlackAccount | None:
        cache = self.workspace(token).users_by_email
        return await self._lookup_user(token, cache, email_key(email), "users.lookupByEmail", email=email)

    async def user_by_id(self, token: str, user_id: str) -> SlackAccount | None:
        cache = self.workspace(token).users_by_id
        return await self._lookup_user(token, cache, user_id, "users.info", user=user_id)

    async def accounts_by_email(self, token: str, emails: Collection[str]) -> dict[str, SlackAccount | None]:
        """Accounts for many emails: one paged users.list (Tier 2, 1,000 a page) when more than
        DIRECTORY_THRESHOLD are unknown - 60 lookups at Tier 3 take over a minute - else a lookup each.
        The directory read also knows deactivated accounts, which a lookup reports as missing."""
        workspace = self.workspace(token)
        now = self._clock()
        result: dict[str, SlackAccount | None] = {}
        missing = []
        for email in emails:
            cached = workspace.users_by_email.get(email_key(email))
            if cached and now - cached[0] < (USER_CACHE_SECONDS if cached[1] else NEGATIVE_CACHE_SECONDS):
                result[email] = cached[1]
            else:
                missing.append(email)
        if len(missing) > DIRECTORY_THRESHOLD:
            for user in await self.list_users(token):
                profile = user.get("profile") if isinstance(user, dict) else None
                address = profile.get("email") if isinstance(profile, dict) else None
                if isinstance(address, str) and address:
                    workspace.users_by_email[email_key(address)] = (now, account_of(user, "users.list"))
            for email in missing:
                result[email] = workspace.users_by_email.setdefault(email_key(email), (now, None))[1]
        else:
            found = await asyncio.gather(*(self.user_by_email(token, email) for email in missing))
            result.update(zip(missing, found, strict=True))
        return result

    def forget_user(self, token: str, *, email: str | None = None, user_id: str | None = None) -> None:
        """Drops cached lookups a fresh answer contradicted (e.g. a deactivated member)."""
        workspace = self.workspace(token)
        if email is not None:
            workspace.users_by_email.pop(email_key(email), None)
        if user_id is not None:
            workspace.users_by_id.pop(user_id, None)

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
            data = await self.call(token, method, priority=BACKGROUND, **params)
            account: SlackAccount | None = account_of(data.get("user"), method)
        except NotFound:
            account = None
        cache[key] = (now, account)
        return account

    async def list_users(self, token: str, *, priority: float = 1e12) -> list[dict[str, Any]]:
        """The whole directory (users.list, cursor pages of 1,000), or an error: never a partial list."""
        users: list[dict[str, Any]] = []
        cursor, seen = "", set()
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"limit": 1000}
            if cursor:
                params["cursor"] = cursor
            data = await self.call(token, "users.list", priority=priority, **params)
            members = payload(data, "users.list", "members", list)
            users.extend(members)
            metadata = data.get("response_metadata")
            cursor = metadata.get("next_cursor", "") if isinstance(metadata, dict) else ""
            if not isinstance(cursor, str):
                raise _invalid("users.list", "has a cursor that is not a string")
            if not cursor:
                return users
            if cursor in seen or not members:
                raise IncompleteListing(
                    "Slack's answer to users.list repeats a page or makes no progress",
                    reason=R.INVALID_RESPONSE,
                )
            seen.add(cursor)
        raise IncompleteListing(f"users.list has more than {MAX_PAGES} pages", reason=R.LISTING_TOO_LARGE)

    async def find_group(self, token: str, handle: str, *, refresh: bool = False) -> GroupState | None:
        workspace = self.workspace(token)
        now = self._clock()
        if refresh or workspace.groups is None or now - workspace.groups[0] > GROUP_CACHE_SECONDS:
            # One usergroups.list (Tier 2) at a time per workspace; waiters reuse its answer.
            async with workspace.groups_lock:
                fresh = workspace.groups is not None and workspace.groups[0] >= now
                if not fresh:
                    data = await self.call(
                        token, "usergroups.list", include_disabled=True, include_users=True
                    )
                    groups = {}
                    listed: dict[str, tuple[str, ...]] = {}
                    for group in payload(data, "usergroups.list", "usergroups", list):
                        if not isinstance(group, dict) or not isinstance(group.get("id"), str):
                            raise _invalid("usergroups.list", "has a group without an id")
                        prefs = group.get("prefs")
                        channels = prefs.get("channels") if isinstance(prefs, dict) else None
                        groups[str(group.get("handle", ""))] = GroupState(
                            group["id"],
                            not group.get("date_delete"),
                            str(group.get("name") or ""),
                            str(group.get("description") or ""),
                            tuple(c for c in channels or () if isinstance(c, str)),
                        )
                        users = group.get("users")
                        if isinstance(users, list) and all(isinstance(u, str) for u in users):
                            listed[group["id"]] = tuple(users)
                    workspace.groups = (self._clock(), groups)
                    workspace.listed_members = listed
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
        channels: list[str] | None = None,
    ) -> GroupState:
        params: dict[str, Any] = {"name": name, "handle": handle}
        if description:
            params["description"] = description
        if channels:
            params["channels"] = ",".join(channels)
        try:
            data = await self.call(token, "usergroups.create", priority=priority, **params)
        finally:
            self.forget_groups(token)  # a create that failed may still have landed: look again next time
        created = payload(data, "usergroups.create", "usergroup")
        group = GroupState(payload(created, "usergroups.create", "id", str), True, name, description or "")
        if users:
            await self.set_members(token, group.id, users, priority=priority)
        return group

    async def update_group(
        self, token: str, group_id: str, changes: dict[str, str], *, priority: float
    ) -> None:
        """Name, description or default channels (idempotent: safe to retry)."""
        await self.call(token, "usergroups.update", priority=priority, usergroup=group_id, **changes)
        self.forget_groups(token)

    async def members(self, token: str, group_id: str, *, fresh: bool = True) -> list[str]:
        """The group's members. `fresh=False` trusts the last verified read (at a handoff). Fresh, the
        newest usergroups.list snapshot serves when it was taken after our last write of the group -
        one call for every group of the workspace instead of one usergroups.users.list each (Tier 2:
        a thousand groups would take 50 minutes) - else the group is read directly."""
        workspace = self.workspace(token)
        if not fresh and group_id in workspace.members:
            return list(workspace.members[group_id])
        snapshot = workspace.groups
        if (
            snapshot is not None
            and group_id in workspace.listed_members
            and snapshot[0] > workspace.written_at.get(group_id, float("-inf"))
            and self._clock() - snapshot[0] <= GROUP_CACHE_SECONDS
        ):
            # As good as a direct read: the handoff path (`fresh=False`) trusts it from now on.
            workspace.members[group_id] = list(workspace.listed_members[group_id])
            return list(workspace.listed_members[group_id])
        return await self.read_members(token, group_id)

    def mark_written(self, token: str, group_id: str) -> None:
        """A usergroups.list snapshot taken before now no longer tells this group's members."""
        self.workspace(token).written_at[group_id] = self._clock()

    async def read_members(self, token: str, group_id: str) -> list[str]:
        """usergroups.users.list, always: what Slack holds right now."""
        workspace = self.workspace(token)
        data = await self.call(token, "usergroups.users.list", usergroup=group_id, include_disabled=True)
        users = payload(data, "usergroups.users.list", "users", list)
        if not all(isinstance(user, str) for user in users):
            raise _invalid("usergroups.users.list", "lists something that is not a user id")
        workspace.members[group_id] = list(users)
        return list(users)

    async def set_members(self, token: str, group_id: str, users: list[str], *, priority: float) -> list[str]:
        """Writes the member list, then reads it back, and returns what Slack holds. A failed write is
        checked before any retry, so a write that landed despite an error is not sent twice."""
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
                if error.reason not in (R.SLACK_UNAVAILABLE, R.INVALID_RESPONSE):
                    raise
                if sorted(await self.read_members(token, group_id)) == sorted(users):
                    return sorted(users)  # the failed-looking write landed
                if attempt == 2:
                    raise
            finally:
                self.mark_written(token, group_id)
        return await self.read_members(token, group_id)

    async def set_enabled(self, token: str, group_id: str, enabled: bool, *, priority: float) -> None:
        method = "usergroups.enable" if enabled else "usergroups.disable"
        await self.call(token, method, usergroup=group_id, priority=priority)
        self.forget_groups(token)

    async def set_topic(self, token: str, channel: str, topic: str) -> None:
        await self.call(token, "conversations.setTopic", channel=channel, topic=topic)

    async def post(self, token: str, channel: str, text: str) -> None:
        await self.call(token, "chat.postMessage", limit_key=channel, channel=channel, text=text)

    # The user directory cache as an inventory class (api/inventory.py): erasure and retention.
    def cache_clock(self) -> float:
        """Now, on the clock cache entries are stamped with (for `learned_before`)."""
        return self._clock()

    def cached_users(
        self, *, email: str | None, user_id: str | None, evict: bool, learned_before: float | None = None
    ) -> int:
        """Cache entries naming the person (by email digest, or by Slack id), in every workspace;
        evicted with `evict`; with `learned_before`, only entries stamped before it."""
        digest = email_key(email) if email else None
        found = 0
        for workspace in self._workspaces.values():
            for cache in (workspace.users_by_email, workspace.users_by_id):
                for key, (when, account) in list(cache.items()):
                    if learned_before is not None and when >= learned_before:
                        continue
                    if key == digest or (user_id and (key == user_id or (account and account.id == user_id))):
                        found += 1
                        if evict:
                            del cache[key]
        return found

    def prune_users(self, max_age: float) -> tuple[int, float | None]:
        """Evicts entries older than max_age seconds: (evicted, age of the oldest left)."""
        now, evicted, oldest = self._clock(), 0, None
        for workspace in self._workspaces.values():
            for cache in (workspace.users_by_email, workspace.users_by_id):
                for key, (when, _) in list(cache.items()):
                    if now - when > max_age:
                        del cache[key]
                        evicted += 1
                    else:
                        oldest = max(oldest or 0.0, now - when)
        return evicted, oldest

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
