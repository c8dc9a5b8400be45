"""The documented CRD upgrade, on a real API server: the previous CRDs created the way `helm install`
creates a chart's `crds/` (plain create, field manager `helm`), objects stored under them, then the
exact command docs/helm.md gives (`kubectl apply --server-side --force-conflicts -f
charts/oncall-operator/crds/`), and the objects still served, still valid on update, and able to use
what the new schema adds.

The previous CRDs are a copy (tests/e2e/fixtures/crds-2403c98/, from commit 2403c98: before
`lastHandoffMessage` gained the `Unknown` state, `channel` and `digest`), so the test needs no git
history. It runs on its own control plane: replacing the shared one's CRDs would touch other tests.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.kube import REPO_ROOT, Kube

pytestmark = pytest.mark.cluster

PREVIOUS = Path(__file__).parent / "fixtures" / "crds-2403c98"
CHART_CRDS = REPO_ROOT / "charts" / "oncall-operator" / "crds"
GUIDE = REPO_ROOT / "docs" / "helm.md"
OURS = ("oncallsyncs", "cleanuprules", "cleanupruns")


def documented_upgrade_command() -> list[str]:
    """The CRD upgrade command as docs/helm.md's "Upgrading" section prints it (the test runs that)."""
    section = GUIDE.read_text().split("## Upgrading", 1)[1].split("\n## ", 1)[0]
    (line,) = [line for line in section.splitlines() if line.startswith("kubectl apply")]
    return shlex.split(line.split("#", 1)[0])


@pytest.fixture(scope="module")
def fresh(controlplane_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    from oncall_devkit.localcluster import LocalControlPlane

    plane = LocalControlPlane(controlplane_bin, work_dir=tmp_path_factory.mktemp("crd-upgrade")).start()
    try:
        yield Kube(plane.kubectl, plane.kubeconfig, server_version=plane.version)
    finally:
        plane.stop()


def wait_established(kube: Kube) -> None:
    for kind in OURS:
        kube.kubectl(
            "wait", "--for=condition=Established", f"crd/{kind}.oncall-operator.dev", "--timeout=30s"
        )


def oncallsync(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "oncall-operator.dev/v1alpha1",
        "kind": "OnCallSync",
        "metadata": {"name": "payments", "namespace": namespace},
        "spec": {
            "pagerDuty": {"tokenSecretRef": {"name": "pd", "key": "token"}, "schedules": ["PSCHED1"]},
            "slack": {
                "tokenSecretRef": {"name": "slack", "key": "token"},
                "userGroup": {"handle": "payments-oncall", "create": False},
                "handoffMessage": {"channel": "C0SBXPAY1", "template": "{mentions} on call"},
            },
        },
    }


def cleanuprule_spec() -> dict[str, Any]:
    return {
        "pagerDuty": {"tokenSecretRef": {"name": "pd", "key": "token"}},
        "slack": {"tokenSecretRef": {"name": "slack", "key": "token"}},
        "match": {"slackAccount": ["deactivated"]},
        "actions": ["removeFromPagerDutySchedules"],
    }


def objects(namespace: str) -> list[dict[str, Any]]:
    rule = {
        "apiVersion": "oncall-operator.dev/v1alpha1",
        "kind": "CleanupRule",
        "metadata": {"name": "offboarding", "namespace": namespace},
        "spec": cleanuprule_spec(),
    }
    run = {
        "apiVersion": "oncall-operator.dev/v1alpha1",
        "kind": "CleanupRun",
        "metadata": {"name": "offboarding-1", "namespace": namespace},
        "spec": {"ruleName": "offboarding", "trigger": "onDemand", "rule": cleanuprule_spec()},
    }
    return [oncallsync(namespace), rule, run]


def handoff_status(state: str, **extra: str) -> str:
    record = {"onCall": ["UAAA"], "state": state, "time": "2026-11-23T10:00:00Z", **extra}
    return json.dumps({"status": {"lastHandoffMessage": record}})


def patch_status(
    kube: Kube, namespace: str, body: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return kube.kubectl(
        "patch", "oncallsync", "payments", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", body, check=check,
    )  # fmt: skip


def test_the_documented_crd_upgrade_keeps_stored_objects_served_and_valid(fresh: Kube) -> None:
    command = documented_upgrade_command()
    assert command[:3] == ["kubectl", "apply", "--server-side"] and "--force-conflicts" in command
    assert {p.name for p in PREVIOUS.glob("*.yaml")} != {p.name for p in CHART_CRDS.glob("*.yaml")} or any(
        (PREVIOUS / p.name).read_text() != p.read_text() for p in PREVIOUS.glob("*.yaml")
    ), "the fixture equals the current CRDs: nothing would be upgraded"

    # What `helm install` does with crds/: create each CRD (an Update-type field manager "helm").
    for path in sorted(PREVIOUS.glob("*.yaml")):
        fresh.kubectl("create", "--field-manager=helm", "-f", str(path))
    wait_established(fresh)
    namespace = fresh.create_namespace()
    for document in objects(namespace):
        fresh.apply(document)
    patch_status(fresh, namespace, handoff_status("Pending"))
    # The old schema refuses what the new one adds: the upgrade below is a real one.
    refused = patch_status(fresh, namespace, handoff_status("Unknown"), check=False)
    assert refused.returncode != 0 and "Unsupported value" in refused.stderr, refused.stderr

    # Without --force-conflicts, server-side apply stops at the fields Helm owns (why the doc has it).
    plain = [word for word in command if word != "--force-conflicts"]
    conflict = subprocess.run(
        [str(fresh.kubectl_path), *plain[1:]], capture_output=True, text=True, env=fresh.env(), cwd=REPO_ROOT
    )
    assert conflict.returncode != 0 and "conflict" in conflict.stderr.lower(), conflict.stderr

    upgraded = subprocess.run(
        [str(fresh.kubectl_path), *command[1:]],
        capture_output=True,
        text=True,
        env=fresh.env(),
        cwd=REPO_ROOT,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    wait_established(fresh)
    for path in CHART_CRDS.glob("*.yaml"):  # ours, and Kopf's peering CRDs the chart now ships
        fresh.kubectl("get", "crd", yaml.safe_load(path.read_text())["metadata"]["name"])

    # Stored objects: still served, unchanged, and valid under the new schema on update.
    for document in objects(namespace):
        kind, name = document["kind"].lower(), document["metadata"]["name"]
        stored = fresh.get(kind, name, namespace)
        assert _contains(stored["spec"], document["spec"]), (kind, stored["spec"])
        fresh.kubectl("label", kind, name, "-n", namespace, "upgraded=yes")  # an update: validated again
    assert (
        fresh.get("oncallsync", "payments", namespace)["status"]["lastHandoffMessage"]["state"] == "Pending"
    )
    # What the new schema adds is accepted and kept (not pruned).
    patch_status(
        fresh, namespace, handoff_status("Unknown", channel="C0SBXPAY1", digest="sha256:" + "0" * 64)
    )
    record = fresh.get("oncallsync", "payments", namespace)["status"]["lastHandoffMessage"]
    assert (record["state"], record["channel"]) == ("Unknown", "C0SBXPAY1")
    # A run's approval rule (CEL, unchanged) still holds after the upgrade.
    fresh.kubectl(
        "patch", "cleanuprun", "offboarding-1", "-n", namespace, "--type=merge",
        "-p", json.dumps({"spec": {"approvedPlanHash": "sha256:" + "a" * 64}}),
    )  # fmt: skip
    changed = fresh.kubectl(
        "patch", "cleanuprun", "offboarding-1", "-n", namespace, "--type=merge",
        "-p", json.dumps({"spec": {"approvedPlanHash": "sha256:" + "b" * 64}}), check=False,
    )  # fmt: skip
    assert changed.returncode != 0 and "cannot be changed" in changed.stderr, changed.stderr
    # Running the command again changes nothing and still succeeds (idempotent upgrades).
    again = subprocess.run(
        [str(fresh.kubectl_path), *command[1:]],
        capture_output=True,
        text=True,
        env=fresh.env(),
        cwd=REPO_ROOT,
    )
    assert again.returncode == 0 and re.search(r"serverside-applied", again.stdout), again.stderr


def _contains(stored: Any, written: Any) -> bool:
    """Everything written is still there (the API server adds defaults around it)."""
    if isinstance(written, dict):
        return isinstance(stored, dict) and all(_contains(stored.get(k), v) for k, v in written.items())
    return bool(stored == written)
