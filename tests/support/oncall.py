"""Helpers for OnCallSync e2e tests: the sandbox wrapper, manifests, condition waits."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from oncall_operator.clients.kube import CREDENTIALS_LABEL
from oncall_sandbox.server import SandboxServer
from support import scenario
from support.kube import Kube, wait_for


@dataclass
class Sandbox:
    server: SandboxServer

    def control(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.server.url}/_sandbox/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else None

    def group(self, handle: str) -> dict[str, Any] | None:
        return next((g for g in self.control("GET", "slack/usergroups") if g["handle"] == handle), None)

    def members(self, handle: str) -> list[str] | None:
        group = self.group(handle)
        return sorted(group["users"]) if group else None

    def set_clock(self, moment: str) -> None:
        self.control("POST", "clock", {"now": moment})

    def requests(self, api: str | None = None) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.control("GET", "requests" + (f"?api={api}" if api else ""))
        return entries


def oncallsync(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "pagerDuty": {"tokenSecretRef": {"name": "pagerduty", "key": "token"}, "schedules": ["PSCHEDA"]},
        "slack": {"tokenSecretRef": {"name": "slack", "key": "bot-token"}, "userGroup": {"handle": name}},
        "resyncInterval": "1h",
    }
    for key, value in spec.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return {
        "apiVersion": "oncall-operator.dev/v1alpha1",
        "kind": "OnCallSync",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


def condition(kube: Kube, name: str, namespace: str, type_: str) -> dict[str, Any] | None:
    status = kube.get("oncallsync", name, namespace).get("status", {})
    return next((c for c in status.get("conditions", []) if c["type"] == type_), None)


def wait_condition(
    kube: Kube,
    name: str,
    namespace: str,
    type_: str,
    status: str,
    reason: str | None = None,
    timeout: float = 45,
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        found = condition(kube, name, namespace, type_)
        if found and found["status"] == status and (reason is None or found["reason"] == reason):
            return found
        return None

    return wait_for(probe, timeout=timeout, what=f"{type_}={status} ({reason})")


Probe = Callable[[], Any]


def create_token_secrets(kube: Kube, namespace: str) -> None:
    """The Secrets the test OnCallSyncs reference, holding the sandbox's tokens."""
    for name, key, token in (
        ("pagerduty", "token", scenario.PD_TOKEN),
        ("slack", "bot-token", scenario.SLACK_TOKEN),
    ):
        kube.kubectl("create", "secret", "generic", name, "-n", namespace, f"--from-literal={key}={token}")
        kube.kubectl("label", "secret", name, "-n", namespace, f"{CREDENTIALS_LABEL}=true")
