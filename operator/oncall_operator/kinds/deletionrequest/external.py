"""Scopes slackUserGroups and pagerDuty: the cleanup adapters remove the person, each write after
its intent is recorded in the receipt.

The Slack part is refused while the person is on call unless the PagerDuty part is in scope too:
OnCallSync re-derives its groups from PagerDuty and would put them back at its next sync.

The PagerDuty part takes the person off every schedule layer and escalation rule first (as a cleanup
does), then deletes the user: PagerDuty refuses to delete someone a schedule or policy still needs.
"""

from __future__ import annotations

from datetime import timedelta

from oncall_operator.api.deletion import DeletionReason, DeletionRequestSpec, DeletionScope, ExternalAction
from oncall_operator.core.cleanup.progress import ChangeState
from oncall_operator.core.privacy.subject import Subject, when_account_not_found
from oncall_operator.kinds.cleanuprun.gather import People
from oncall_operator.kinds.deletionrequest.receipt import Request
from oncall_operator.kinds.deletionrequest.scan import Findings
from oncall_operator.services import Services

PAGERDUTY_EDITS = ("pagerDutySchedule/", "pagerDutyEscalationPolicy/")
STATES = {
    ChangeState.DONE: "done",
    ChangeState.ALREADY_DONE: "alreadyDone",
    ChangeState.NEEDS_PERSON: "refused",
    ChangeState.FAILED: "failed",
}


async def remove_externally(
    services: Services,
    people: People,
    request: Request,
    spec: DeletionRequestSpec,
    subject: Subject,
    found: Findings,
) -> None:
    status = request.status
    actions: dict[str, ExternalAction] = {a.target: a for a in status.external}

    async def record(target: str, state: str, reason: str | None = None) -> None:
        actions[target] = ExternalAction(target=target, state=state, reason=reason)
        status.external = list(actions.values())
        await request.save()

    namespace = request.namespace
    credentials = spec.credentials
    pagerduty_token = (
        await services.read_credential(namespace, credentials.pager_duty.token_secret_ref)
        if credentials.pager_duty
        else None
    )
    on_call = found.on_call
    if pagerduty_token and subject.pagerduty_user:
        now = await services.clock.now()
        current = await people.pagerduty.on_call_between(pagerduty_token, now, now + timedelta(minutes=1))
        on_call = on_call or subject.pagerduty_user in current
    status.on_call = on_call
    for scope, found_user, target, account in (
        (DeletionScope.SLACK_USER_GROUPS, subject.slack_user, "slackUserGroups", "Slack user"),
        (DeletionScope.PAGERDUTY, subject.pagerduty_user, "pagerDutyUser", "PagerDuty user"),
    ):
        recorded = actions.get(target)
        settled = (
            None
            if found_user or scope not in spec.scope
            else when_account_not_found(recorded.state if recorded else None, account)
        )
        if settled is not None:
            await record(target, *settled)

    async def settle_landed_edits(still_naming: set[str]) -> None:
        """A schedule or policy edit whose intent was recorded before a restart, and which no longer
        names the person: the edit landed (the user deletion's rule, when_account_not_found)."""
        for target, action in list(actions.items()):
            if action.state == "intent" and target.startswith(PAGERDUTY_EDITS) and target not in still_naming:
                await record(target, "done")

    if DeletionScope.PAGERDUTY in spec.scope and not subject.pagerduty_user:
        await settle_landed_edits(set())  # the user is gone: nothing names them any more
    if DeletionScope.SLACK_USER_GROUPS in spec.scope and credentials.slack and subject.slack_user:
        token = await services.read_credential(namespace, credentials.slack.token_secret_ref)
        for group in sorted(found.groups):
            target = f"slackUserGroup/{group}"
            if actions.get(target) and actions[target].state != "intent":
                continue
            if on_call and DeletionScope.PAGERDUTY not in spec.scope:
                await record(
                    target,
                    "refused",
                    f"{DeletionReason.ON_CALL}: on call in PagerDuty, so OnCallSync would add them back; "
                    "add scope pagerDuty, or wait until their shift ends",
                )
                continue
            await record(target, "intent")
            outcome = (await people.slack.remove_members(token, group, [subject.slack_user]))[
                subject.slack_user
            ]
            await record(target, STATES.get(outcome[0], "failed"), outcome[1])
    if DeletionScope.PAGERDUTY in spec.scope and pagerduty_token and subject.pagerduty_user:
        user = subject.pagerduty_user

        def pending(target: str) -> bool:
            return not actions.get(target) or actions[target].state == "intent"

        if pending("pagerDutyUser"):  # once deleted, the schedules and policies no longer name them
            pagerduty = people.pagerduty
            edits = {  # target -> the edit taking them off that schedule or policy
                f"{prefix}{object_id}": (remove, object_id)
                for prefix, listing, remove in (
                    (PAGERDUTY_EDITS[0], pagerduty.schedule_members, pagerduty.remove_from_schedule),
                    (PAGERDUTY_EDITS[1], pagerduty.policy_user_targets, pagerduty.remove_from_policy),
                )
                for object_id, users in (await listing(pagerduty_token)).items()
                if user in users
            }
            await settle_landed_edits(set(edits))
            for target, (remove, object_id) in sorted(edits.items()):
                if pending(target):
                    await record(target, "intent")
                    state, reason = (await remove(pagerduty_token, object_id, [user]))[user]
                    await record(target, STATES.get(state, "failed"), reason)
            await record("pagerDutyUser", "intent")
            state, reason = await people.pagerduty.delete_user(pagerduty_token, user)
            await record("pagerDutyUser", STATES.get(state, "failed"), reason)
