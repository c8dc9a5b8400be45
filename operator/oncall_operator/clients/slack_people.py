"""Slack for cleanups: the complete user directory, user groups with their members, last logins from
team.accessLogs, and removing members from a group - through the shared Slack adapter and budgets.

Removing members is a write of the remaining member list, read fresh just before; a write that fails
is checked (read again) before it is sent again, so it never lands twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from oncall_operator.api.reasons import ExternalReason as R
from oncall_operator.clients.in_flight import InFlight, shared_while_in_flight
from oncall_operator.clients.ratelimit import BACKGROUND
from oncall_operator.clients.slack import Slack, payload
from oncall_operator.core.cleanup.directory import SlackUser
from oncall_operator.core.cleanup.edits import remove_from_members
from oncall_operator.core.cleanup.progress import ChangeState
from oncall_operator.core.errors import IncompleteListing, NotFound, Transient, Unauthorized

ACCESS_LOG_PAGES = 100  # Slack pages team.accessLogs 1,000 entries at a time, 100 pages at most
WRITE_ATTEMPTS = 3
Outcome = tuple[ChangeState, str | None]


class SlackPeople:
    def __init__(self, slack: Slack) -> None:
        self.slack = slack
        self.in_flight = InFlight()

    @shared_while_in_flight
    async def users(self, token: str) -> tuple[SlackUser, ...]:
        try:
            members = await self.slack.list_users(token, priority=BACKGROUND)
        except Transient as error:
            raise IncompleteListing.of("users.list", error) from error
        users = []
        for member in members:
            if not isinstance(member, dict) or not isinstance(member.get("id"), str):
                raise IncompleteListing("users.list listed a user without an id", reason=R.INVALID_RESPONSE)
            profile = member.get("profile")
            profile = profile if isinstance(profile, dict) else {}
            email = profile.get("email") if isinstance(profile.get("email"), str) else None
            users.append(
                SlackUser(
                    id=member["id"],
                    email=email,
                    deleted=bool(member.get("deleted")),
                    guest=bool(member.get("is_restricted") or member.get("is_ultra_restricted")),
                    bot=bool(member.get("is_bot") or member.get("is_app_user"))
                    or member["id"] == "USLACKBOT",
                )
            )
        own = await self.slack.own_user_id(token)
        if not any(u.id == own for u in users):
            # A directory cut short (or answered empty) would make every PagerDuty user look
            # "missing" from Slack; the token's own account is always listed in a whole one.
            raise IncompleteListing(
                "users.list did not list the token's own account: the directory is cut short or empty",
                reason=R.INCOMPLETE_LISTING,
            )
        people = [u for u in users if not u.bot]
        if people and not any(u.email for u in people):
            # Without users:read.email every account looks like it has no email, and every PagerDuty
            # user would look "missing" from Slack: refuse instead.
            raise Unauthorized(
                "users.list shows no email addresses: the Slack token lacks users:read.email",
                reason=R.MISSING_SCOPE,
            )
        return tuple(users)

    @shared_while_in_flight
    async def groups(self, token: str) -> Mapping[str, frozenset[str]]:
        """Every user group, disabled ones included, with its members (one Tier 2 call)."""
        try:
            data = await self.slack.call(
                token, "usergroups.list", priority=BACKGROUND, include_users=True, include_disabled=True
            )
        except Transient as error:
            raise IncompleteListing.of("usergroups.list", error) from error
        groups: dict[str, frozenset[str]] = {}
        for group in payload(data, "usergroups.list", "usergroups", list):
            if not isinstance(group, dict) or not isinstance(group.get("id"), str):
                raise IncompleteListing(
                    "usergroups.list listed a group without an id", reason=R.INVALID_RESPONSE
                )
            users = group.get("users")
            if not isinstance(users, list):
                raise IncompleteListing(
                    "usergroups.list did not list a group's members", reason=R.INVALID_RESPONSE
                )
            groups[group["id"]] = frozenset(u for u in users if isinstance(u, str))
        return MappingProxyType(groups)

    async def last_logins(self, token: str, since: datetime) -> Mapping[str, datetime]:
        """The last login of everyone who logged in at or after `since` (newest first, so paging stops
        at the first older entry). Raises Misconfigured/Unauthorized when the workspace cannot answer
        (plan, token type or scope): the caller reports the rule's condition as Unsupported.

        `since` is taken back to its whole minute, so that runs starting in the same minute share one
        read: an earlier cutoff only counts more people as active, which matches fewer."""
        return await self._logins_since(token, since.replace(second=0, microsecond=0))

    @shared_while_in_flight
    async def _logins_since(self, token: str, since: datetime) -> Mapping[str, datetime]:
        cutoff = since.astimezone(UTC).timestamp()
        last: dict[str, datetime] = {}
        cursor = ""
        for _ in range(ACCESS_LOG_PAGES):
            params: dict[str, Any] = {"limit": 1000}
            if cursor:
                params["cursor"] = cursor
            try:
                data = await self.slack.call(token, "team.accessLogs", priority=BACKGROUND, **params)
            except Transient as error:
                raise IncompleteListing.of("team.accessLogs", error) from error
            logins = payload(data, "team.accessLogs", "logins", list)
            older = False
            for login in logins:
                user, when = (
                    (login.get("user_id"), login.get("date_last"))
                    if isinstance(login, dict)
                    else (None, None)
                )
                if not isinstance(user, str) or not isinstance(when, int | float):
                    raise IncompleteListing(
                        "team.accessLogs listed an entry without user or time", reason=R.INVALID_RESPONSE
                    )
                if when < cutoff:
                    older = True
                    continue
                moment = datetime.fromtimestamp(when, UTC)
                if user not in last or last[user] < moment:
                    last[user] = moment
            metadata = data.get("response_metadata")
            cursor = metadata.get("next_cursor", "") if isinstance(metadata, dict) else ""
            if older or not cursor or not logins:
                return MappingProxyType(last)
        raise IncompleteListing(
            f"team.accessLogs has more than {ACCESS_LOG_PAGES} pages since the cutoff",
            reason=R.LISTING_TOO_LARGE,
        )

    async def probe_access_logs(self, token: str) -> None:
        """One small request: raises Misconfigured/Unauthorized when the workspace cannot serve logs."""
        await self.slack.call(token, "team.accessLogs", priority=BACKGROUND, limit=1)

    async def remove_members(self, token: str, group_id: str, users: Iterable[str]) -> dict[str, Outcome]:
        leaving = frozenset(users)
        try:
            current = await self.slack.read_members(token, group_id)
        except NotFound:
            return dict.fromkeys(leaving, (ChangeState.ALREADY_DONE, None))  # the group is gone
        removal = remove_from_members(current, leaving)
        outcomes: dict[str, Outcome] = dict.fromkeys(removal.absent, (ChangeState.ALREADY_DONE, None))
        outcomes.update({u: (ChangeState.NEEDS_PERSON, reason) for u, reason in removal.blocked.items()})
        if removal.body is None:
            return outcomes
        remaining: list[str] = removal.body
        after: list[str] = []
        for attempt in range(WRITE_ATTEMPTS):
            try:
                data = await self.slack.call(
                    token,
                    "usergroups.users.update",
                    priority=BACKGROUND,
                    usergroup=group_id,
                    users=",".join(remaining),
                )
                self.slack.mark_written(token, group_id)
                group = data.get("usergroup")
                answered = group.get("users") if isinstance(group, dict) else None
                # An answer without the members: read them back.
                after = (
                    answered if isinstance(answered, list) else await self.slack.read_members(token, group_id)
                )
                break
            except Transient as error:
                if (
                    error.reason not in (R.SLACK_UNAVAILABLE, R.INVALID_RESPONSE)
                    or attempt == WRITE_ATTEMPTS - 1
                ):
                    raise
                self.slack.mark_written(token, group_id)  # it may have landed
                # Did the failed-looking write land? Only send it again when it did not.
                after = await self.slack.read_members(token, group_id)
                if not removal.removed & set(after):
                    break
        still = set(after)
        for user in removal.removed:
            outcomes[user] = (
                (ChangeState.FAILED, R.VERIFICATION_FAILED) if user in still else (ChangeState.DONE, None)
            )
        return outcomes
