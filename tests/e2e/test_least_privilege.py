"""Least privilege on the real API server: the chart's rendered RBAC applied, the operator run with
the chart ServiceAccount's own token (TokenRequest) through an OnCallSync and through CleanupRule runs
(a dry-run plan, history pruning, an approved apply), and the account's
`kubectl auth can-i --list` compared with a golden file (tests/e2e/golden/rbac-*.txt).

Regenerate the golden files after a deliberate RBAC change: `make rbac-golden`
(ONCALL_UPDATE_GOLDEN=1 on this file); the diff is the review of the change. Also here: the
Deployment admitted by a `restricted` Pod Security namespace, and the install refused with a clear
message when a watched namespace does not exist.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from oncall_sandbox.seed import SandboxSeed
from oncall_sandbox.server import SandboxServer
from support import scenario
from support.cleanup import cleanup_seed, cleanuprule, run_now, writes
from support.kube import REPO_ROOT, Kube, operator_process, wait_for
from support.oncall import Sandbox, create_token_secrets, oncallsync, wait_condition
from support.privacy import deletion_request, subject_secret

pytestmark = pytest.mark.cluster

CHART = REPO_ROOT / "charts" / "oncall-operator"
GOLDEN = Path(__file__).parent / "golden"
OPERATOR_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
PEOPLES_ROLES = ("-view", "-edit", "-cleanup-approver")


def helm() -> Path:
    path = Path(os.environ.get("ONCALL_CONTROLPLANE_BIN", "")) / "helm"
    if not path.exists():
        pytest.fail("helm is built with the control plane: set ONCALL_CONTROLPLANE_BIN (make test-e2e does)")
    return path


def render(release: str, namespace: str, *args: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(helm()), "template", release, str(CHART), "--namespace", namespace, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def operator_rbac(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        doc
        for doc in docs
        if doc["kind"] in OPERATOR_KINDS and not doc["metadata"]["name"].endswith(PEOPLES_ROLES)
    ]


def token_kubeconfig(kube: Kube, account: str, namespace: str, path: Path) -> Path:
    """A kubeconfig holding a TokenRequest token of the ServiceAccount: the pod's identity."""
    token = kube.kubectl("create", "token", account, "-n", namespace, "--duration", "1h").stdout.strip()
    config = json.loads(kube.kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout)
    config["users"] = [{"name": "operator", "user": {"token": token}}]
    config["contexts"][0]["context"]["user"] = "operator"
    path.write_text(yaml.safe_dump(config))
    return path


def can_i_list(kube: Kube, user: str, namespace: str) -> str:
    return kube.kubectl("auth", "can-i", "--list", "--as", user, "-n", namespace).stdout


def normalized(text: str, replacements: dict[str, str]) -> str:
    for value, placeholder in replacements.items():
        text = re.sub(rf"\b{re.escape(value)}\b", placeholder, text)
    rows = sorted(re.sub(r"\s+", " ", line).strip() for line in text.splitlines()[1:] if line.strip())
    return "\n".join(rows) + "\n"


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("ONCALL_UPDATE_GOLDEN") == "1":
        path.write_text(actual)
    assert path.exists(), f"{path} missing: make rbac-golden"
    assert actual == path.read_text(), (
        f"{name}: the account's permissions changed (make rbac-golden)\n{actual}"
    )


def refused_requests(log: Path) -> list[str]:
    """Kubernetes refusals in the operator's log (none: without the right to list namespaces the
    operator serves the named ones without trying)."""
    return [
        line
        for line in log.read_text().splitlines()
        if re.search(r"forbidden|Not enough permissions", line, re.IGNORECASE)
    ]


@contextmanager
def operator_as_chart_account(
    kube: Kube, namespace: str, sandbox: Sandbox, tmp_path: Path
) -> Iterator[tuple[Path, str, str]]:
    """The chart's operator RBAC applied (watching `namespace`) and the operator run with its
    ServiceAccount's token: yields (operator log, release, release namespace)."""
    release_namespace = kube.create_namespace()
    release = f"lp{uuid.uuid4().hex[:6]}"
    docs = operator_rbac(render(release, release_namespace, "--set", f"watchNamespaces={{{namespace}}}"))
    kube.apply(yaml.safe_dump_all(docs))
    try:
        create_token_secrets(kube, namespace)
        account = f"{release}-oncall-operator"
        kubeconfig = token_kubeconfig(kube, account, release_namespace, tmp_path / "operator.kubeconfig")
        env = {
            **sandbox.server.operator_env(),
            "KUBECONFIG": str(kubeconfig),
            "ONCALL_LOOKAHEAD_INTERVAL": "2s",
        }
        log = tmp_path / "operator.log"
        subject_key = ("--subject-key-secret", "oncall-operator-subject-key")
        with operator_process(
            kube,
            "-n",
            namespace,
            "--operator-namespace",
            release_namespace,
            *subject_key,
            env=env,
            log_path=log,
        ) as process:
            yield log, release, release_namespace
            assert process.poll() is None, log.read_text()[-3000:]
    finally:
        for doc in docs:
            if doc["kind"].startswith("Cluster"):
                kube.kubectl("delete", doc["kind"].lower(), doc["metadata"]["name"], check=False)


@pytest.fixture
def sandbox() -> Any:
    with SandboxServer(SandboxSeed.model_validate(scenario.seed())) as server:
        yield Sandbox(server)


def test_the_chart_account_runs_an_oncallsync_and_holds_only_what_it_needs(
    kube: Kube, namespace: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    with operator_as_chart_account(kube, namespace, sandbox, tmp_path) as (log, release, release_namespace):
        user = f"system:serviceaccount:{release_namespace}:{release}-oncall-operator"
        names = {release_namespace: "RELEASE_NS", namespace: "WATCHED_NS", release: "RELEASE"}
        check_golden("rbac-namespaced-watched.txt", normalized(can_i_list(kube, user, namespace), names))
        check_golden(
            "rbac-namespaced-release.txt", normalized(can_i_list(kube, user, release_namespace), names)
        )
        check_golden("rbac-namespaced-other.txt", normalized(can_i_list(kube, user, "kube-system"), names))

        kube.apply(oncallsync("payments", namespace))
        wait_for(lambda: sandbox.members("payments") == ["UAAA"], timeout=60, what="group synced as the SA")
        wait_condition(kube, "payments", namespace, "Ready", "True")
        assert "Serving exactly the named namespaces" in log.read_text()
    refused = refused_requests(log)
    assert not refused, "\n".join(refused[:20])


def run_in_phase(kube: Kube, namespace: str, rule: str, phase: str, not_named: str = "") -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        items = json.loads(kube.kubectl("get", "cleanupruns", "-n", namespace, "-o", "json").stdout)["items"]
        for run in items:
            if run["metadata"]["name"] == not_named:
                continue
            if run["spec"]["ruleName"] == rule and (run.get("status") or {}).get("phase") == phase:
                return dict(run)
        return None

    return wait_for(probe, timeout=60, what=f"a run of {rule} in phase {phase}")


def test_the_chart_account_plans_prunes_and_applies_cleanup_runs(
    kube: Kube, namespace: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    """CleanupRule's verbs as the chart grants them: runs created (create), their status written
    (patch), history pruned (delete), an approved plan applied."""
    sandbox.control("POST", "load", cleanup_seed())
    sandbox.control("DELETE", "requests")
    with operator_as_chart_account(kube, namespace, sandbox, tmp_path) as (log, _release, _namespace):
        kube.apply(cleanuprule("dry", namespace, annotations=run_now("1"), runsHistoryLimit=1))
        first = run_in_phase(kube, namespace, "dry", "Planned")
        assert first["status"]["reason"] == "DryRun" and first["status"]["counts"]["matched"] == 4
        kube.apply(cleanuprule("dry", namespace, annotations=run_now("2"), runsHistoryLimit=1))
        run_in_phase(kube, namespace, "dry", "Planned", not_named=first["metadata"]["name"])
        wait_for(
            lambda: not kube.exists("cleanuprun", first["metadata"]["name"], namespace),
            timeout=60,
            what="the older run pruned (runsHistoryLimit: 1)",
        )
        assert writes(sandbox.requests()) == []

        manual = cleanuprule(
            "manual",
            namespace,
            annotations=run_now(),
            dryRun=False,
            match={"slackAccount": ["deactivated"]},
            actions=["removeFromPagerDutyTeams"],
        )
        kube.apply(manual)
        waiting = run_in_phase(kube, namespace, "manual", "AwaitingApproval")
        patch = json.dumps({"spec": {"approvedPlanHash": waiting["status"]["planHash"]}})
        kube.kubectl(
            "patch",
            "cleanuprun",
            waiting["metadata"]["name"],
            "-n",
            namespace,
            "--type",
            "merge",
            "-p",
            patch,
        )
        done = run_in_phase(kube, namespace, "manual", "Completed")["status"]
        assert done["reason"] == "Applied" and done["counts"]["applied"] == 2
        assert [(m, t) for m, t, _ in writes(sandbox.requests())] == [
            ("DELETE /teams/{id}/users/{user_id}", "PTEAM01")
        ] * 2
        rule = wait_for(
            lambda: (
                (r := kube.get("cleanuprule", "manual", namespace)).get("status", {}).get("lastRuns") and r
            ),
            what="the rule's status written",
        )
        assert rule["status"]["lastRuns"][0]["name"] == waiting["metadata"]["name"]
    refused = refused_requests(log)
    assert not refused, "\n".join(refused[:20])


def test_the_chart_account_previews_and_erases_a_person(
    kube: Kube, namespace: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    """A DeletionRequest as the chart's account: the subject key Secret created, the person found in
    the OnCallSync status and the operator's Events, erased, the subject Secret deleted."""

    def finished(name: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            found = kube.get("deletionrequest", name, namespace)
            return found if (found.get("status") or {}).get("phase") in ("Completed", "Failed") else None

        return wait_for(probe, timeout=90, what=f"DeletionRequest {name} finished")

    with operator_as_chart_account(kube, namespace, sandbox, tmp_path) as (log, _release, release_namespace):
        kube.apply(oncallsync("payments", namespace))
        wait_for(lambda: sandbox.members("payments") == ["UAAA"], timeout=60, what="group synced as the SA")
        wait_condition(kube, "payments", namespace, "Ready", "True")
        subject_secret(kube, namespace, "jane", "paaa@example.test")
        kube.apply(deletion_request("look", namespace, "jane", mode="Preview"))
        preview = finished("look")["status"]
        assert preview["phase"] == "Completed", preview
        kube.apply(deletion_request("erase", namespace, "jane", mode="Erase"))
        receipt = finished("erase")["status"]
        assert receipt["phase"] == "Completed" and receipt["verified"] is True, receipt
        assert receipt["subjectSecretDeleted"] is True and not kube.exists("secret", "jane", namespace)
        assert kube.exists("secret", "oncall-operator-subject-key", release_namespace)
    refused = refused_requests(log)
    assert not refused, "\n".join(refused[:20])


def test_cluster_wide_account_reads_no_secrets_outside_secret_namespaces(kube: Kube, namespace: str) -> None:
    release_namespace = kube.create_namespace()
    release = f"lp{uuid.uuid4().hex[:6]}"
    docs = operator_rbac(
        render(release, release_namespace, "--set", f"rbac.secretNamespaces={{{namespace}}}")
    )
    kube.apply(yaml.safe_dump_all(docs))
    try:
        user = f"system:serviceaccount:{release_namespace}:{release}-oncall-operator"
        names = {release_namespace: "RELEASE_NS", namespace: "WATCHED_NS", release: "RELEASE"}
        check_golden("rbac-clusterwide-watched.txt", normalized(can_i_list(kube, user, namespace), names))
        check_golden("rbac-clusterwide-other.txt", normalized(can_i_list(kube, user, "kube-system"), names))
        answer = kube.kubectl(
            "auth", "can-i", "get", "secrets", "-n", "kube-system", "--as", user, check=False
        )
        assert answer.stdout.strip() == "no"
    finally:
        for doc in docs:
            if doc["kind"].startswith("Cluster"):
                kube.kubectl("delete", doc["kind"].lower(), doc["metadata"]["name"], check=False)


def test_restricted_namespace_admits_the_deployment(kube: Kube, namespace: str) -> None:
    kube.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    docs = render("rel", namespace, "-f", str(CHART / "ci" / "extensions-values.yaml"))
    (deployment,) = [doc for doc in docs if doc["kind"] == "Deployment"]
    (account,) = [doc for doc in docs if doc["kind"] == "ServiceAccount"]
    kube.apply(account)  # a Pod's admission looks its ServiceAccount up
    result = kube.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(deployment))
    assert "Warning" not in result.stderr, result.stderr  # PSS warns about workloads it would refuse
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "rel", "namespace": namespace}}
    pod["spec"] = deployment["spec"]["template"]["spec"]
    kube.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(pod))  # enforced on Pods


def test_install_refuses_a_watched_namespace_that_does_not_exist(kube: Kube, namespace: str) -> None:
    missing = f"missing-{uuid.uuid4().hex[:6]}"
    result = subprocess.run(
        [
            *(str(helm()), "install", "rel", str(CHART), "--namespace", namespace, "--dry-run=server"),
            *("--set", f"watchNamespaces={{{namespace},{missing}}}"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=kube.env(),
    )
    assert result.returncode != 0
    assert f'namespace "{missing}" does not exist' in result.stderr, result.stderr
