"""Two replicas with Kopf peering: one active, one standing by; kill the active one, the standby takes
over within the peering lifetime, and no write is made twice (the sandbox's write counters)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import yaml

from support.kube import Kube, wait_for
from support.oncall import Sandbox, create_token_secrets, oncallsync, wait_condition
from support.reliability import expected_members

pytestmark = pytest.mark.cluster

# Kopf's peering CRD (namespaced), as in Kopf's own peering.yaml; the chart's README has users install it.
KOPF_PEERING_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "kopfpeerings.kopf.dev"},
    "spec": {
        "scope": "Namespaced",
        "group": "kopf.dev",
        "names": {"kind": "KopfPeering", "plural": "kopfpeerings", "singular": "kopfpeering"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                        },
                    }
                },
            }
        ],
    },
}
# Kopf's default peering lifetime: a peer that stops touching its record is gone after 60 s.
LIFETIME_SECONDS = 60.0
TAKEOVER_BOUND_SECONDS = LIFETIME_SECONDS + 30.0
GROUPS = 5


def test_the_standby_takes_over_when_the_active_replica_is_killed_and_nothing_is_written_twice(
    kube: Kube, namespace: str, sandbox: Sandbox, operators: Any, figures: dict[str, str]
) -> None:
    kube.apply(KOPF_PEERING_CRD)
    kube.kubectl("wait", "--for=condition=Established", "crd/kopfpeerings.kopf.dev", "--timeout=30s")
    kube.apply({"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "ha"}}, namespace)
    create_token_secrets(kube, namespace)
    env = {**sandbox.server.operator_env(), "ONCALL_LOOKAHEAD_INTERVAL": "2s"}
    active = operators("-n", namespace, "--peering", "ha", "--priority", "200", env=env).start()
    standby = operators("-n", namespace, "--peering", "ha", "--priority", "100", env=env).start()
    names = [f"ha-{n}" for n in range(GROUPS)]
    kube.apply(yaml.safe_dump_all([oncallsync(name, namespace) for name in names]))
    for name in names:
        wait_condition(kube, name, namespace, "Ready", "True", timeout=60)
    # Both replicas run; the active one hands off, the standby stays paused: one write per group.
    before = {name: sandbox.group(name)["updates"] for name in names}  # type: ignore[index]
    sandbox.set_clock("2026-03-02T09:59:59+00:00")
    for name in names:
        wait_for(
            lambda n=name: sandbox.members(n) == expected_members(10), timeout=30, what=f"{name} at 10:00"
        )
    wait_for(
        lambda: "Pausing" in standby.tail(200_000) or "paused" in standby.tail(200_000).lower(), timeout=5
    )
    active.kill()
    killed = time.monotonic()
    sandbox.set_clock("2026-03-02T10:59:59+00:00")
    for name in names:
        wait_for(
            lambda n=name: sandbox.members(n) == expected_members(11),
            timeout=TAKEOVER_BOUND_SECONDS,
            interval=0.5,
            what=f"{name} handed off by the standby",
        )
    took = time.monotonic() - killed
    after = {name: sandbox.group(name)["updates"] for name in names}  # type: ignore[index]
    assert all(after[name] == before[name] + 2 for name in names), (before, after)
    assert standby.alive(), standby.tail()
    figures["HA takeover"] = (
        f"standby applied the next handoff {took:.1f}s after the active replica was SIGKILLed "
        f"(bound {TAKEOVER_BOUND_SECONDS:.0f}s = Kopf's {LIFETIME_SECONDS:.0f}s peering lifetime + 30s); "
        "one write per group per handoff"
    )
