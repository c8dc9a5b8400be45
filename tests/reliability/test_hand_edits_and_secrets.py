"""A person edits a managed group by hand; a Secret is deleted and a token revoked mid-run."""

from __future__ import annotations

import time
from typing import Any

import pytest
from slack_sdk import WebClient

from oncall_operator.clients.kube import CREDENTIALS_LABEL
from support import scenario
from support.kube import Kube, wait_for
from support.oncall import Sandbox, create_token_secrets, oncallsync, wait_condition

pytestmark = pytest.mark.cluster

# Within this many seconds of a fix (the Secret back, a new token) the resource is Ready again.
RECOVERY_SECONDS = 30.0


def _start(kube: Kube, namespace: str, sandbox: Sandbox, operators: Any) -> Any:
    create_token_secrets(kube, namespace)
    env = {**sandbox.server.operator_env(), "ONCALL_LOOKAHEAD_INTERVAL": "2s"}
    return operators("-n", namespace, env=env).start()


def test_a_hand_edit_of_a_managed_group_is_reverted_at_the_next_resync(
    kube: Kube, namespace: str, sandbox: Sandbox, operators: Any, figures: dict[str, str]
) -> None:
    """Documented (README, "How it works"): the group is the operator's; a person's edit stays until the
    next resync (spec.resyncInterval) or handoff, which writes the on-call members back, once."""
    _start(kube, namespace, sandbox, operators)
    kube.apply(oncallsync("edited", namespace, resyncInterval="10m"))
    wait_condition(kube, "edited", namespace, "Ready", "True")
    group = sandbox.group("edited")
    assert group is not None and group["users"] == ["UAAA"]
    # A person adds the lead with Slack's own API (the SDK, as a person's script would).
    person = WebClient(token=scenario.SLACK_TOKEN, base_url=sandbox.server.slack_url)
    person.usergroups_users_update(usergroup=group["id"], users=["UAAA", "ULEAD"])
    writes_after_edit = sandbox.group("edited")["updates"]  # type: ignore[index]
    # The look-ahead (every 2 s here) reads PagerDuty, not the group: the edit stays until the resync.
    sandbox.control("DELETE", "requests")
    wait_for(
        lambda: sum(1 for e in sandbox.requests("pagerduty") if e["method"] == "GET /oncalls") >= 2,
        timeout=30,
        what="two look-ahead rounds after the edit",
    )
    assert sandbox.members("edited") == ["UAAA", "ULEAD"]
    sandbox.control("POST", "clock", {"advance_seconds": 600})
    began = time.monotonic()
    wait_for(
        lambda: sandbox.members("edited") == ["UAAA"], timeout=45, what="the edit reverted at the resync"
    )
    took = time.monotonic() - began
    assert sandbox.group("edited")["updates"] == writes_after_edit + 1  # type: ignore[index]
    figures["hand edit"] = f"kept until the resync, then reverted by one write {took:.1f}s after it fell due"


def test_a_deleted_secret_and_a_revoked_token_are_conditions_and_recover_within_seconds_of_the_fix(
    kube: Kube, namespace: str, sandbox: Sandbox, operators: Any, figures: dict[str, str]
) -> None:
    operator = _start(kube, namespace, sandbox, operators)
    kube.apply(oncallsync("creds", namespace))
    wait_condition(kube, "creds", namespace, "Ready", "True")
    # The Secret goes away: a condition names it, within seconds (Secrets are polled).
    kube.kubectl("delete", "secret", "slack", "-n", namespace)
    missing = wait_condition(kube, "creds", namespace, "Ready", "False", "SecretNotFound", timeout=30)
    assert "slack" in missing["message"]
    kube.kubectl(
        "create",
        "secret",
        "generic",
        "slack",
        "-n",
        namespace,
        f"--from-literal=bot-token={scenario.SLACK_TOKEN}",
    )
    kube.kubectl("label", "secret", "slack", "-n", namespace, f"{CREDENTIALS_LABEL}=true")
    fixed = time.monotonic()
    wait_condition(kube, "creds", namespace, "Ready", "True", timeout=RECOVERY_SECONDS)
    secret_recovery = time.monotonic() - fixed
    # The token is revoked mid-run; the next handoff hits it.
    sandbox.control("POST", "tokens", {"api": "slack", "token": scenario.SLACK_TOKEN, "revoked": True})
    sandbox.set_clock("2026-03-02T09:59:59+00:00")
    revoked = wait_condition(kube, "creds", namespace, "Ready", "False", "AuthFailed", timeout=60)
    assert scenario.SLACK_TOKEN not in revoked["message"]
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "slack", "namespace": namespace, "labels": {CREDENTIALS_LABEL: "true"}},
            "stringData": {"bot-token": scenario.SLACK_TOKEN_ROTATED},
        }
    )
    fixed = time.monotonic()
    wait_for(
        lambda: sandbox.members("creds") == ["UBBB"],
        timeout=RECOVERY_SECONDS,
        what="handoff with the new token",
    )
    wait_condition(kube, "creds", namespace, "Ready", "True", timeout=RECOVERY_SECONDS)
    token_recovery = time.monotonic() - fixed
    assert operator.alive(), operator.tail()
    figures["credentials"] = (
        f"Secret recreated -> Ready in {secret_recovery:.1f}s; token rotated after a revocation -> "
        f"handoff applied and Ready in {token_recovery:.1f}s"
    )
