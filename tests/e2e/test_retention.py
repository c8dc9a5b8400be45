"""RetentionPolicy end to end: prunes by age and by count, the strictest policy wins, and reports."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from support.kube import Kube, operator_process, wait_for
from support.privacy import GROUP, cleanup_run, deletion_request, event, status_patch

pytestmark = pytest.mark.cluster
NOW = datetime.now(UTC)


def ago(delta: timedelta) -> str:
    return (NOW - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def policy(name: str, namespace: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": GROUP,
        "kind": "RetentionPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"rules": list(rules), "interval": "10s"},
    }


def names(kube: Kube, plural: str, namespace: str) -> list[str]:
    out = kube.kubectl("get", plural, "-n", namespace, "-o", "jsonpath={.items[*].metadata.name}").stdout
    return sorted(out.split())


@pytest.fixture
def ops(kube: Kube) -> str:
    return kube.create_namespace()


@pytest.fixture
def running(kube: Kube, namespace: str, ops: str, tmp_path: Path) -> Iterator[Path]:
    # Seeded before the operator starts: finished runs and receipts of known ages.
    for i in range(5):
        cleanup_run(kube, namespace, f"r{i}", [], completionTime=ago(timedelta(minutes=10 - i)))
    cleanup_run(kube, namespace, "old", [], completionTime=ago(timedelta(days=10)))
    for name, age in (("receipt-old", timedelta(days=40)), ("receipt-new", timedelta(days=1))):
        kube.apply(deletion_request(name, namespace, "gone"))
        status_patch(
            kube, "deletionrequests", name, namespace, {"phase": "Completed", "completedAt": ago(age)}
        )
    event(kube, namespace, "fresh", "synced")
    event(kube, namespace, "stale", "synced", last=ago(timedelta(hours=2)))  # past the built-in 1h
    log = tmp_path / "operator.log"
    env = {
        "ONCALL_OPERATOR_NAMESPACE": ops,
        "ONCALL_SLACK_URL": "http://127.0.0.1:9",
        "ONCALL_PAGERDUTY_URL": "http://127.0.0.1:9",
    }
    with operator_process(kube, "-n", namespace, "-n", ops, env=env, log_path=log) as process:
        yield log
        assert process.poll() is None, f"the operator died: {log.read_text()[-3000:]}"


def test_admission_refuses_unknown_classes_and_bad_durations(kube: Kube, namespace: str) -> None:
    for rule in (
        {"data": "emails", "maxAge": "1h"},
        {"data": "events", "maxAge": "soon"},
        {"data": "events"},
    ):
        result = kube.kubectl("apply", "-f", "-", input=_yaml(policy("bad", namespace, rule)), check=False)
        assert result.returncode != 0, rule
    result = kube.kubectl(
        "apply",
        "-f",
        "-",
        input=_yaml(policy("bad", namespace, {"data": "events", "maxCount": 3})),
        check=False,
    )
    assert "maxCount applies to cleanupRuns and deletionReceipts only" in result.stderr


def test_prunes_by_age_and_count_and_the_strictest_policy_wins(
    kube: Kube, namespace: str, ops: str, running: Path
) -> None:
    kube.apply(
        policy(
            "local",
            namespace,
            {"data": "cleanupRuns", "maxAge": "7d", "maxCount": 4},
            {"data": "deletionReceipts", "maxAge": "30d"},
        )
    )
    kube.apply(policy("everywhere", ops, {"data": "cleanupRuns", "maxCount": 2}))

    wait_for(
        lambda: names(kube, "cleanupruns", namespace) == ["r3", "r4"], timeout=60, what="runs pruned to 2"
    )
    wait_for(
        lambda: names(kube, "deletionrequests", namespace) == ["receipt-new"], timeout=60, what="receipts"
    )
    wait_for(
        lambda: "stale" not in names(kube, "events", namespace), timeout=30, what="the stale Event pruned"
    )
    assert "fresh" in names(kube, "events", namespace)

    def reported() -> dict[str, Any] | None:
        status = kube.get("retentionpolicy", "local", namespace).get("status") or {}
        return status if status.get("lastRunTime") and status.get("oldest", {}).get("cleanupRuns") else None

    status = reported() or wait_for(reported, timeout=30, what="the policy's status")
    assert status["clusterWide"] is False
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and ready["reason"] == "Pruned"
    assert status["oldest"]["cleanupRuns"] == ago(timedelta(minutes=7))  # r3 is the oldest left
    wide = wait_for(
        lambda: (
            (kube.get("retentionpolicy", "everywhere", ops).get("status") or {}).get("lastRunTime")
            and kube.get("retentionpolicy", "everywhere", ops)["status"]
        ),
        timeout=30,
    )
    assert wide["clusterWide"] is True
    # Between them, the policies pruned four runs (one by age, three by count) and one receipt.
    total = lambda data: sum(  # noqa: E731
        (kube.get("retentionpolicy", n, ns).get("status") or {}).get("pruned", {}).get(data, 0)
        for n, ns in (("local", namespace), ("everywhere", ops))
    )
    assert total("cleanupRuns") == 4 and total("deletionReceipts") == 1


def _yaml(body: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(body)


def test_deletion_request_admission(kube: Kube, namespace: str) -> None:
    """The minimal request is accepted (scope defaults to operatorData); external scopes need credentials."""
    minimal = {
        "apiVersion": GROUP,
        "kind": "DeletionRequest",
        "metadata": {"name": "minimal", "namespace": namespace},
        "spec": {"subjectSecretRef": {"name": "someone"}},
    }
    kube.apply(minimal)
    assert kube.get("deletionrequest", "minimal", namespace)["spec"]["scope"] == ["operatorData"]
    bad = {**minimal, "metadata": {"name": "bad", "namespace": namespace}}
    bad["spec"] = {"subjectSecretRef": {"name": "someone"}, "scope": ["slackUserGroups"]}
    result = kube.kubectl("apply", "-f", "-", input=_yaml(bad), check=False)
    assert "scope slackUserGroups needs credentials.slack" in result.stderr
    changed = {**minimal, "spec": {"subjectSecretRef": {"name": "someone-else"}}}
    result = kube.kubectl("apply", "-f", "-", input=_yaml(changed), check=False)
    assert "cannot be changed" in result.stderr
