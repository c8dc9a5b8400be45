"""PagerDuty for cleanups: complete listings of users, schedules, escalation policies and on-call,
and the removals a run makes - all through the shared PagerDuty adapter and its account budget.

A listing is complete or an error: a page that keeps failing, paging without progress, or more users
than classic pagination reaches (10,000) raises IncompleteListing - never a shorter list, because
"missing from Slack" computed from half a directory would delete people.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from oncall_operator.api.cleanup import CleanupReason
from oncall_operator.api.reasons import ExternalReason as R
from oncall_operator.clients.in_flight import InFlight, shared_while_in_flight
from oncall_operator.clients.pagerduty import PagerDuty
from oncall_operator.clients.ratelimit import BACKGROUND
from oncall_operator.core.cleanup.directory import PagerDutyUser
from oncall_operator.core.cleanup.edits import (
    Removal,
    deletion_refusal,
    remove_from_layers,
    remove_from_rules,
)
from oncall_operator.core.cleanup.progress import ChangeState
from oncall_operator.core.errors import IncompleteListing, Misconfigured, NotFound, OperatorError, Transient

Outcome = tuple[ChangeState, str | None]


def _ids(refs: Any) -> frozenset[str]:
    return frozenset(r["id"] for r in refs or [] if isinstance(r, dict) and isinstance(r.get("id"), str))


def refusal_lines(error: OperatorError) -> list[str]:
    """The `errors` lines of PagerDuty's 400 envelope, from the SDK error the adapter chained."""
    response = getattr(error.__cause__, "response", None)
    try:
        body = response.json() if response is not None else None
    except ValueError:
        return []
    envelope = body.get("error") if isinstance(body, dict) else None
    lines = envelope.get("errors") if isinstance(envelope, dict) else None
    return [str(line) for line in lines] if isinstance(lines, list) else []


class PagerDutyPeople:
    def __init__(self, pagerduty: PagerDuty) -> None:
        self.pagerduty = pagerduty
        self.in_flight = InFlight()

    async def _list(
        self, token: str, path: str, key: str, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        what = f"GET {path}"
        try:
            return await self.pagerduty.list_all(token, path, key, what, params=params, priority=BACKGROUND)
        except Transient as error:
            raise IncompleteListing.of(what, error) from error

    @shared_while_in_flight
    async def users(self, token: str) -> tuple[PagerDutyUser, ...]:
        users = []
        for user in await self._list(token, "/users", "users"):
            if not isinstance(user.get("id"), str) or not isinstance(user.get("email"), str):
                raise IncompleteListing(
                    "GET /users listed a user without an id or email", reason=R.INVALID_RESPONSE
                )
            users.append(
                PagerDutyUser(user["id"], user["email"], str(user.get("role") or ""), _ids(user.get("teams")))
            )
        return tuple(users)

    @shared_while_in_flight
    async def schedule_members(self, token: str) -> Mapping[str, frozenset[str]]:
        """Schedule id -> the users on it (the listing names them; the layers are read when removing)."""
        schedules = await self._list(token, "/schedules", "schedules")
        return MappingProxyType({s["id"]: _ids(s.get("users")) for s in schedules})

    @shared_while_in_flight
    async def policy_user_targets(self, token: str) -> Mapping[str, frozenset[str]]:
        """Escalation policy id -> users it targets directly (schedule targets are the schedules' business)."""
        targets: dict[str, frozenset[str]] = {}
        for policy in await self._list(token, "/escalation_policies", "escalation_policies"):
            users = {
                t["id"]
                for rule in policy.get("escalation_rules") or []
                for t in (rule or {}).get("targets") or []
                if isinstance(t, dict)
                and str(t.get("type", "")).startswith("user")
                and isinstance(t.get("id"), str)
            }
            targets[policy["id"]] = frozenset(users)
        return MappingProxyType(targets)

    async def on_call_between(self, token: str, since: datetime, until: datetime) -> frozenset[str]:
        """Everyone on call at any time in [since, until] through any escalation policy (and users a
        policy targets directly, who are always on call). One row per user, policy and level.

        The window is widened to whole minutes, so that runs starting in the same minute share one
        read: a wider window only finds more people on call, which protects more and matches fewer."""
        return await self._on_call_in_minutes(token, _minute_floor(since), _minute_ceil(until))

    @shared_while_in_flight
    async def _on_call_in_minutes(self, token: str, since: datetime, until: datetime) -> frozenset[str]:
        params = {
            "since": since.astimezone(UTC).isoformat(),
            "until": until.astimezone(UTC).isoformat(),
            "earliest": "true",
            "time_zone": "UTC",
        }
        rows = await self._list(token, "/oncalls", "oncalls", params)
        # A row without a user id hides someone on call: skipping it would let a cleanup delete them
        # or an erasure treat them as off call. The listing is incomplete, like a user without an email.
        if not all(isinstance(r.get("user"), dict) and isinstance(r["user"].get("id"), str) for r in rows):
            raise IncompleteListing(
                "GET /oncalls listed an on-call entry without a user id", reason=R.INVALID_RESPONSE
            )
        return frozenset(r["user"]["id"] for r in rows)

    async def remove_from_schedule(
        self, token: str, schedule_id: str, users: Iterable[str]
    ) -> dict[str, Outcome]:
        try:
            schedule = await self.pagerduty.get(
                token, f"/schedules/{schedule_id}", "GET /schedules/{id}", priority=BACKGROUND
            )
        except NotFound:
            return dict.fromkeys(users, (ChangeState.ALREADY_DONE, None))
        removal = remove_from_layers(schedule.get("schedule_layers") or [], users)
        if removal.body is not None:
            body = {
                "schedule": {
                    "type": "schedule",
                    "time_zone": schedule.get("time_zone", "UTC"),
                    "schedule_layers": removal.body,
                }
            }
            await self._write(token, "PUT", f"/schedules/{schedule_id}", "PUT /schedules/{id}", body)
        return _outcomes(removal)

    async def remove_from_policy(
        self, token: str, policy_id: str, users: Iterable[str]
    ) -> dict[str, Outcome]:
        try:
            policy = await self.pagerduty.get(
                token,
                f"/escalation_policies/{policy_id}",
                "GET /escalation_policies/{id}",
                priority=BACKGROUND,
            )
        except NotFound:
            return dict.fromkeys(users, (ChangeState.ALREADY_DONE, None))
        removal = remove_from_rules(policy.get("escalation_rules") or [], users)
        if removal.body is not None:
            body = {
                "escalation_policy": {
                    "type": "escalation_policy",
                    "name": policy.get("name", policy_id),
                    "escalation_rules": removal.body,
                }
            }
            await self._write(
                token, "PUT", f"/escalation_policies/{policy_id}", "PUT /escalation_policies/{id}", body
            )
        return _outcomes(removal)

    async def remove_from_team(self, token: str, team_id: str, user: str) -> Outcome:
        try:
            await self._write(
                token, "DELETE", f"/teams/{team_id}/users/{user}", "DELETE /teams/{id}/users/{user_id}"
            )
        except NotFound:
            return ChangeState.ALREADY_DONE, None  # the team or the user is gone: nothing to remove
        return ChangeState.DONE, None

    async def delete_user(self, token: str, user: str) -> Outcome:
        try:
            await self._write(token, "DELETE", f"/users/{user}", "DELETE /users/{id}")
        except NotFound:
            return ChangeState.ALREADY_DONE, None  # deleted already (by us before a restart, or by someone)
        except Misconfigured as error:
            if getattr(getattr(error.__cause__, "response", None), "status_code", 0) == 400:
                return ChangeState.NEEDS_PERSON, deletion_refusal(refusal_lines(error))
            raise
        return ChangeState.DONE, None

    async def _write(
        self, token: str, verb: str, path: str, what: str, body: dict[str, Any] | None = None
    ) -> None:
        try:
            await self.pagerduty.send(token, verb, path, what, body=body, priority=BACKGROUND)
        except Misconfigured as error:
            if verb == "PUT" and getattr(getattr(error.__cause__, "response", None), "status_code", 0) == 400:
                # The edit was refused (someone changed the object meanwhile): a person should look.
                raise Misconfigured(
                    f"PagerDuty refused {what}", reason=CleanupReason.PAGERDUTY_REFUSED
                ) from error
            raise


def _minute_floor(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def _minute_ceil(moment: datetime) -> datetime:
    floor = _minute_floor(moment)
    return floor if floor == moment else floor + timedelta(minutes=1)


def _outcomes(removal: Removal) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = dict.fromkeys(removal.removed, (ChangeState.DONE, None))
    outcomes.update(dict.fromkeys(removal.absent, (ChangeState.ALREADY_DONE, None)))
    outcomes.update({user: (ChangeState.NEEDS_PERSON, reason) for user, reason in removal.blocked.items()})
    return outcomes
