"""Helpers for CleanupRule / CleanupRun tests: specs as users write them."""

from __future__ import annotations

from typing import Any

from oncall_operator.api.cleanup import CleanupRuleSpec

ALL_ACTIONS = [
    "removeFromSlackUserGroups",
    "removeFromPagerDutySchedules",
    "removeFromPagerDutyEscalationPolicies",
    "removeFromPagerDutyTeams",
    "deletePagerDutyUser",
]


def rule_body(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "pagerDuty": {"tokenSecretRef": {"name": "pagerduty", "key": "token"}},
        "slack": {"tokenSecretRef": {"name": "slack", "key": "bot-token"}},
        "match": {"slackAccount": ["deactivated", "missing"]},
        "actions": ALL_ACTIONS,
    }
    body.update(spec)
    return body


def rule(**spec: Any) -> CleanupRuleSpec:
    return CleanupRuleSpec.model_validate(rule_body(**spec))


# --- e2e: a small workspace and account with stale people, and kubectl helpers ---

SLACK_ADMIN_TOKEN = "xoxp-test-admin"  # a person's token: team.accessLogs serves no bot tokens
WRITE_METHODS = {"usergroups.users.update", "usergroups.disable", "usergroups.enable", "chat.postMessage"}


def cleanup_seed(
    *,
    plan: str = "pro",
    access_logs: list[dict[str, Any]] | None = None,
    access_logs_plans: list[str] | None = None,
    extra_pagerduty_users: list[dict[str, Any]] | None = None,
    team_members: list[str] | None = None,
    generated_slack_users: int = 0,
) -> dict[str, Any]:
    """Stale people: PGONE01/PGONE02 deactivated in Slack (PGONE02 has an open incident), PNOSLK1 has no
    Slack account and is the only user of a layer, PONCALL is deactivated but a direct escalation
    target (always on call), PCONTR1 is a contractor outside example.test in two user groups."""
    from support import scenario

    def slack_user(user_id: str, email: str | None, **flags: Any) -> dict[str, Any]:
        return {"id": user_id, "name": user_id.lower(), "email": email, **flags}

    def pd_user(user_id: str, email: str, **fields: Any) -> dict[str, Any]:
        return {"id": user_id, "name": user_id.lower(), "email": email, **fields}

    def layer(layer_id: str, users: list[str], turn: int = 3600) -> dict[str, Any]:
        start = "2026-03-01T00:00:00+00:00"
        return {
            "id": layer_id,
            "start": start,
            "rotation_virtual_start": start,
            "rotation_turn_length_seconds": turn,
            "users": users,
        }

    return {
        "start_time": scenario.START.isoformat(),
        "slack": {
            "team_id": "T0TEST0001",
            "team_name": "Test",
            "domain": "test",
            "plan": plan,
            "bot_user_id": "UBOT",
            "tokens": [
                {"token": scenario.SLACK_TOKEN, "scopes": scenario.ALL_SCOPES},
                {"token": SLACK_ADMIN_TOKEN, "scopes": scenario.ALL_SCOPES},
            ],
            "users": [
                {"id": "UBOT", "name": "oncall-bot", "is_bot": True},
                slack_user("ULEAD", "lead@example.test"),
                slack_user("UAAA", "paaa@example.test"),
                slack_user("UBBB", "pbbb@example.test"),
                slack_user("UCCC", "pccc@example.test"),
                slack_user("UGONE01", "gone1@example.test", deleted=True),
                slack_user("UGONE02", "Gone2@Example.test", deleted=True),
                slack_user("UONCALL", "oncall@example.test", deleted=True),
                slack_user("UCONTR1", "contractor@vendor.test"),
            ],
            "channels": [{"id": "C0OPS0001", "name": "ops", "bot_is_member": True}],
            "usergroups": [
                {
                    "id": "S0STAFF01",
                    "handle": "staff",
                    "name": "Staff",
                    "users": ["ULEAD", "UAAA", "UCONTR1"],
                },
                {"id": "S0VENDOR1", "handle": "vendors", "name": "Vendors", "users": ["UCONTR1", "ULEAD"]},
            ],
            "access_logs": access_logs or [],
            **({"access_logs_plans": access_logs_plans} if access_logs_plans is not None else {}),
            **(
                {"generated_users": {"count": generated_slack_users, "email_domain": "bulk.test"}}
                if generated_slack_users
                else {}
            ),
        },
        "pagerduty": {
            "tokens": [scenario.PD_TOKEN],
            "users": [
                pd_user("PAAA", "paaa@example.test"),
                pd_user("PBBB", "pbbb@example.test"),
                pd_user("PCCC", "pccc@example.test"),
                pd_user("PGONE01", "gone1@example.test"),
                pd_user("PGONE02", "gone2@example.test"),
                pd_user("PONCALL", "oncall@example.test"),
                pd_user("PNOSLK1", "noslack@example.test", role="limited_user"),
                pd_user("PCONTR1", "contractor@vendor.test"),
                *(extra_pagerduty_users or []),
            ],
            "incidents": [
                {"id": "PINC001", "title": "disk full", "status": "triggered", "assigned_to": ["PGONE02"]}
            ],
            "teams": [
                {
                    "id": "PTEAM01",
                    "name": "Team",
                    "members": ["PAAA", "PGONE01", "PGONE02", "PCONTR1", *(team_members or [])],
                }
            ],
            "schedules": [
                {"id": "PSCHEDA", "name": "primary", "layers": [layer("PLAYERA", ["PAAA", "PBBB", "PCCC"])]},
                {"id": "PSCHEDX", "name": "extra", "layers": [layer("PLAYERX", ["PGONE01", "PBBB"], 86400)]},
                {"id": "PSOLO01", "name": "solo", "layers": [layer("PLAYERS", ["PNOSLK1"], 86400)]},
            ],
            "escalation_policies": [
                {
                    "id": "PPOLICY",
                    "name": "Policy",
                    "rules": [
                        {"id": "PRULE1", "targets": [{"type": "schedule_reference", "id": "PSCHEDA"}]},
                        {
                            "id": "PRULE2",
                            "targets": [
                                {"type": "user_reference", "id": "PONCALL"},
                                {"type": "user_reference", "id": "PBBB"},
                            ],
                        },
                    ],
                }
            ],
        },
    }


def cleanuprule(
    name: str, namespace: str, *, annotations: dict[str, str] | None = None, **spec: Any
) -> dict[str, Any]:
    body = rule_body(**{"safety": {"maxAffected": 10, "maxAffectedPercent": 50}, **spec})
    return {
        "apiVersion": "oncall-operator.dev/v1alpha1",
        "kind": "CleanupRule",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": body,
    }


def offboarding_now(namespace: str) -> dict[str, Any]:
    """The rule the kill tests interrupt: run now, applied at once, caps out of the way; it takes every
    PagerDuty user without a Slack account off their teams and deletes them."""
    return cleanuprule(
        "kill",
        namespace,
        annotations=run_now(),
        dryRun=False,
        approval="automatic",
        match={"slackAccount": ["missing"]},
        actions=["removeFromPagerDutyTeams", "deletePagerDutyUser"],
        safety={"maxAffected": 100, "maxAffectedPercent": 100},
    )


def run_now(value: str = "1") -> dict[str, str]:
    from oncall_operator.api.cleanup import RUN_NOW_ANNOTATION

    return {RUN_NOW_ANNOTATION: value}


def writes(entries: list[dict[str, Any]]) -> list[tuple[str, str | None, int]]:
    """(method, target, status) of every write in a sandbox request log."""
    return [
        (e["method"], e.get("target"), e["status"])
        for e in entries
        if e["method"] in WRITE_METHODS or e["method"].split(" ")[0] in ("PUT", "POST", "DELETE")
    ]


def cli(kube: Any, sandbox: Any, *args: str, check: bool = True) -> Any:
    """`oncall-operator cleanup ...` as a user runs it: their kubeconfig, the APIs from ONCALL_* variables."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "oncall_operator.cli", "cleanup", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**kube.env(), **sandbox.server.operator_env()},
    )
    if check and result.returncode != 0:
        raise AssertionError(f"cleanup {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def credential_secret(kube: Any, namespace: str, name: str, key: str, value: str) -> None:
    """A token Secret the operator may read (labelled as its Secret policy requires)."""
    from oncall_operator.clients.kube import CREDENTIALS_LABEL

    kube.kubectl("create", "secret", "generic", name, "-n", namespace, f"--from-literal={key}={value}")
    kube.kubectl("label", "secret", name, "-n", namespace, f"{CREDENTIALS_LABEL}=true")
