"""The chart's people's roles on a real API server: editors write rules but cannot approve runs;
approvers approve runs and nothing else (aggregation done by kube-controller-manager)."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from support.kube import REPO_ROOT, Kube, wait_for

pytestmark = pytest.mark.cluster


def can(kube: Kube, user: str, verb: str, resource: str, namespace: str, *extra: str) -> bool:
    answer = kube.kubectl("auth", "can-i", verb, resource, "-n", namespace, "--as", user, *extra, check=False)
    return answer.stdout.strip() == "yes"


def test_editors_cannot_approve_and_approvers_can_only_approve(kube: Kube, namespace: str) -> None:
    helm = Path(os.environ.get("ONCALL_CONTROLPLANE_BIN", "")) / "helm"
    if not helm.exists():
        pytest.fail("helm is built with the control plane: set ONCALL_CONTROLPLANE_BIN (make test-e2e does)")
    release = f"r{uuid.uuid4().hex[:6]}"
    rendered = subprocess.run(
        [str(helm), "template", release, str(REPO_ROOT / "charts" / "oncall-operator"), "--namespace", "ops"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    roles = [
        doc
        for doc in yaml.safe_load_all(rendered)
        if doc
        and doc["kind"] == "ClusterRole"
        and doc["metadata"]["name"].endswith(("-view", "-edit", "-cleanup-approver"))
    ]
    assert len(roles) == 3
    kube.apply(yaml.safe_dump_all(roles))
    try:
        for user, role in (
            ("alice", "edit"),
            ("bob", f"{release}-oncall-operator-cleanup-approver"),
            ("carol", "view"),
        ):
            kube.kubectl(
                "create",
                "rolebinding",
                f"{user}-{role[:20]}",
                "-n",
                namespace,
                f"--clusterrole={role}",
                f"--user={user}",
            )
        # The built-in roles gain our rules once the aggregation controller has run.
        wait_for(
            lambda: can(kube, "alice", "patch", "cleanuprules", namespace), timeout=60, what="edit aggregated"
        )
        wait_for(
            lambda: can(kube, "carol", "list", "cleanupruns", namespace), timeout=60, what="view aggregated"
        )
        assert can(kube, "alice", "create", "cleanuprules", namespace)
        assert can(kube, "alice", "delete", "cleanupruns", namespace)
        assert not can(kube, "alice", "patch", "cleanupruns", namespace), "rule authors must not approve"
        assert can(kube, "bob", "patch", "cleanupruns", namespace)
        assert not can(kube, "bob", "patch", "cleanuprules", namespace)
        assert not can(kube, "bob", "patch", "cleanupruns", namespace, "--subresource=status")
        assert not can(kube, "carol", "patch", "cleanupruns", namespace)
    finally:
        for role in roles:
            kube.kubectl("delete", "clusterrole", role["metadata"]["name"], check=False)
