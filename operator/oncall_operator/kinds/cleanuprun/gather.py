"""Gathering a cleanup's facts: the rule's tokens and complete listings of both services, read
concurrently (each under its own budget), as one `Directory`. Nothing is read that the rule does not
need: schedules only when it removes from schedules, access logs only for inactiveForDays, ..."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from oncall_operator.api.cleanup import CleanupAction, CleanupReason, CleanupRuleSpec
from oncall_operator.api.common import SecretKeyRef
from oncall_operator.clients.pagerduty_people import PagerDutyPeople
from oncall_operator.clients.slack_people import SlackPeople
from oncall_operator.core.cleanup.directory import Directory
from oncall_operator.core.errors import Misconfigured, OperatorError, Unauthorized
from oncall_operator.services import Services


class Unsupported(Misconfigured):
    """A condition of the rule this workspace cannot evaluate (inactiveForDays without access logs)."""

    default_reason = CleanupReason.UNSUPPORTED


@dataclass(frozen=True)
class People:
    """The cleanup views of the shared adapters (same clients, same budgets)."""

    pagerduty: PagerDutyPeople
    slack: SlackPeople

    @classmethod
    def of(cls, services: Services) -> People:
        return cls(PagerDutyPeople(services.pagerduty), SlackPeople(services.slack))


@dataclass(frozen=True)
class Tokens:
    pagerduty: str
    slack: str
    access_logs: str


async def read_tokens(services: Services, namespace: str, rule: CleanupRuleSpec) -> Tokens:
    async def read(ref: SecretKeyRef) -> str:
        return await services.read_credential(namespace, ref)

    slack = await read(rule.slack.token_secret_ref)
    logs_ref = rule.slack.access_logs_token_secret_ref
    return Tokens(
        pagerduty=await read(rule.pager_duty.token_secret_ref),
        slack=slack,
        access_logs=await read(logs_ref) if logs_ref is not None else slack,
    )


async def gather(people: People, tokens: Tokens, rule: CleanupRuleSpec, now: datetime) -> Directory:
    """Every listing the rule needs, or the first error (the others are cancelled)."""
    actions = set(rule.actions)
    match = rule.match
    reads: dict[str, Coroutine[Any, Any, Any]] = {
        "pagerduty_users": people.pagerduty.users(tokens.pagerduty),
        "slack_users": people.slack.users(tokens.slack),
    }
    if CleanupAction.REMOVE_FROM_SLACK_USER_GROUPS in actions or rule.exclude.slack_user_groups:
        reads["slack_groups"] = people.slack.groups(tokens.slack)
    if CleanupAction.REMOVE_FROM_PAGERDUTY_SCHEDULES in actions:
        reads["schedules"] = people.pagerduty.schedule_members(tokens.pagerduty)
    if CleanupAction.REMOVE_FROM_PAGERDUTY_ESCALATION_POLICIES in actions:
        reads["escalation_policies"] = people.pagerduty.policy_user_targets(tokens.pagerduty)
    if not rule.protection.allow_on_call:
        until = now + timedelta(hours=rule.protection.on_call_within_hours)
        reads["on_call_soon"] = people.pagerduty.on_call_between(tokens.pagerduty, now, until)
    if match.pager_duty is not None and match.pager_duty.not_on_call_for_days is not None:
        since = now - timedelta(days=match.pager_duty.not_on_call_for_days)
        reads["on_call_recently"] = people.pagerduty.on_call_between(tokens.pagerduty, since, now)
    if match.inactive_for_days is not None:
        reads["last_login"] = _access_logs(people, tokens, now - timedelta(days=match.inactive_for_days))
    try:
        async with asyncio.TaskGroup() as group:
            tasks = {name: group.create_task(read) for name, read in reads.items()}
    except BaseExceptionGroup as failures:
        raise first_failure(failures) from None
    return Directory(now=now, **{name: task.result() for name, task in tasks.items()})


async def _access_logs(people: People, tokens: Tokens, since: datetime) -> Mapping[str, datetime]:
    try:
        return await people.slack.last_logins(tokens.access_logs, since)
    except (Misconfigured, Unauthorized) as error:
        raise Unsupported(
            f"match.inactiveForDays: Slack's team.accessLogs is not available to this rule ({error.reason}: "
            f"{error.message}); it needs a paid plan and a workspace admin's user token "
            "(slack.accessLogsTokenSecretRef)"
        ) from error


def first_failure(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The failure that stopped a TaskGroup (classified ones first; the rest were cancelled by it)."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = next((e for e in error.exceptions if isinstance(e, OperatorError)), error.exceptions[0])
    return error
