"""A DeletionRequest whose subject is given by email only, resumed after its PagerDuty user was deleted:
the ids first resolved are kept in the receipt while it runs (status.resolved, ids only) and the resumed
erasure uses them; they are cleared when the request finishes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from oncall_operator.api.deletion import (
    DeletionPhase,
    DeletionRequestSpec,
    DeletionRequestStatus,
    ResolvedIds,
)
from oncall_operator.core.status import render_status
from oncall_operator.core.subjects import IdentifierKind, subject_ref
from oncall_operator.kinds.deletionrequest.daemon import _finish, fail, resolve
from oncall_operator.kinds.deletionrequest.receipt import Request

KEY = b"k" * 32
EMAIL, SLACK_ID, PD_ID = "paaa@example.test", "UAAA", "PAAA"
SPEC = DeletionRequestSpec.model_validate(
    {
        "subjectSecretRef": {"name": "subject"},
        "mode": "Erase",
        "scope": ["operatorData", "slackUserGroups", "pagerDuty"],
        "credentials": {
            "slack": {"tokenSecretRef": {"name": "slack", "key": "bot-token"}},
            "pagerDuty": {"tokenSecretRef": {"name": "pagerduty", "key": "token"}},
        },
    }
)


class Directory:
    """Slack and PagerDuty as the lookups by email see them; `lookups` counts them."""

    def __init__(self, pagerduty_users: list[tuple[str, str]]) -> None:
        self.pagerduty_users, self.lookups = pagerduty_users, 0

    async def user_by_email(self, token: str, email: str) -> Any:
        self.lookups += 1
        return SimpleNamespace(id=SLACK_ID) if email == EMAIL else None

    async def users(self, token: str) -> list[Any]:
        self.lookups += 1
        return [SimpleNamespace(id=i, email=e) for i, e in self.pagerduty_users]


class Kube:
    def __init__(self) -> None:
        self.status_patches: list[dict[str, Any]] = []
        self.finalizers = ["oncall-operator.dev/erasure"]

    async def read_secret_data(self, namespace: str, name: str) -> dict[str, bytes]:
        return {"email": EMAIL.encode()}

    async def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.status_patches.append(status)

    async def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        return {"metadata": {"finalizers": list(self.finalizers), "resourceVersion": "1"}}

    async def patch_object(self, plural: str, namespace: str, name: str, patch: dict[str, Any]) -> None:
        self.finalizers = patch["metadata"]["finalizers"]

    async def delete_secret(self, namespace: str, name: str) -> None:
        return None


def services(directory: Directory, kube: Kube | None = None) -> tuple[Any, Any]:
    async def read_credential(namespace: str, ref: Any) -> str:
        return "token"

    async def key() -> bytes:
        return KEY

    found: Any = SimpleNamespace(
        kube=kube or Kube(),
        read_credential=read_credential,
        slack=directory,
        subjects=SimpleNamespace(key=key),
    )
    return found, SimpleNamespace(pagerduty=directory)


def test_first_resolution_finds_both_ids_by_email() -> None:
    directory = Directory([(PD_ID, "PAAA@example.test"), ("PBBB", "pbbb@example.test")])
    subject, email = asyncio.run(resolve(*services(directory), "ns", SPEC))
    assert (subject.slack_user, subject.pagerduty_user, email) == (SLACK_ID, PD_ID, EMAIL)
    assert subject_ref(KEY, IdentifierKind.PAGERDUTY_USER, PD_ID) in subject.refs
    assert subject.primary == subject_ref(KEY, IdentifierKind.EMAIL, EMAIL)


def test_a_resumed_erasure_still_knows_the_pagerduty_user_it_deleted() -> None:
    gone = Directory([("PBBB", "pbbb@example.test")])  # the user delete landed before the kill
    subject, _ = asyncio.run(resolve(*services(gone), "ns", SPEC))
    assert subject.pagerduty_user is None  # what a resumed erasure saw without the kept ids
    kept = ResolvedIds(slack_user=SLACK_ID, pager_duty_user=PD_ID)
    subject, email = asyncio.run(resolve(*services(gone), "ns", SPEC, kept))
    assert (subject.slack_user, subject.pagerduty_user, email) == (SLACK_ID, PD_ID, EMAIL)
    assert PD_ID in subject.ids and PD_ID in subject.tokens  # the re-scan and the index look for it
    assert subject_ref(KEY, IdentifierKind.PAGERDUTY_USER, PD_ID) in subject.refs
    assert subject.primary == subject_ref(KEY, IdentifierKind.EMAIL, EMAIL)  # the same receipt ref
    assert gone.lookups == 2  # the first resolve's two; kept ids are not looked up again


def test_the_kept_ids_are_ids_only_and_cleared_when_the_request_finishes() -> None:
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    kept = ResolvedIds(slack_user=SLACK_ID, pager_duty_user=PD_ID)
    running = DeletionRequestStatus(phase=DeletionPhase.RUNNING, resolved=kept, verified=True)
    assert render_status(running)["resolved"] == {"slackUser": SLACK_ID, "pagerDutyUser": PD_ID}
    assert EMAIL not in str(render_status(running))

    kube = Kube()
    found, _ = services(Directory([]), kube)
    request = Request(found, "ns", "erase", running)
    asyncio.run(_finish(found, request, SPEC, now, 1))
    assert running.phase is DeletionPhase.COMPLETED
    assert kube.status_patches[-1]["resolved"] is None  # a merge patch's null: the ids are deleted
    assert kube.finalizers == []

    failed = DeletionRequestStatus(phase=DeletionPhase.RUNNING, resolved=kept)
    fail(failed, "ExternalFailed", "1 external action(s) failed", now, 1)
    assert failed.resolved is None and render_status(failed)["resolved"] is None
