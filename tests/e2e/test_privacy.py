"""DeletionRequest and RetentionPolicy end to end: the operator process, the real kube-apiserver, the sandbox.

One person (PAAA / UAAA / paaa@example.test, always on call) is seeded across every data class the
inventory declares: CleanupRun items, an earlier receipt, Events, the OnCallSync status and the
operator's user caches (by a real sync), and a CleanupRule spec. Preview finds them all and erases
nothing; Erase erases them, re-scans, and the receipt says so without repeating the personal data.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oncall_devkit.localcluster import free_port
from oncall_operator.core.subjects import IdentifierKind, subject_ref
from oncall_sandbox.seed import SandboxSeed
from oncall_sandbox.server import SandboxServer
from support import scenario
from support.cleanup import cleanuprule
from support.kube import Kube, operator_process, wait_for
from support.oncall import Sandbox, create_token_secrets, oncallsync, wait_condition
from support.privacy import (
    ERASURE_FINALIZER,
    cleanup_run,
    deletion_request,
    event,
    status_patch,
    subject_secret,
)

pytestmark = pytest.mark.cluster
EMAIL, SLACK_ID, PD_ID = "paaa@example.test", "UAAA", "PAAA"
KEY_TEXT = secrets.token_urlsafe(32)  # the Secret's bytes are the HMAC key
KEY = KEY_TEXT.encode()
REF = subject_ref(KEY, IdentifierKind.EMAIL, EMAIL)
SHORT = REF.removeprefix("hmac-sha256:")
OTHER = subject_ref(KEY, IdentifierKind.EMAIL, "pbbb@example.test").removeprefix("hmac-sha256:")


def finished(kube: Kube, namespace: str, name: str, timeout: float = 60) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        found = kube.get("deletionrequest", name, namespace)
        return found if (found.get("status") or {}).get("phase") in ("Completed", "Failed") else None

    return wait_for(probe, timeout=timeout, what=f"DeletionRequest {name} finished")


def items(kube: Kube, namespace: str, name: str) -> list[str]:
    found: list[str] = kube.get("cleanuprun", name, namespace)["status"]["items"]
    return found


def our_events(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    listing = json.loads(kube.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    return [e for e in listing if (e.get("source") or {}).get("component") == "oncall-operator"]


def external_writes(sandbox: Sandbox) -> int:
    return len(
        [r for r in sandbox.requests() if r["method"] in ("usergroups.users.update", "DELETE /users/{id}")]
    )


@pytest.fixture
def seeded(kube: Kube, namespace: str, tmp_path: Path) -> Iterator[tuple[Sandbox, Path]]:
    """The person in every class, then the operator (its own namespace: the test's, with a known key)."""
    kube.kubectl(
        "create", "secret", "generic", "oncall-operator-subject-key", "-n", namespace,
        f"--from-literal=key={KEY_TEXT}",
    )  # fmt: skip
    cleanup_run(kube, namespace, "run-a", [f"{PD_ID} {SLACK_ID} {SHORT} D g0", f"PBBB UBBB {OTHER} D g0"])
    cleanup_run(kube, namespace, "run-b", [f"- {SLACK_ID} {SHORT} M g0"])
    cleanup_run(kube, namespace, "run-c", [f"PBBB UBBB {OTHER} D g0"])
    kube.apply(deletion_request("earlier", namespace, "gone", mode="Preview"))
    status_patch(
        kube, "deletionrequests", "earlier", namespace,
        {"phase": "Completed", "subject": REF, "completedAt": "2026-01-01T00:00:00Z"},
    )  # fmt: skip
    event(kube, namespace, "about-her", f"removed {SLACK_ID} from S0GROUP1")
    event(kube, namespace, "about-him", "removed UBBB from S0GROUP1")
    kube.apply(cleanuprule("keep", namespace, exclude={"slackUsers": [SLACK_ID]}))
    create_token_secrets(kube, namespace)
    with SandboxServer(SandboxSeed.model_validate(scenario.seed(rotation=("PAAA",)))) as server:
        sandbox = Sandbox(server)
        log = tmp_path / "operator.log"
        env = {**server.operator_env(), "ONCALL_OPERATOR_NAMESPACE": namespace}
        port = free_port()
        args = ("-n", namespace, "--metrics-port", str(port), "--metrics-host", "127.0.0.1")
        with operator_process(kube, *args, env=env, log_path=log) as process:
            (tmp_path / "metrics-port").write_text(str(port))
            kube.apply(oncallsync("oncall", namespace))
            wait_condition(kube, "oncall", namespace, "Ready", "True")
            yield sandbox, log
            assert process.poll() is None, f"the operator died: {log.read_text()[-3000:]}"


def test_preview_lists_every_location_and_erase_leaves_nothing(
    kube: Kube, namespace: str, seeded: tuple[Sandbox, Path]
) -> None:
    sandbox, log = seeded
    subject_secret(kube, namespace, "jane", EMAIL)
    kube.apply(deletion_request("preview", namespace, "jane", mode="Preview"))
    preview = finished(kube, namespace, "preview")["status"]
    assert preview["phase"] == "Completed" and preview["reason"] == "Previewed", preview
    assert preview["subject"] == REF
    counts = preview["counts"]
    assert counts["cleanupRuns"] == {"found": 2, "erased": 0}
    # The seeded Event, and the one the sync posted when it added her.
    assert counts["events"] == {"found": 2, "erased": 0}
    assert counts["deletionReceipts"] == {"found": 1, "erased": 0}
    assert counts["userDirectoryCache"]["found"] >= 1
    assert counts["resourceStatuses"]["found"] == 1
    assert preview["onCall"] is True
    assert {
        "kind": "CleanupRule",
        "namespace": namespace,
        "name": "keep",
        "field": "spec.exclude.slackUsers",
    } in (preview["specReferences"])
    assert preview["dueBy"] > preview["startTime"]
    # Nothing erased, and the Secret kept for the Erase.
    assert any(SLACK_ID in line for line in items(kube, namespace, "run-a"))
    assert any(e["metadata"]["name"] == "about-her" for e in our_events(kube, namespace))
    assert kube.exists("secret", "jane", namespace)
    assert ERASURE_FINALIZER not in kube.get("deletionrequest", "preview", namespace)["metadata"].get(
        "finalizers", []
    )

    writes_before = external_writes(sandbox)
    kube.apply(deletion_request("erase", namespace, "jane", mode="Erase"))
    receipt = finished(kube, namespace, "erase")
    status = receipt["status"]
    assert status["phase"] == "Completed" and status["reason"] == "Erased", status
    assert status["verified"] is True and status["remaining"] == 0
    assert status["counts"]["cleanupRuns"] == {"found": 2, "erased": 2}
    assert status["counts"]["events"] == {"found": 2, "erased": 2}
    # The earlier receipt and the Preview's: other receipts lose the subject's reference.
    assert status["counts"]["deletionReceipts"] == {"found": 2, "erased": 2}
    assert status["subjectSecretDeleted"] is True and not kube.exists("secret", "jane", namespace)
    assert status["completedAt"] and status["dueBy"]
    assert ERASURE_FINALIZER not in receipt["metadata"].get("finalizers", [])
    # The re-scan's findings, checked from outside.
    for run in ("run-a", "run-b"):
        assert not any(t in line for line in items(kube, namespace, run) for t in (SLACK_ID, PD_ID, SHORT))
    assert items(kube, namespace, "run-a")[1] == f"PBBB UBBB {OTHER} D g0"  # others untouched
    assert items(kube, namespace, "run-c") == [f"PBBB UBBB {OTHER} D g0"]
    left = our_events(kube, namespace)
    assert [e["metadata"]["name"] for e in left if "about" in e["metadata"]["name"]] == ["about-him"]
    assert not [e for e in left if SLACK_ID in e["message"] or PD_ID in e["message"]]
    for other in ("earlier", "preview"):
        assert kube.get("deletionrequest", other, namespace)["status"]["subject"] == "erased"
    # The receipt repeats no personal data; the spec the owner wrote is listed, never rewritten.
    text = json.dumps(status)
    assert EMAIL not in text and SLACK_ID not in text and PD_ID not in text
    assert kube.get("cleanuprule", "keep", namespace)["spec"]["exclude"]["slackUsers"] == [SLACK_ID]
    # No external writes were in scope.
    assert external_writes(sandbox) == writes_before
    assert EMAIL not in log.read_text()


def test_a_running_request_cannot_be_deleted_until_it_finishes(
    kube: Kube, namespace: str, seeded: Any
) -> None:
    # A run under way names the subject: the request stays Running (and holds its finalizer).
    status_patch(kube, "cleanupruns", "run-b", namespace, {"phase": "AwaitingApproval"})
    subject_secret(kube, namespace, "jane", EMAIL)
    kube.apply(deletion_request("erase", namespace, "jane", mode="Erase"))

    def running() -> dict[str, Any] | None:
        found = kube.get("deletionrequest", "erase", namespace)
        return found if (found.get("status") or {}).get("reason") == "RunInProgress" else None

    held = wait_for(running, timeout=30, what="RunInProgress")
    assert held["status"]["phase"] == "Running"
    assert ERASURE_FINALIZER in held["metadata"]["finalizers"]
    kube.kubectl("delete", "deletionrequest", "erase", "-n", namespace, "--wait=false")
    assert kube.exists("deletionrequest", "erase", namespace)  # held by the finalizer
    status_patch(kube, "cleanupruns", "run-b", namespace, {"phase": "Completed"})
    wait_for(lambda: not kube.exists("deletionrequest", "erase", namespace), timeout=60, what="released")
    assert not any(SLACK_ID in line for line in items(kube, namespace, "run-b"))


def test_no_email_or_token_leaks_anywhere_the_operator_writes(
    kube: Kube, namespace: str, seeded: tuple[Sandbox, Path], tmp_path: Path
) -> None:
    """The scenario above at the operator's most verbose logging (-v; the SDKs' loggers stay at WARNING
    whatever -v says, because their DEBUG lines print request parameters), then every place scanned."""
    import urllib.request

    _, log = seeded
    subject_secret(kube, namespace, "jane", EMAIL)
    kube.apply(deletion_request("preview", namespace, "jane", mode="Preview"))
    finished(kube, namespace, "preview")
    kube.apply(
        {
            "apiVersion": "oncall-operator.dev/v1alpha1",
            "kind": "RetentionPolicy",
            "metadata": {"name": "keep", "namespace": namespace},
            "spec": {"rules": [{"data": "userDirectoryCache", "maxAge": "1h"}], "interval": "10s"},
        }
    )
    kube.apply(deletion_request("erase", namespace, "jane", mode="Erase"))
    finished(kube, namespace, "erase")
    wait_for(lambda: (kube.get("retentionpolicy", "keep", namespace).get("status") or {}).get("lastRunTime"))
    port = (tmp_path / "metrics-port").read_text()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    places = {
        "log": log.read_text(),
        # Every object the operator reads or writes here: specs, statuses, annotations, Events.
        "objects": kube.kubectl("get", "oncall,events", "-n", namespace, "-o", "json").stdout,
        "metrics": metrics,
    }
    # The privacy metrics, with no person in their labels: requests by phase (the seeded receipt,
    # the Preview and the Erase are Completed), completion times, nothing open.
    assert 'oncall_operator_deletion_requests{phase="Completed"} 3.0' in metrics
    assert 'oncall_operator_deletion_requests{phase="Running"} 0.0' in metrics
    assert "oncall_operator_deletion_oldest_open_request_age_seconds 0.0" in metrics
    assert "oncall_operator_deletion_request_duration_seconds_count 2.0" in metrics
    assert 'oncall_operator_retention_pruned_total{data="userDirectoryCache"}' in metrics
    needles = [
        "@example.test",  # every email the sandbox holds
        EMAIL,
        scenario.SLACK_TOKEN,
        scenario.PD_TOKEN,
        KEY_TEXT,
    ]
    hits = {
        (where, needle)
        for where, text in places.items()
        for needle in needles
        if needle.lower() in text.lower()
    }
    assert hits == set(), hits
    # Ids are declared (CleanupRun items, OnCallSync status): never in metric labels.
    assert SLACK_ID not in metrics and PD_ID not in metrics
