"""DeletionRequest scopes slackUserGroups and pagerDuty: refused while on call without pagerDuty, and
each external write made exactly once - also when the operator is killed mid-request."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from oncall_sandbox.seed import SandboxSeed
from oncall_sandbox.server import SandboxServer
from support import scenario
from support.kube import Kube, operator_process, wait_for
from support.oncall import Sandbox, create_token_secrets, oncallsync, wait_condition
from support.privacy import deletion_request, subject_secret
from support.reliability import CRASH_ENV

pytestmark = pytest.mark.cluster
EMAIL = "paaa@example.test"  # PAAA / UAAA: on call at the sandbox's start, so in the synced group
REMOVALS = ("usergroups.users.update", "PUT /schedules/{id}", "DELETE /users/{id}")


def finished(kube: Kube, namespace: str, name: str, timeout: float = 90) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        status = kube.get("deletionrequest", name, namespace).get("status") or {}
        return status if status.get("phase") in ("Completed", "Failed") else None

    return wait_for(probe, timeout=timeout, what=f"DeletionRequest {name} finished")


def removals(sandbox: Sandbox, since: int) -> list[dict[str, Any]]:
    return [r for r in sandbox.requests() if r["seq"] > since and r["method"] in REMOVALS]


def intent(kube: Kube, namespace: str) -> bool:
    status = kube.get("deletionrequest", "everywhere", namespace).get("status") or {}
    return any(a["state"] == "intent" for a in status.get("external") or [])


def last_seq(sandbox: Sandbox) -> int:
    return max((r["seq"] for r in sandbox.requests()), default=0)


def test_slack_groups_refused_while_on_call_then_each_removal_exactly_once_across_a_kill(
    kube: Kube, namespace: str, tmp_path: Path
) -> None:
    create_token_secrets(kube, namespace)
    with SandboxServer(SandboxSeed.model_validate(scenario.seed(rotation=("PBBB", "PAAA")))) as server:
        sandbox = Sandbox(server)
        # CRASH_ENV: the resumed request looks 10 s after the restart.
        env = {**server.operator_env(), **CRASH_ENV, "ONCALL_OPERATOR_NAMESPACE": namespace}
        with operator_process(kube, "-n", namespace, env=env, log_path=tmp_path / "first.log") as first:
            # ULEAD too: Slack refuses to empty a group (LastUserGroupMember).
            kube.apply(oncallsync("oncall", namespace, slack={"alwaysInclude": ["ULEAD"]}))
            wait_condition(kube, "oncall", namespace, "Ready", "True")
            assert sandbox.members("oncall") == ["UAAA", "ULEAD"]
            # Suspended, so every group write below is the requests' (a sync would re-derive the group).
            kube.kubectl(
                "patch",
                "oncallsync",
                "oncall",
                "-n",
                namespace,
                "--type=merge",
                "-p",
                '{"spec":{"suspend":true}}',
            )

            # On call, and PagerDuty not in scope: OnCallSync would add them back. Refused, said plainly.
            subject_secret(kube, namespace, "first", EMAIL)
            mark = last_seq(sandbox)
            kube.apply(
                deletion_request("slack-only", namespace, "first", mode="Erase", scope=["slackUserGroups"])
            )
            receipt = finished(kube, namespace, "slack-only")
            assert receipt["onCall"] is True
            [action] = receipt["external"]
            assert action["state"] == "refused" and action["target"].startswith("slackUserGroup/")
            assert action["reason"].startswith("OnCall:") and "scope pagerDuty" in action["reason"]
            assert removals(sandbox, mark) == [] and sandbox.members("oncall") == ["UAAA", "ULEAD"]

            # With PagerDuty in scope: killed while the group write is in flight.
            sandbox.control(
                "POST",
                "faults",
                {
                    "api": "slack",
                    "method": "usergroups.users.update",
                    "kind": "latency",
                    "latency_seconds": 1.0,
                },
            )
            subject_secret(kube, namespace, "second", EMAIL)
            mark = last_seq(sandbox)
            kube.apply(
                deletion_request(
                    "everywhere", namespace, "second", mode="Erase", scope=["slackUserGroups", "pagerDuty"]
                )
            )
            wait_for(lambda: intent(kube, namespace), timeout=60, what="the group write's intent recorded")
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
        held = kube.get("deletionrequest", "everywhere", namespace)
        assert held["status"]["phase"] == "Running", "killed mid-request"
        with operator_process(kube, "-n", namespace, env=env, log_path=tmp_path / "second.log"):
            receipt = finished(kube, namespace, "everywhere")
        sent = removals(sandbox, mark)
        group_writes = [r for r in sent if r["method"] == "usergroups.users.update"]
        deletes = [r for r in sent if r["method"] == "DELETE /users/{id}"]
        # Sent once: it landed while the operator died, and the resumed request read the group first.
        assert len(group_writes) == 1 and group_writes[0]["status"] == 200, group_writes
        assert "UAAA" not in (sandbox.members("oncall") or [])
        # Off the rotation first (PBBB stays on the layer), then deleted: each once.
        schedule_writes = [r for r in sent if r["method"] == "PUT /schedules/{id}"]
        assert len(schedule_writes) == 1 and schedule_writes[0]["path"].endswith("/PSCHEDA"), schedule_writes
        assert len(deletes) == 1 and deletes[0]["path"].endswith("/PAAA")
        assert [r["method"] for r in sent][-2:] == ["PUT /schedules/{id}", "DELETE /users/{id}"]
        states = {a["target"].split("/")[0]: a["state"] for a in receipt["external"]}
        assert states["slackUserGroup"] == "alreadyDone"  # found done when the request resumed
        assert states["pagerDutySchedule"] == states["pagerDutyUser"] == "done", receipt["external"]
        assert receipt["phase"] == "Completed" and receipt["verified"] is True
