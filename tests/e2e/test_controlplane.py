"""The control plane behaves like a cluster's: the controller-manager collects garbage and deletes namespaces.

The operator will rely on both (owned objects going with their owner, a team's namespace
going with everything in it), so the e2e tier proves them on the apiserver it runs against.
"""

from __future__ import annotations

from typing import Any

from support.kube import Kube, wait_for

DELETION_DEADLINE_SECONDS = 90.0


def _config_map(name: str, namespace: str, **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, **metadata},
        "data": {"purpose": "garbage-collection probe"},
    }


def _namespace_exists(kube: Kube, name: str) -> bool:
    return kube.kubectl("get", "namespace", name, check=False).returncode == 0


def test_deleting_an_owner_deletes_what_it_owns(kube: Kube, namespace: str) -> None:
    kube.apply(_config_map("owner", namespace))
    owner_uid = kube.get("configmap", "owner", namespace)["metadata"]["uid"]
    reference = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid}
    kube.apply(_config_map("owned", namespace, ownerReferences=[reference]))
    kube.apply(_config_map("bystander", namespace))

    kube.kubectl("delete", "configmap", "owner", "-n", namespace)

    wait_for(
        lambda: not kube.exists("configmap", "owned", namespace),
        timeout=DELETION_DEADLINE_SECONDS,
        what="the garbage collector to delete the owned ConfigMap",
    )
    assert kube.exists("configmap", "bystander", namespace), "an object with no owner was deleted"


def test_a_deleted_namespace_goes_away_with_its_contents(kube: Kube) -> None:
    name = kube.create_namespace()
    kube.apply(_config_map("settings", name))
    probe = {
        "apiVersion": "oncall-operator.dev/v1alpha1",
        "kind": "SmokeProbe",
        "metadata": {"name": "leftover", "namespace": name},
        "spec": {"message": "ping", "repeat": 1},
    }
    kube.apply(probe)  # a custom resource too: the namespace controller finds kinds by discovery

    kube.kubectl("delete", "namespace", name, "--wait=false")

    wait_for(
        lambda: not _namespace_exists(kube, name),
        timeout=DELETION_DEADLINE_SECONDS,
        what=f"namespace {name} to finish deleting",
    )
    listed = kube.kubectl(
        "get", "smokeprobes", "-A", "-o", "name", "--field-selector", f"metadata.namespace={name}"
    )
    assert listed.stdout.strip() == ""


def test_a_new_namespace_gets_its_default_service_account(kube: Kube, namespace: str) -> None:
    account = wait_for(
        lambda: kube.exists("serviceaccount", "default", namespace),
        timeout=DELETION_DEADLINE_SECONDS,
        what="the default ServiceAccount",
    )
    assert account
