"""What `oncall-operator cleanup run | approve | show` do, with the user's own kubeconfig.

`show` reads the rule's tokens from the run's namespace (the user needs `get` on those Secrets) and
resolves ids to names and emails live from both APIs; nothing personal is ever stored in the run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from oncall_operator.api.cleanup import CLEANUP_RULE, RUN_NOW_ANNOTATION
from oncall_operator.api.cleanuprun import CLEANUP_RUN, CleanupRunSpec, CleanupRunStatus, RunPhase
from oncall_operator.clients.kube import Kube
from oncall_operator.clients.pagerduty import PagerDuty
from oncall_operator.clients.slack import Slack
from oncall_operator.core.cleanup.encoding import decode
from oncall_operator.core.cleanup.plan import ChangeKind
from oncall_operator.core.cleanup.progress import Progress
from oncall_operator.core.cleanup.report import Person, render, rows
from oncall_operator.core.cleanup.schedule import on_demand_run_name
from oncall_operator.core.errors import NotFound, OperatorError
from oncall_operator.core.status import parse_status

LOOKUPS_AT_ONCE = 8
LOOKUPS_BEFORE_LISTING = 100  # more ids than this: read the directory instead of each id


class CommandError(Exception):
    """A one-line answer for the user (exit status 1)."""


async def start_run(kube: Kube, namespace: str, rule: str, wait_seconds: float) -> str:
    """Sets the rule's run-now annotation to a new value and waits for the operator's run."""
    try:
        await kube.get_object(CLEANUP_RULE.plural, namespace, rule)
    except NotFound:
        raise CommandError(f"no CleanupRule {rule} in namespace {namespace}") from None
    request = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    await kube.patch_object(
        CLEANUP_RULE.plural, namespace, rule, {"metadata": {"annotations": {RUN_NOW_ANNOTATION: request}}}
    )
    name = on_demand_run_name(rule, request)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        try:
            await kube.get_object(CLEANUP_RUN.plural, namespace, name)
            return name
        except NotFound:
            await asyncio.sleep(0.5)
    raise CommandError(
        f"asked for run {name}, but the operator did not create it within {wait_seconds:.0f}s (is it running, "
        "and is the rule suspended?)"
    )


async def approve(kube: Kube, namespace: str, run: str, plan_hash: str) -> str:
    """Approves a run's plan by its hash; refuses locally when the hash is not the run's (a typo would
    otherwise refuse the run for good)."""
    status, _ = await _read_run(kube, namespace, run)
    if status.phase is not RunPhase.AWAITING_APPROVAL:
        raise CommandError(f"run {run} is {status.phase.value}, not AwaitingApproval")
    if plan_hash != status.plan_hash:
        raise CommandError(f"{plan_hash} is not the plan hash of run {run} ({status.plan_hash})")
    await kube.patch_object(CLEANUP_RUN.plural, namespace, run, {"spec": {"approvedPlanHash": plan_hash}})
    return f"approved run {run} ({status.counts.affected} people, {status.counts.changes} changes)"


async def show(kube: Kube, slack: Slack, pagerduty: PagerDuty, namespace: str, run: str, form: str) -> str:
    status, spec = await _read_run(kube, namespace, run)
    items = decode(status.targets, status.items)
    progress = Progress.from_status(items, status.progress)
    rule = spec.rule

    async def secret(name: str, key: str) -> str:
        return await kube.read_secret_key(namespace, name, key)

    pd_token = await secret(rule.pager_duty.token_secret_ref.name, rule.pager_duty.token_secret_ref.key)
    slack_token = await secret(rule.slack.token_secret_ref.name, rule.slack.token_secret_ref.key)
    pd_ids = sorted({i.pagerduty_user for i in items if i.pagerduty_user})
    slack_ids = sorted({i.slack_user for i in items if i.slack_user})
    people = await resolve_people(pagerduty, slack, pd_token, slack_token, pd_ids, slack_ids)
    names = await _target_names(slack, pagerduty, slack_token, pd_token, items)
    return render(rows(items, progress, status.failures, people, names), form)


async def resolve_people(
    pagerduty: PagerDuty,
    slack: Slack,
    pd_token: str,
    slack_token: str,
    pd_ids: list[str],
    slack_ids: list[str],
    *,
    listing_above: int = LOOKUPS_BEFORE_LISTING,
) -> dict[str, Person]:
    """Names and emails for ids, live: one lookup each, or - for more than `listing_above` ids - the
    whole directory in pages, which costs less (Slack's users.info is 100 a minute, users.list pages
    1,000). Ids not found (deleted) map to Person(None, None)."""
    people: dict[str, Person] = {}
    if len(pd_ids) > listing_above:
        wanted = set(pd_ids)
        for user in await pagerduty.list_all(pd_token, "/users", "users", "GET /users"):
            if user.get("id") in wanted:
                people[user["id"]] = Person(user.get("name"), user.get("email"))
        people.update({u: Person(None, None) for u in pd_ids if u not in people})
        pd_ids = []
    if len(slack_ids) > listing_above:
        wanted = set(slack_ids)
        for user in await slack.list_users(slack_token):
            if user.get("id") in wanted:
                profile = user.get("profile") or {}
                people[user["id"]] = Person(user.get("real_name") or user.get("name"), profile.get("email"))
        people.update({u: Person(None, None) for u in slack_ids if u not in people})
        slack_ids = []
    limit = asyncio.Semaphore(LOOKUPS_AT_ONCE)

    async def bounded(lookup: Callable[[str], Awaitable[Person]], user: str) -> Person:
        async with limit:
            return await lookup(user)

    async def pd_person(user: str) -> Person:
        try:
            found = await pagerduty.get(pd_token, f"/users/{user}", "GET /users/{id}")
        except NotFound:
            return Person(None, None)
        return Person(found.get("name"), found.get("email"))

    async def slack_person(user: str) -> Person:
        try:
            found = (await slack.call(slack_token, "users.info", user=user)).get("user") or {}
        except NotFound:
            return Person(None, None)
        profile = found.get("profile") or {}
        return Person(found.get("real_name") or found.get("name"), profile.get("email"))

    found = await asyncio.gather(
        *(bounded(pd_person, user) for user in pd_ids),
        *(bounded(slack_person, user) for user in slack_ids),
    )
    people.update(zip([*pd_ids, *slack_ids], found, strict=True))
    return people


async def _target_names(
    slack: Slack, pagerduty: PagerDuty, slack_token: str, pd_token: str, items: Any
) -> dict[str, str]:
    kinds = {c.target: c.kind for item in items for c in item.changes if c.target}
    names: dict[str, str] = {}
    if ChangeKind.SLACK_GROUP in kinds.values():
        data = await slack.call(slack_token, "usergroups.list", include_disabled=True)
        names.update({g["id"]: "@" + str(g.get("handle", "")) for g in data.get("usergroups") or []})
    paths = {
        ChangeKind.SCHEDULE: "schedules",
        ChangeKind.ESCALATION_POLICY: "escalation_policies",
        ChangeKind.TEAM: "teams",
    }
    for target, kind in sorted(kinds.items()):
        if kind in paths:
            try:
                found = await pagerduty.get(
                    pd_token, f"/{paths[kind]}/{target}", f"GET /{paths[kind]}/{{id}}"
                )
                names[target] = str(found.get("name") or found.get("summary") or "")
            except OperatorError:
                names[target] = "(not found)"
    return names


async def _read_run(kube: Kube, namespace: str, run: str) -> tuple[CleanupRunStatus, CleanupRunSpec]:
    try:
        found = await kube.get_object(CLEANUP_RUN.plural, namespace, run)
    except NotFound:
        raise CommandError(f"no CleanupRun {run} in namespace {namespace}") from None
    return parse_status(CleanupRunStatus, found.get("status")), CleanupRunSpec.model_validate(
        found.get("spec") or {}
    )
