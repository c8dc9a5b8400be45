"""Driving one DeletionRequest: Pending -> Running -> Completed | Failed, crash-safe.

Every external write is preceded by its intent in the status (so a restart checks before writing
again: Slack's group members are read first, a PagerDuty delete of a deleted user is a 404); the
operator's own erasures are idempotent (a redacted item names nobody). The request holds a finalizer
while it runs, released only when it is finished. The Secret naming the subject is deleted last,
after the receipt recorded the verification. The subject's ids as first resolved are kept in the
status while the request runs (`status.resolved`, cleared when it finishes): a resumed erasure of a
subject named by email only still knows the PagerDuty user it deleted, which a lookup no longer finds.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from oncall_operator.api.common import rfc3339
from oncall_operator.api.deletion import (
    DUE_DAYS,
    EMAIL_KEY,
    PAGERDUTY_USER_KEY,
    SLACK_USER_KEY,
    Counts,
    DeletionMode,
    DeletionPhase,
    DeletionReason,
    DeletionRequestSpec,
    DeletionRequestStatus,
    DeletionScope,
    ResolvedIds,
)
from oncall_operator.core.conditions import condition, set_conditions
from oncall_operator.core.errors import Misconfigured, Unauthorized
from oncall_operator.core.privacy.subject import Subject
from oncall_operator.core.subjects import IdentifierKind, subject_ref
from oncall_operator.kinds.cleanuprun.gather import People
from oncall_operator.kinds.deletionrequest.external import remove_externally
from oncall_operator.kinds.deletionrequest.receipt import Request
from oncall_operator.kinds.deletionrequest.scan import Findings, Instant, Lookup, Scanner
from oncall_operator.services import Services

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """Not finished yet (a run under way names the subject): the daemon retries after a pause."""


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def resolve(
    services: Services,
    people: People,
    namespace: str,
    spec: DeletionRequestSpec,
    kept: ResolvedIds | None = None,
) -> tuple[Subject, str | None]:
    """The subject's refs and ids from its Secret (and the credentials, to look ids up by email).

    `kept` holds the ids a first resolution found (status.resolved): a resumed erasure uses them rather
    than look them up again, since an account it deleted (the PagerDuty user) is no longer found by email.
    """
    data = await services.kube.read_secret_data(namespace, spec.subject_secret_ref.name)
    if data is None:
        raise Misconfigured(
            f"Secret {spec.subject_secret_ref.name} not found", reason=DeletionReason.SUBJECT_NOT_FOUND
        )

    def text(key: str) -> str | None:
        value = data.get(key, b"").decode(errors="replace").strip()
        return value or None

    email, slack_user, pagerduty_user = text(EMAIL_KEY), text(SLACK_USER_KEY), text(PAGERDUTY_USER_KEY)
    if kept is not None:
        slack_user, pagerduty_user = slack_user or kept.slack_user, pagerduty_user or kept.pager_duty_user
    if not (email or slack_user or pagerduty_user):
        raise Misconfigured(
            f"Secret {spec.subject_secret_ref.name} has none of {EMAIL_KEY}, {SLACK_USER_KEY}, "
            f"{PAGERDUTY_USER_KEY}",
            reason=DeletionReason.SUBJECT_NOT_FOUND,
        )
    credentials = spec.credentials
    if email and not slack_user and credentials.slack:
        token = await services.read_credential(namespace, credentials.slack.token_secret_ref)
        account = await services.slack.user_by_email(token, email)
        slack_user = account.id if account else None
    if email and not pagerduty_user and credentials.pager_duty:
        token = await services.read_credential(namespace, credentials.pager_duty.token_secret_ref)
        wanted = email.strip().lower()
        pagerduty_user = next(
            (u.id for u in await people.pagerduty.users(token) if u.email.strip().lower() == wanted), None
        )
    key = await services.subjects.key()
    refs = []
    if email:
        refs.append(subject_ref(key, IdentifierKind.EMAIL, email))
    if slack_user:
        refs.append(subject_ref(key, IdentifierKind.SLACK_USER, slack_user))
    if pagerduty_user:
        refs.append(subject_ref(key, IdentifierKind.PAGERDUTY_USER, pagerduty_user))
    return Subject(frozenset(refs), slack_user, pagerduty_user, primary=refs[0]), email


async def step(
    services: Services,
    people: People,
    request: Request,
    spec: DeletionRequestSpec,
    created: datetime,
    generation: int | None,
    lookup: Lookup,
    namespaces: tuple[str, ...],
) -> None:
    """Takes the request as far as it goes; raises RetryLater, or a failure of the taxonomy."""
    status = request.status
    now = datetime.now(UTC)  # receipts are in Kubernetes' time, as creationTimestamp and dueBy
    if status.phase is DeletionPhase.PENDING:
        await request.finalizer(hold=True)
        status.phase, status.start_time = DeletionPhase.RUNNING, rfc3339(now)
        status.due_by = rfc3339(created + timedelta(days=DUE_DAYS))
        status.observed_generation = generation
        await request.save()
    erase = spec.mode is DeletionMode.ERASE
    if status.verified is None:
        if any(action.state == "intent" for action in status.external):
            # A write recorded before a restart: look only once it can no longer be in flight.
            await services.writes_settled(f"DeletionRequest {request.namespace}/{request.name}")
        subject, email = await resolve(services, people, request.namespace, spec, status.resolved)
        status.subject = subject.primary
        if erase and status.resolved is None:  # kept before any account is deleted (cleared at the end)
            status.resolved = ResolvedIds(
                slack_user=subject.slack_user, pager_duty_user=subject.pagerduty_user
            )
            await request.save()
        scanner = Scanner(services, namespaces)
        me = (request.namespace, request.name)
        operator_data = DeletionScope.OPERATOR_DATA in spec.scope
        began = Instant.now(services)
        found = await scanner.scan(subject, lookup, me, erase=erase and operator_data, email=email)
        _record(status, found)
        if erase:
            await remove_externally(services, people, request, spec, subject, found)
            if found.runs_under_way:
                status.reason = DeletionReason.RUN_IN_PROGRESS
                status.message = f"{found.runs_under_way} CleanupRun(s) under way name the subject; retrying"
                await request.save()
                raise RetryLater
            again = await scanner.scan(subject, lookup, me, erase=False, email=email, before=began)
            status.remaining = again.erasable if operator_data else None
            if operator_data:
                for data, left in again.erasable_by_class.items():
                    status.counts.setdefault(str(data), Counts()).remaining = left
            external_ok = all(a.state in ("done", "alreadyDone", "refused") for a in status.external)
            status.verified = (not operator_data or again.erasable == 0) and external_ok
        else:
            status.verified = False  # nothing was erased: a Preview is a report
        await request.save()
    await _finish(services, request, spec, now, generation)


def _record(status: DeletionRequestStatus, found: Findings) -> None:
    status.counts = {
        str(data): Counts(found=n, erased=found.erased.get(data, 0)) for data, n in found.counts.items()
    }
    status.locations = found.locations[:200]
    status.spec_references = found.spec_references[:100]
    status.on_call = found.on_call


async def _finish(
    services: Services, request: Request, spec: DeletionRequestSpec, now: datetime, generation: int | None
) -> None:
    status = request.status
    erase = spec.mode is DeletionMode.ERASE
    refused = [a for a in status.external if a.state == "refused"]
    failed = [a for a in status.external if a.state == "failed"]
    if not erase:
        phase, reason = DeletionPhase.COMPLETED, DeletionReason.PREVIEWED
        message = f"{len(status.locations)} location(s) hold data about the subject; nothing was erased"
    elif failed or not status.verified:
        phase, reason = (
            DeletionPhase.FAILED,
            (DeletionReason.EXTERNAL_FAILED if failed else DeletionReason.VERIFICATION_FAILED),
        )
        message = f"{len(failed)} external action(s) failed; {status.remaining or 0} record(s) remain"
    else:
        phase, reason = DeletionPhase.COMPLETED, DeletionReason.ERASED
        erased = sum(c.erased for c in status.counts.values())
        message = f"{erased} record(s) erased; a re-scan found none left"
        if refused:
            message += f"; {len(refused)} external action(s) refused (see status.external)"
    # Only a completed Erase deletes it: after a failure the same Secret serves the next request.
    if (
        phase is DeletionPhase.COMPLETED
        and erase
        and spec.delete_subject_secret
        and not status.subject_secret_deleted
    ):
        try:
            await services.kube.delete_secret(request.namespace, spec.subject_secret_ref.name)
            status.subject_secret_deleted = True
        except Unauthorized:
            # The chart's rbac.deleteSubjectSecrets=false: the erasure stands, the Secret is the owner's.
            message += (
                "; the subject Secret is left for its owner to delete (the operator may not delete Secrets)"
            )
    status.phase, status.reason, status.message = phase, reason, message
    status.completed_at, status.resolved = rfc3339(now), None
    status.conditions = set_conditions(
        status.conditions,
        condition("Ready", phase is DeletionPhase.COMPLETED, reason, message, generation, now),
    )
    await request.save()
    await request.finalizer(hold=False)


def fail(
    status: DeletionRequestStatus, reason: str, message: str, now: datetime, generation: int | None
) -> None:
    status.phase, status.reason, status.message = DeletionPhase.FAILED, reason, message
    status.completed_at, status.resolved = rfc3339(now), None
    status.conditions = set_conditions(
        status.conditions, condition("Ready", False, reason, message, generation, now)
    )


def retrying(
    status: DeletionRequestStatus, reason: str, message: str, now: datetime, generation: int | None
) -> None:
    """Still Running, retried after a failure: the reason is on the receipt and its Ready condition,
    so an outage or a garbled answer reads as a classified condition, not as silent progress."""
    status.reason, status.message = reason, f"retrying: {message}"
    status.conditions = set_conditions(
        status.conditions, condition("Ready", False, reason, status.message, generation, now)
    )
