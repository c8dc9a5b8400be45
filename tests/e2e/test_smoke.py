"""The chain end to end: model -> CRD -> real apiserver -> operator process -> status."""

from __future__ import annotations

from pathlib import Path

from support.kube import Kube, operator_process, wait_for


def test_operator_writes_status_of_a_created_resource(kube: Kube, namespace: str, tmp_path: Path) -> None:
    probe = {
        "apiVersion": "oncall-operator.dev/v1alpha1",
        "kind": "SmokeProbe",
        "metadata": {"name": "hello", "namespace": namespace},
        "spec": {"message": "ping", "repeat": 2},
    }
    with operator_process(kube, "--with-test-kinds", "-n", namespace, log_path=tmp_path / "operator.log"):
        kube.apply(probe)
        status = wait_for(
            lambda: kube.get("smokeprobe", "hello", namespace).get("status", {}).get("echo"),
            timeout=60,
            what="status.echo",
        )
        assert status == "ping-ping"
        resource = kube.get("smokeprobe", "hello", namespace)
        assert resource["status"]["observedGeneration"] == resource["metadata"]["generation"]
        ready = [c for c in resource["status"]["conditions"] if c["type"] == "Ready"]
        assert ready and ready[0]["status"] == "True"


def test_server_side_dry_run_rejects_an_invalid_resource_with_the_schema_message(
    kube: Kube, namespace: str
) -> None:
    probe = {
        "apiVersion": "oncall-operator.dev/v1alpha1",
        "kind": "SmokeProbe",
        "metadata": {"name": "bad", "namespace": namespace},
        "spec": {"message": "Not Valid!", "repeat": 9},
    }
    import yaml

    result = kube.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(probe), check=False)
    assert result.returncode != 0
    assert "spec.message" in result.stderr and "should match" in result.stderr
    assert "spec.repeat" in result.stderr and "should be less than or equal to 5" in result.stderr
    assert not kube.exists("smokeprobe", "bad", namespace)
