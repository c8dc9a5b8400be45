"""The Helm chart: lint, rendered manifests for each ci/ scenario, schema, and the CRD copy."""

from __future__ import annotations

import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.image import image_env
from support.kube import REPO_ROOT

CHART = REPO_ROOT / "charts" / "oncall-operator"
CI_FILES = sorted((CHART / "ci").glob("*-values.yaml"))
KUBE_VERSION = "1.35.4"
GROUP = "oncall-operator.dev"
KINDS = {"oncallsyncs", "cleanuprules", "cleanupruns", "retentionpolicies", "deletionrequests"}
SUBJECT_KEY = "oncall-operator-subject-key"
SELECTOR_KEYS = {"app.kubernetes.io/name", "app.kubernetes.io/instance"}

Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def helm(controlplane_bin: Path) -> Path:
    return controlplane_bin / "helm"


def _run(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm), *args], capture_output=True, text=True, timeout=60, env={**os.environ, "HELM_DEBUG": ""}
    )


@cache
def _template_cached(helm: Path, *args: str) -> tuple[Manifest, ...]:
    result = _run(
        helm, "template", "rel", str(CHART), "--namespace", "ops", "--kube-version", KUBE_VERSION, *args
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def render(helm: Path, *args: str) -> list[Manifest]:
    return list(_template_cached(helm, *args))


def render_ci(helm: Path, name: str, *args: str) -> list[Manifest]:
    return render(helm, "-f", str(CHART / "ci" / f"{name}-values.yaml"), *args)


def only(docs: list[Manifest], kind: str) -> Manifest:
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def of_kind(docs: list[Manifest], kind: str) -> list[Manifest]:
    return [doc for doc in docs if doc["kind"] == kind]


def container(docs: list[Manifest]) -> Manifest:
    containers = only(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: Manifest = containers[0]
    return result


def flag_values(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == flag]


def operator_role(docs: list[Manifest]) -> Manifest:
    """The ClusterRole bound to the operator's ServiceAccount (not people's roles, not the Secret reader)."""
    bound = {
        binding["roleRef"]["name"]
        for binding in of_kind(docs, "ClusterRoleBinding")
        if not binding["roleRef"]["name"].endswith("-secrets")
    }
    roles = [role for role in of_kind(docs, "ClusterRole") if role["metadata"]["name"] in bound]
    assert len(roles) == 1, f"expected one bound ClusterRole, got {len(roles)}"
    return roles[0]


def grants(role: Manifest, group: str, resource: str) -> set[str]:
    verbs: set[str] = set()
    for rule in role.get("rules", []):
        if group in rule["apiGroups"] and resource in rule["resources"]:
            verbs.update(rule["verbs"])
    return verbs


# --- the CRD copy and chart metadata (no helm needed) ---


def test_chart_crds_are_a_copy_of_the_generated_crds() -> None:
    source = {path.name: path.read_bytes() for path in (REPO_ROOT / "crds").glob("*.yaml")}
    # Kopf's peering CRDs ship beside ours (Helm establishes crds/ before the peering objects).
    shipped = {
        path.name: path.read_bytes()
        for path in (CHART / "crds").iterdir()
        if path.is_file() and not path.name.endswith(".kopf.dev.yaml")
    }
    assert source, "crds/*.yaml missing: run `make crds`"
    assert shipped.keys() == source.keys(), (
        f"charts/oncall-operator/crds/ has {sorted(shipped)}, crds/ has {sorted(source)} "
        "(test-only/ excluded): cp crds/*.yaml charts/oncall-operator/crds/"
    )
    drifted = sorted(name for name in source if shipped[name] != source[name])
    assert not drifted, f"{drifted} drifted: cp crds/*.yaml charts/oncall-operator/crds/"
    assert not (CHART / "crds" / "test-only").exists()


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "oncall-operator"
    assert (chart["version"], chart["appVersion"], chart["kubeVersion"]) == ("0.3.2", "0.1.0", ">=1.29.0-0")
    names = {path.name for path in CI_FILES}
    assert names == {
        "default-values.yaml",
        "namespaced-values.yaml",
        "json-monitoring-values.yaml",
        "extensions-values.yaml",
        "peering-values.yaml",
    }


# --- lint ---


@pytest.mark.parametrize("values", CI_FILES, ids=lambda path: path.stem)
def test_lint_strict(helm: Path, values: Path) -> None:
    result = _run(helm, "lint", "--strict", "--kube-version", KUBE_VERSION, str(CHART), "-f", str(values))
    assert result.returncode == 0, result.stdout + result.stderr


# --- helm's own default Kubernetes version (build.sh stamps it) ---


def test_template_without_kube_version_renders(helm: Path) -> None:
    """`helm template` as users type it: the chart's kubeVersion (>=1.29) holds for helm's default."""
    result = _run(helm, "template", "rel", str(CHART), "--namespace", "ops")
    assert result.returncode == 0, result.stderr
    kinds = {doc["kind"] for doc in yaml.safe_load_all(result.stdout) if doc}
    assert "Deployment" in kinds


def test_helm_default_kube_version_is_the_tested_minor(helm: Path, tmp_path: Path) -> None:
    chart = tmp_path / "probe"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.0.1\n")
    (chart / "templates" / "version.yaml").write_text(
        "kind: ConfigMap\napiVersion: v1\nmetadata: {name: probe}\n"
        "data: {kube: {{ .Capabilities.KubeVersion.Version | quote }}}\n"
    )
    result = _run(helm, "template", "probe", str(chart))
    assert result.returncode == 0, result.stderr
    (rendered,) = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    major_minor = ".".join(KUBE_VERSION.split(".")[:2])
    assert rendered["data"]["kube"] == f"v{major_minor}.0"


# --- facts every scenario must hold ---


@pytest.mark.parametrize("values", CI_FILES, ids=lambda path: path.stem)
def test_every_scenario_is_restricted_and_consistent(helm: Path, values: Path) -> None:
    docs = render_ci(helm, values.stem.removesuffix("-values"))
    deployment = only(docs, "Deployment")
    pod = deployment["spec"]["template"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert set(selector) == SELECTOR_KEYS
    assert selector.items() <= pod["metadata"]["labels"].items()
    for doc in docs:
        labels = doc["metadata"]["labels"]
        assert selector.items() <= labels.items(), f"{doc['kind']} lacks the selector labels"
        assert (
            labels["app.kubernetes.io/managed-by"] == "Helm"
            and labels["helm.sh/chart"] == "oncall-operator-0.3.2"
        )

    pod_security = pod["spec"]["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
    main = container(docs)
    security = main["securityContext"]
    assert security["runAsNonRoot"] is True and security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert main["resources"]["requests"] and main["resources"]["limits"]["memory"]
    assert main["image"] == "ghcr.io/oncall-operator/oncall-operator:0.1.0"

    args = main["args"]
    assert args[0] == "run"
    ports = {port["name"]: port["containerPort"] for port in main["ports"]}
    assert flag_values(args, "--health-port") == [str(ports["health"])]
    assert flag_values(args, "--metrics-port") == [str(ports["metrics"])]
    # Liveness on /healthz (an API server outage never restarts the pod), readiness on /readyz (stale watches).
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert flag_values(args, "--watch-stale-after") == ["30s"]
    assert flag_values(args, "--watch-check-interval") == ["10s"]
    replicas = deployment["spec"]["replicas"]
    if replicas == 1 and "--peering" not in args:
        assert "--standalone" in args
    else:
        assert "--standalone" not in args and flag_values(args, "--peering")

    account = only(docs, "ServiceAccount")["metadata"]["name"]
    assert pod["spec"]["serviceAccountName"] == account
    roles = of_kind(docs, "ClusterRole") + of_kind(docs, "Role")
    for role in roles:
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
        if role["metadata"]["name"].endswith("-subject-key"):
            continue
        # By name only (no list, no watch); delete: a DeletionRequest deletes its subject Secret.
        assert grants(role, "", "secrets") <= {"get", "delete"}, "secrets must be read by name only"
        assert not grants(role, "events.k8s.io", "events"), "Kopf posts core/v1 Events only"
        assert not grants(role, "", "namespaces") - {"get"}, "no namespace listing"
    bound = {
        binding["roleRef"]["name"]
        for binding in of_kind(docs, "ClusterRoleBinding") + of_kind(docs, "RoleBinding")
    }
    for role in roles:
        for rule in role["rules"] if role["metadata"]["name"] in bound else []:
            assert "update" not in rule["verbs"], "the operator patches, never updates"
    assert any(grants(role, "", "secrets") >= {"get"} for role in roles)
    assert any("create" in grants(role, "", "events") for role in roles)
    # The subject key: created once in the release namespace, then read by its name only.
    (key_role,) = [
        role for role in of_kind(docs, "Role") if role["metadata"]["name"].endswith("-subject-key")
    ]
    assert key_role["metadata"]["namespace"] == "ops"
    assert key_role["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [SUBJECT_KEY], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
    ]
    assert flag_values(main["args"], "--subject-key-secret") == [SUBJECT_KEY]
    assert any(
        grants(role, "apiextensions.k8s.io", "customresourcedefinitions") >= {"list", "watch"}
        for role in roles
    )
    for binding in of_kind(docs, "ClusterRoleBinding") + of_kind(docs, "RoleBinding"):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": "ops"}]
        assert any(role["metadata"]["name"] == binding["roleRef"]["name"] for role in roles)


# --- scenario by scenario ---


def test_default_is_cluster_wide_standalone(helm: Path) -> None:
    docs = render_ci(helm, "default")
    args = container(docs)["args"]
    assert "--all-namespaces" in args and "--standalone" in args and "--namespace" not in args
    assert flag_values(args, "--log-format") == ["text"]
    assert [role["metadata"]["name"] for role in of_kind(docs, "Role")] == ["rel-oncall-operator-subject-key"]
    role = operator_role(docs)
    for kind in KINDS - {"cleanupruns", "deletionrequests"}:
        assert grants(role, GROUP, kind) == {"get", "list", "watch", "patch"}
    # Retention prunes finished DeletionRequests (receipts).
    assert grants(role, GROUP, "deletionrequests") == {"get", "list", "watch", "patch", "delete"}
    for kind in KINDS:
        assert grants(role, GROUP, f"{kind}/status") == {"patch"}
    # Runs are created at each slot and deleted beyond the history limit.
    assert grants(role, GROUP, "cleanupruns") == {"get", "list", "watch", "patch", "create", "delete"}
    # Kopf does not scan namespaces cluster-wide; the operator reads one namespace's annotation.
    assert grants(role, "", "namespaces") == {"get"}
    assert not grants(role, "", "secrets"), "Secrets have their own ClusterRole"
    (reader,) = [
        r for r in of_kind(docs, "ClusterRole") if r["metadata"]["name"] == "rel-oncall-operator-secrets"
    ]
    assert reader["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["delete"]},
    ]
    # Without rbac.deleteSubjectSecrets: read only.
    docs = render_ci(helm, "default", "--set", "rbac.deleteSubjectSecrets=false")
    (reader,) = [
        r for r in of_kind(docs, "ClusterRole") if r["metadata"]["name"] == "rel-oncall-operator-secrets"
    ]
    assert reader["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
    assert any(
        b["roleRef"]["name"] == "rel-oncall-operator-secrets" for b in of_kind(docs, "ClusterRoleBinding")
    )
    assert not grants(role, "kopf.dev", "clusterkopfpeerings") and not grants(
        role, "kopf.dev", "kopfpeerings"
    )
    for absent in ("ServiceMonitor", "PodDisruptionBudget", "Service", "ClusterKopfPeering", "KopfPeering"):
        assert not of_kind(docs, absent), absent
    assert only(docs, "Deployment")["spec"]["strategy"] == {"type": "Recreate"}
    env = {item["name"]: item for item in container(docs)["env"]}
    assert "ONCALL_PAGERDUTY_URL" not in env and "ONCALL_SLACK_URL" not in env
    assert env["POD_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    malloc = {name: env[name]["value"] for name in ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_")}
    assert malloc == {name: image_env()[name] for name in malloc}  # the chart runs it as the image does


def test_namespaced_watch_uses_a_role_per_namespace(helm: Path) -> None:
    docs = render_ci(helm, "namespaced")
    main = container(docs)
    assert flag_values(main["args"], "--namespace") == ["team-a", "team-b"]
    assert "--all-namespaces" not in main["args"] and "--standalone" in main["args"]
    roles = [role for role in of_kind(docs, "Role") if not role["metadata"]["name"].endswith("-subject-key")]
    assert sorted(role["metadata"]["namespace"] for role in roles) == ["team-a", "team-b"]
    bindings = of_kind(docs, "RoleBinding")
    assert sorted(binding["metadata"]["namespace"] for binding in bindings) == ["ops", "team-a", "team-b"]
    for role in roles:
        assert all(grants(role, GROUP, kind) >= {"get", "list", "watch", "patch"} for kind in KINDS)
        assert grants(role, GROUP, "cleanupruns") >= {"create", "delete", "patch"}
        assert grants(role, "", "secrets") == {"get", "delete"}  # delete: subject Secrets
        assert grants(role, "", "namespaces") == {"get"}  # its own namespace object only
    # The one ClusterRole is Kopf's discovery only: no kinds, no Secrets, no Events.
    cluster_role = operator_role(docs)
    assert {
        (group, resource)
        for rule in cluster_role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    } == {("apiextensions.k8s.io", "customresourcedefinitions")}
    assert not of_kind(docs, "ClusterRole")[0]["metadata"]["name"].endswith("-secrets")
    assert only(docs, "ClusterRoleBinding")["roleRef"]["name"] == cluster_role["metadata"]["name"]
    env = {item["name"]: item.get("value") for item in main["env"]}
    assert env["ONCALL_PAGERDUTY_URL"] == "https://api.eu.pagerduty.com"


def test_json_logs_service_monitor_and_pdb(helm: Path) -> None:
    docs = render_ci(helm, "json-monitoring")
    main = container(docs)
    assert flag_values(main["args"], "--log-format") == ["json"]
    pod_labels = only(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    service = only(docs, "Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert [port["targetPort"] for port in service["spec"]["ports"]] == ["metrics"]
    monitor = only(docs, "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["ops"]}
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics" and endpoint["interval"] == "30s"
    pdb = only(docs, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_peering_with_two_replicas(helm: Path) -> None:
    docs = render_ci(helm, "peering")
    deployment = only(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    args = container(docs)["args"]
    assert flag_values(args, "--peering") == ["oncall-operator"] and "--standalone" not in args
    assert grants(operator_role(docs), "kopf.dev", "clusterkopfpeerings") == {
        "get",
        "list",
        "watch",
        "patch",
    }
    peering = only(docs, "ClusterKopfPeering")
    assert peering["apiVersion"] == "kopf.dev/v1" and peering["metadata"]["name"] == "oncall-operator"
    assert only(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1


def test_namespaced_peering_uses_kopfpeerings(helm: Path) -> None:
    docs = render_ci(helm, "namespaced", "--set", "peering.enabled=true")
    peerings = of_kind(docs, "KopfPeering")
    assert sorted(p["metadata"]["namespace"] for p in peerings) == ["team-a", "team-b"]
    for role in of_kind(docs, "Role"):
        if not role["metadata"]["name"].endswith("-subject-key"):
            assert grants(role, "kopf.dev", "kopfpeerings") == {"get", "list", "watch", "patch"}
    assert not grants(operator_role(docs), "kopf.dev", "clusterkopfpeerings")


def test_metrics_disabled_and_service_monitor_off_by_default(helm: Path) -> None:
    docs = render_ci(helm, "default", "--set", "metrics.enabled=false")
    main = container(docs)
    assert flag_values(main["args"], "--metrics-port") == ["0"]
    assert [port["name"] for port in main["ports"]] == ["health"]
    assert not of_kind(docs, "ServiceMonitor") and not of_kind(docs, "Service")


def test_image_tag_and_api_urls(helm: Path) -> None:
    docs = render(
        helm,
        "--set",
        "image.tag=1.2.3,operator.slackUrl=http://sandbox:8081,operator.workers=4,operator.verbose=true",
    )
    main = container(docs)
    assert main["image"].endswith(":1.2.3")
    env = {item["name"]: item.get("value") for item in main["env"]}
    assert env["ONCALL_SLACK_URL"] == "http://sandbox:8081"
    assert flag_values(main["args"], "--workers") == ["4"] and "--verbose" in main["args"]


# --- what the chart refuses ---


def test_schema_rejects_a_bad_replica_count(helm: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad-values.yaml"
    bad.write_text('replicaCount: "two"\n')
    result = _run(helm, "template", "rel", str(CHART), "--kube-version", KUBE_VERSION, "-f", str(bad))
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert "/replicaCount" in result.stderr and "want integer" in result.stderr


def test_schema_rejects_an_unknown_log_format(helm: Path) -> None:
    result = _run(
        helm, "template", "rel", str(CHART), "--kube-version", KUBE_VERSION, "--set", "operator.logFormat=xml"
    )
    assert result.returncode != 0 and "/operator/logFormat" in result.stderr


def test_several_replicas_need_peering(helm: Path) -> None:
    result = _run(
        helm, "template", "rel", str(CHART), "--kube-version", KUBE_VERSION, "--set", "replicaCount=2"
    )
    assert result.returncode != 0 and "replicaCount > 1 requires peering.enabled=true" in result.stderr


# --- people's roles ---


def test_aggregated_roles_let_editors_write_rules_but_not_approve_runs(helm: Path) -> None:
    docs = render_ci(helm, "default")
    roles = {role["metadata"]["name"]: role for role in of_kind(docs, "ClusterRole")}
    view, edit = roles["rel-oncall-operator-view"], roles["rel-oncall-operator-edit"]
    approver = roles["rel-oncall-operator-cleanup-approver"]
    assert view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    assert edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-admin"] == "true"
    assert "rbac.authorization.k8s.io/aggregate-to-edit" not in approver["metadata"]["labels"]
    for kind in ("oncallsyncs", "cleanuprules", "cleanupruns"):
        assert grants(view, GROUP, kind) == {"get", "list", "watch"}
    assert grants(edit, GROUP, "cleanuprules") >= {"create", "update", "patch", "delete"}
    # Approving is patching a run: editors may read and delete runs, never patch them.
    assert grants(edit, GROUP, "cleanupruns") == {"get", "list", "watch", "delete", "deletecollection"}
    assert grants(approver, GROUP, "cleanupruns") == {"get", "list", "watch", "patch"}
    assert not grants(approver, GROUP, "cleanuprules") - {"get", "list", "watch"}
    assert not any(grants(role, "", "secrets") for role in (view, edit, approver))
    # Nobody's role grants status writes: only the operator writes a run's outcome.
    assert not any(grants(role, GROUP, "cleanupruns/status") - {"get"} for role in (view, edit, approver))


def test_peoples_roles_can_be_left_out(helm: Path) -> None:
    docs = render_ci(
        helm, "default", "--set", "rbac.aggregateToDefaultRoles=false,rbac.cleanupApproverRole=false"
    )
    assert [role["metadata"]["name"] for role in of_kind(docs, "ClusterRole")] == [
        "rel-oncall-operator",
        "rel-oncall-operator-secrets",
    ]
