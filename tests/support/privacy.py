"""Helpers for the privacy e2e tests: seeding records as the operator would have written them."""

from __future__ import annotations

import json
from typing import Any

from support.cleanup import rule_body
from support.kube import Kube

GROUP = "oncall-operator.dev/v1alpha1"
ERASURE_FINALIZER = "oncall-operator.dev/erasure"


def status_patch(kube: Kube, plural: str, name: str, namespace: str, status: dict[str, Any]) -> None:
    kube.kubectl(
        "patch", plural, name, "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}),
    )  # fmt: skip


def cleanup_run(kube: Kube, namespace: str, name: str, items: list[str], **status: Any) -> None:
    kube.apply(
        {
            "apiVersion": GROUP,
            "kind": "CleanupRun",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"ruleName": "stale", "trigger": "onDemand", "rule": rule_body()},
        }
    )
    status_patch(
        kube,
        "cleanupruns",
        name,
        namespace,
        {"phase": "Completed", "targets": ["S0GROUP1"], "items": items, **status},
    )


def event(kube: Kube, namespace: str, name: str, message: str, last: str | None = None) -> None:
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {"kind": "CleanupRun", "name": "run-a", "namespace": namespace},
            "reason": "Applied",
            "message": message,
            "type": "Normal",
            "source": {"component": "oncall-operator"},
            "reportingComponent": "oncall-operator",
            "reportingInstance": "test",
            **({"firstTimestamp": last, "lastTimestamp": last} if last else {}),
        }
    )


def subject_secret(kube: Kube, namespace: str, name: str, email: str) -> None:
    kube.kubectl("create", "secret", "generic", name, "-n", namespace, f"--from-literal=email={email}")


def deletion_request(name: str, namespace: str, secret: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": GROUP,
        "kind": "DeletionRequest",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "subjectSecretRef": {"name": secret},
            "credentials": {
                "slack": {"tokenSecretRef": {"name": "slack", "key": "bot-token"}},
                "pagerDuty": {"tokenSecretRef": {"name": "pagerduty", "key": "token"}},
            },
            **spec,
        },
    }
