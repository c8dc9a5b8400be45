"""OnCallSync end to end: the operator process, the real kube-apiserver, the sandbox over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from support import scenario
from support.kube import Kube, wait_for
from support.oncall import Sandbox, condition, oncallsync, wait_condition
from support.reliability import CRASH_ENV

pytestmark = pytest.mark.cluster

PRIMARY_NOW = "UAAA"  # PSCHEDA at 09:xx on the seed's day
PRIMARY_NEXT = "UBBB"  # from 10:00


def test_create_then_handoff_updates_the_group_at_the_boundary(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    kube.apply(
        oncallsync(
            "payments",
            namespace,
            slack={
                "topic": {"channels": ["C0ONCALL1"], "template": "On call: {mentions} until {end:%H:%M}"},
                "handoffMessage": {"channel": "C0ONCALL1", "template": "{mentions} is now on call"},
            },
        )
    )
    wait_for(lambda: sandbox.members("payments") == [PRIMARY_NOW], what="group = primary on call")
    ready = wait_condition(kube, "payments", namespace, "Ready", "True")
    status = kube.get("oncallsync", "payments", namespace)["status"]
    assert status["members"] == [PRIMARY_NOW] and status["memberCount"] == 1
    assert status["nextHandoffTime"] == "2026-03-02T10:00:00Z"
    assert status["onCall"][0]["pagerDutyUser"] == "PAAA" and status["onCall"][0]["source"]["id"] == "PSCHEDA"
    assert status["slackUserGroupId"].startswith("S") and ready["reason"] == "GroupMatchesOnCall"
    assert "@" not in json.dumps(status), "no emails in status"
    topics = sandbox.control("GET", "slack/topics")
    assert topics["C0ONCALL1"]["topic"] == "On call: <@UAAA> until 10:00"

    # Jump to just before the handoff: the resync is an hour away, the handoff seconds away.
    writes_before = sandbox.group("payments")["updates"]  # type: ignore[index]
    sandbox.set_clock("2026-03-02T09:59:57+00:00")
    wait_for(lambda: sandbox.members("payments") == [PRIMARY_NEXT], timeout=30, what="handoff applied")
    assert sandbox.group("payments")["updates"] == writes_before + 1  # type: ignore[index]
    # The handoff message is sent last, after the group and the status.
    wait_for(
        lambda: any(
            m["text"] == "<@UBBB> is now on call"
            for m in sandbox.control("GET", "slack/messages?channel=C0ONCALL1")
        ),
        what="handoff message",
    )
    wait_for(
        lambda: (
            kube.get("oncallsync", "payments", namespace)["status"]["nextHandoffTime"]
            == "2026-03-02T11:00:00Z"
        ),
        what="next handoff moves on",
    )
    columns = kube.kubectl("get", "oncallsyncs", "-n", namespace).stdout
    assert "GROUP" in columns and "NEXT HANDOFF" in columns and "payments" in columns


def test_steady_state_makes_no_slack_writes(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    kube.apply(oncallsync("steady", namespace))
    wait_for(lambda: sandbox.members("steady") == [PRIMARY_NOW], what="first sync")
    # A spec change forces a resync; membership is unchanged so nothing is written.
    kube.apply(oncallsync("steady", namespace, safety={"maxRemovalsPerSync": 5}))
    resource = wait_for(
        lambda: (
            (r := kube.get("oncallsync", "steady", namespace))["status"].get("observedGeneration") == 2 and r
        ),
        what="observedGeneration follows the spec",
    )
    assert resource["metadata"]["generation"] == 2
    assert sandbox.group("steady")["updates"] == 1  # type: ignore[index]


def test_merge_of_sources_overrides_and_always_include(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    kube.apply(
        oncallsync(
            "merged",
            namespace,
            pagerDuty={"schedules": ["PSCHEDA"], "escalationPolicies": [{"id": "PPOLICY", "levels": [2]}]},
            slack={"alwaysInclude": ["ULEAD"]},
            userMapping={"overrides": [{"pagerDutyUser": "PAAA", "slackUser": "UFFF"}]},
        )
    )
    # PSCHEDB (level 2) has PDDD then PEEE hourly: 09:00 -> index (24+9)%2 = 1 -> PEEE.
    wait_for(lambda: sandbox.members("merged") == ["UEEE", "UFFF", "ULEAD"], what="merged members")
    sources = {e["source"]["type"] for e in kube.get("oncallsync", "merged", namespace)["status"]["onCall"]}
    assert sources == {"schedule", "escalationPolicy"}


def test_pagerduty_override_takes_effect_at_its_start(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    kube.apply(oncallsync("override", namespace))
    wait_for(lambda: sandbox.members("override") == [PRIMARY_NOW], what="first sync")
    client = sandbox.server.pagerduty_client(scenario.PD_TOKEN)
    client.rpost(
        "/schedules/PSCHEDA/overrides",
        json={
            "overrides": [
                {
                    "start": "2026-03-02T09:30:00Z",
                    "end": "2026-03-02T09:45:00Z",
                    "user": {"id": "PCCC", "type": "user_reference"},
                }
            ]
        },
    )
    # Created after the last sync and an hour before the resync: the look-ahead hears it.
    wait_for(
        lambda: (
            kube.get("oncallsync", "override", namespace)["status"].get("nextHandoffTime")
            == "2026-03-02T09:30:00Z"
        ),
        what="override start is the next handoff",
    )
    sandbox.set_clock("2026-03-02T09:29:58+00:00")
    wait_for(lambda: sandbox.members("override") == ["UCCC"], timeout=30, what="override applied")


def test_unmapped_users_are_reported_and_others_still_synced(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    sandbox.control("POST", "load", scenario.seed(deactivated=("UAAA",)))
    kube.apply(oncallsync("unmapped", namespace, slack={"alwaysInclude": ["ULEAD"]}))
    wait_for(lambda: sandbox.members("unmapped") == ["ULEAD"], what="others synced")
    degraded = wait_condition(kube, "unmapped", namespace, "Degraded", "True", "UnmappedUsers")
    status = kube.get("oncallsync", "unmapped", namespace)["status"]
    # Slack's users.lookupByEmail answers users_not_found for deactivated accounts...
    assert status["unmapped"] == [{"pagerDutyUser": "PAAA", "reason": "NoSlackAccount"}]
    assert "1 on-call users" in degraded["message"]
    # ...while an explicit mapping lets users.info tell that the account is deactivated.
    kube.apply(
        oncallsync(
            "unmapped",
            namespace,
            slack={"alwaysInclude": ["ULEAD"]},
            userMapping={"overrides": [{"pagerDutyUser": "PAAA", "slackUser": "UAAA"}]},
        )
    )
    wait_for(
        lambda: (
            kube.get("oncallsync", "unmapped", namespace)["status"]["unmapped"]
            == [{"pagerDutyUser": "PAAA", "reason": "SlackUserDeactivated"}]
        ),
        what="deactivated reason",
    )
    assert sandbox.members("unmapped") == ["ULEAD"]


@pytest.mark.parametrize("policy", ["keepLast", "disableGroup", "fallback"])
def test_nobody_on_call(kube: Kube, namespace: str, sandbox: Sandbox, operator: Path, policy: str) -> None:
    sandbox.control(
        "POST",
        "load",
        scenario.seed(
            extra_usergroups=[
                {"id": "SNOBODY1", "handle": "nobody", "name": "Nobody", "users": ["UAAA", "UBBB"]}
            ]
        ),
    )
    spec: dict[str, object] = {"pagerDuty": {"schedules": ["PSCHEDFAR"]}, "whenNobodyOnCall": policy}
    if policy == "fallback":
        spec["fallbackUsers"] = ["ULEAD"]
    kube.apply(oncallsync("nobody", namespace, **spec))
    wait_condition(kube, "nobody", namespace, "Ready", "True")
    group = sandbox.group("nobody")
    assert group is not None
    if policy == "keepLast":
        assert sorted(group["users"]) == ["UAAA", "UBBB"] and group["enabled"] and group["updates"] == 0
    elif policy == "disableGroup":
        assert not group["enabled"]
    else:
        assert group["users"] == ["ULEAD"]


def test_dry_run_writes_nothing_and_shows_the_plan(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    kube.apply(oncallsync("dry", namespace, dryRun=True))
    synced = wait_condition(kube, "dry", namespace, "Synced", "False", "DryRun")
    assert "plannedChanges" in synced["message"]
    plan = kube.get("oncallsync", "dry", namespace)["status"]["plannedChanges"]
    assert plan["createGroup"] and plan["add"] == [PRIMARY_NOW]
    assert sandbox.group("dry") is None
    writes = [
        r
        for r in sandbox.requests("slack")
        if r["method"].startswith("usergroups.")
        and r["method"] not in ("usergroups.list", "usergroups.users.list")
    ]
    assert writes == []


def test_mass_removal_is_refused(kube: Kube, namespace: str, sandbox: Sandbox, operator: Path) -> None:
    sandbox.control(
        "POST",
        "load",
        scenario.seed(
            extra_usergroups=[
                {"id": "SBIG1", "handle": "big", "name": "Big", "users": ["UBBB", "UCCC", "UDDD", "UEEE"]}
            ]
        ),
    )
    kube.apply(oncallsync("big", namespace, safety={"maxRemovalsPerSync": 2}))
    synced = wait_condition(kube, "big", namespace, "Synced", "False", "SafetyLimit")
    assert "4 members" in synced["message"] and "maxRemovalsPerSync=2" in synced["message"]
    assert sandbox.members("big") == ["UBBB", "UCCC", "UDDD", "UEEE"]
    events = kube.kubectl("get", "events", "-n", namespace, "-o", "json").stdout
    assert "SafetyLimit" in events
    # Raising the cap lets the sync through.
    kube.apply(oncallsync("big", namespace, safety={"maxRemovalsPerSync": 10}))
    wait_for(lambda: sandbox.members("big") == [PRIMARY_NOW], what="sync after raising the cap")


def test_rotated_secret_is_used_without_restart(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    kube.apply(oncallsync("rotate", namespace))
    wait_for(lambda: sandbox.members("rotate") == [PRIMARY_NOW], what="first sync")
    sandbox.control("POST", "tokens", {"api": "slack", "token": scenario.SLACK_TOKEN, "revoked": True})
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "slack",
                "namespace": namespace,
                "labels": {"oncall-operator.dev/credentials": "true"},
            },
            "stringData": {"bot-token": scenario.SLACK_TOKEN_ROTATED},
        }
    )
    sandbox.set_clock("2026-03-02T09:59:58+00:00")
    wait_for(lambda: sandbox.members("rotate") == [PRIMARY_NEXT], timeout=30, what="sync with the new token")


def test_rate_limit_storms_and_server_errors_converge_without_duplicate_writes(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    sandbox.control(
        "POST",
        "faults",
        {
            "api": "slack",
            "method": "usergroups.users.update",
            "kind": "rate_limit",
            "retry_after": 1,
            "count": 3,
        },
    )
    sandbox.control(
        "POST",
        "faults",
        {"api": "slack", "method": "usergroups.list", "kind": "status", "status": 503, "count": 2},
    )
    sandbox.control(
        "POST",
        "faults",
        {"api": "pagerduty", "method": "GET /oncalls", "kind": "status", "status": 502, "count": 2},
    )
    kube.apply(oncallsync("storm", namespace))
    wait_for(lambda: sandbox.members("storm") == [PRIMARY_NOW], timeout=60, what="convergence")
    wait_condition(kube, "storm", namespace, "Ready", "True")
    assert sandbox.group("storm")["updates"] == 1  # type: ignore[index]
    statuses = [r["status"] for r in sandbox.requests("slack") if r["method"] == "usergroups.users.update"]
    assert statuses.count(429) == 3 and statuses.count(200) == 1


@pytest.mark.parametrize(("on_delete", "enabled_after"), [("keep", True), ("disableGroup", False)])
def test_delete(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path, on_delete: str, enabled_after: bool
) -> None:
    kube.apply(oncallsync("gone", namespace, onDelete=on_delete))
    wait_for(lambda: sandbox.members("gone") == [PRIMARY_NOW], what="first sync")
    wait_condition(kube, "gone", namespace, "Ready", "True")
    kube.kubectl("delete", "oncallsync", "gone", "-n", namespace, "--timeout=60s")
    group = sandbox.group("gone")
    assert group is not None and group["enabled"] is enabled_after
    assert not kube.exists("oncallsync", "gone", namespace)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"pagerDuty": {"tokenSecretRef": {"name": "missing", "key": "token"}}}, "SecretNotFound"),
        ({"pagerDuty": {"schedules": ["PNOSUCH"]}}, "ScheduleNotFound"),
        ({"slack": {"topic": {"channels": ["C0OUTSID1"], "template": "{mentions}"}}}, "NotInChannel"),
    ],
)
def test_failures_show_as_conditions_and_events(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path, change: dict[str, object], reason: str
) -> None:
    kube.apply(oncallsync("failing", namespace, **change))
    ready = wait_condition(kube, "failing", namespace, "Ready", "False", reason)
    assert "@" not in ready["message"]
    wait_for(lambda: reason in kube.kubectl("get", "events", "-n", namespace).stdout, what=f"{reason} event")


def test_bad_tokens_scopes_and_plans(kube: Kube, namespace: str, sandbox: Sandbox, operator: Path) -> None:
    kube.kubectl(
        "create",
        "secret",
        "generic",
        "bad",
        "-n",
        namespace,
        "--from-literal=token=pd-wrong",
        f"--from-literal=readonly={scenario.SLACK_TOKEN_NO_WRITE}",
    )
    kube.kubectl("label", "secret", "bad", "-n", namespace, "oncall-operator.dev/credentials=true")
    kube.apply(
        oncallsync("authfail", namespace, pagerDuty={"tokenSecretRef": {"name": "bad", "key": "token"}})
    )
    kube.apply(oncallsync("scope", namespace, slack={"tokenSecretRef": {"name": "bad", "key": "readonly"}}))
    wait_condition(kube, "authfail", namespace, "Ready", "False", "AuthFailed")
    missing = wait_condition(kube, "scope", namespace, "Ready", "False", "MissingScope")
    assert "usergroups:write" in missing["message"]


def test_free_plan_needs_an_upgrade(kube: Kube, namespace: str, sandbox: Sandbox, operator: Path) -> None:
    sandbox.control("POST", "load", scenario.seed(plan="free"))
    kube.apply(oncallsync("free", namespace))
    wait_condition(kube, "free", namespace, "Ready", "False", "PlanUpgradeRequired")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"pagerDuty": {"tokenSecretRef": {"name": "p", "key": "t"}}},
            "name at least one schedule or escalation policy",
        ),
        ({"slack": {"topic": {"channels": ["C1"], "template": "hi {email}"}}}, "template may only use"),
        ({"whenNobodyOnCall": "fallback"}, "fallback needs at least one fallbackUsers entry"),
        ({"pagerDuty": {"schedules": ["not-an-id"]}}, "should match"),
        ({"resyncInterval": "soon"}, "spec.resyncInterval"),
        ({"resyncInterval": ""}, "spec.resyncInterval"),
        ({"resyncInterval": "99999999999h"}, "from 30s to 24h"),
        ({"resyncInterval": "0s"}, "from 30s to 24h"),
        (
            {"pagerDuty": {"tokenSecretRef": {"name": "..", "key": "t"}, "schedules": ["PA1"]}},
            "tokenSecretRef.name",
        ),
        ({"pagerDuty": {"schedules": ["PSCHEDA", "PSCHEDA"]}}, 'Duplicate value: "PSCHEDA"'),
        (
            {
                "userMapping": {
                    "overrides": [
                        {"pagerDutyUser": "PA1", "slackUser": "U1A"},
                        {"pagerDutyUser": "PA1", "slackUser": "U2B"},
                    ]
                }
            },
            "Duplicate value",
        ),
        (
            {"slack": {"topic": {"channels": ["C0ONCALL1"], "template": "x", "timeZone": "Mars/Base"}}},
            "must be an IANA time zone",
        ),
    ],
)
def test_invalid_specs_are_rejected_at_admission(
    kube: Kube, namespace: str, spec: dict[str, object], message: str
) -> None:
    manifest = oncallsync("invalid", namespace, **spec)
    if "tokenSecretRef" in json.dumps(spec) and "schedules" not in json.dumps(spec):
        manifest["spec"]["pagerDuty"] = spec["pagerDuty"]
    result = kube.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(manifest), check=False)
    assert result.returncode != 0 and message in result.stderr, result.stderr


def test_no_personal_data_in_status_events_or_logs(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    kube.apply(oncallsync("private", namespace, slack={"alwaysInclude": ["ULEAD"]}))
    wait_condition(kube, "private", namespace, "Ready", "True")
    everything = kube.kubectl("get", "oncallsync,events", "-n", namespace, "-o", "yaml").stdout
    assert "example.test" not in everything
    assert "example.test" not in operator.read_text()
    assert condition(kube, "private", namespace, "Degraded")["status"] == "False"  # type: ignore[index]


@pytest.mark.contract
def test_operator_traffic_matches_the_official_specs(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path, specs_dir: Path
) -> None:
    """Every request the operator's SDK clients send, and every answer, against the vendors' specs."""
    from oncall_sandbox.contract import validate_exchanges

    control = sandbox.server.control
    control.record_exchanges(True)
    kube.apply(
        oncallsync(
            "contract",
            namespace,
            pagerDuty={"schedules": ["PSCHEDA"], "escalationPolicies": [{"id": "PPOLICY", "levels": [2]}]},
            slack={
                "topic": {"channels": ["C0ONCALL1"], "template": "{mentions}"},
                "handoffMessage": {"channel": "C0ONCALL1", "template": "{mentions} on call"},
            },
        )
    )
    wait_condition(kube, "contract", namespace, "Ready", "True")
    sandbox.set_clock("2026-03-02T09:59:58+00:00")
    wait_for(lambda: "UBBB" in (sandbox.members("contract") or []), timeout=30, what="handoff")
    exchanges = control.exchanges()
    methods = {e["method"] for e in exchanges}
    assert {
        "GET /oncalls",
        "usergroups.create",
        "usergroups.users.update",
        "conversations.setTopic",
    } <= methods
    violations = validate_exchanges(exchanges, specs_dir)
    assert not violations, "\n".join(map(str, violations))


def test_everyone_in_rotation_scope(kube: Kube, namespace: str, sandbox: Sandbox, operator: Path) -> None:
    kube.apply(oncallsync("roster", namespace, pagerDuty={"scope": "everyoneInRotation"}))
    wait_for(lambda: sandbox.members("roster") == ["UAAA", "UBBB", "UCCC"], what="the whole rotation")
    status = kube.get("oncallsync", "roster", namespace)["status"]
    assert status.get("nextHandoffTime") is None  # a roster has no handoffs; the resync keeps it fresh


def test_suspend_stops_syncing(kube: Kube, namespace: str, sandbox: Sandbox, operator: Path) -> None:
    kube.apply(oncallsync("paused", namespace, suspend=True))
    wait_condition(kube, "paused", namespace, "Synced", "False", "Suspended")
    assert sandbox.group("paused") is None
    kube.apply(oncallsync("paused", namespace, suspend=False))
    wait_for(lambda: sandbox.members("paused") == [PRIMARY_NOW], what="sync after resuming")


def test_failures_are_posted_to_the_error_channel(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    kube.apply(
        oncallsync(
            "reported", namespace, pagerDuty={"schedules": ["PNOSUCH"]}, slack={"errorChannel": "C0ONCALL1"}
        )
    )
    wait_condition(kube, "reported", namespace, "Ready", "False", "ScheduleNotFound")
    messages = wait_for(
        lambda: sandbox.control("GET", "slack/messages?channel=C0ONCALL1"), what="error message"
    )
    assert "ScheduleNotFound" in messages[0]["text"] and f"{namespace}/reported" in messages[0]["text"]


def test_metrics_are_served_without_personal_data(
    kube: Kube, namespace: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    import urllib.request

    from oncall_devkit.localcluster import free_port
    from support.kube import operator_process
    from support.oncall import create_token_secrets

    create_token_secrets(kube, namespace)
    port = free_port()
    env = sandbox.server.operator_env()
    with operator_process(
        kube, "-n", namespace, "--metrics-port", str(port), env=env, log_path=tmp_path / "op.log"
    ):
        kube.apply(oncallsync("metered", namespace))
        wait_condition(kube, "metered", namespace, "Ready", "True")

        def scrape() -> str | None:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                text: str = response.read().decode()
            return text if 'oncall_operator_group_members{name="metered"' in text else None

        text = wait_for(scrape, what="metrics")
        # A deleted resource takes its series with it.
        kube.kubectl("delete", "oncallsync", "metered", "-n", namespace, "--timeout=60s")

        def scrape_after_delete() -> str | None:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                after: str = response.read().decode()
            return after if 'name="metered"' not in after else None

        wait_for(scrape_after_delete, what="the resource's series gone")
    for name in (
        "syncs_total",
        "sync_duration_seconds",
        "api_requests_total",
        "queue_depth",
        "unmapped_users",
        "build_info",
        "lookahead_rounds_total",
    ):
        assert f"oncall_operator_{name}" in text
    assert 'oncall_operator_resource_ready{kind="OnCallSync",name="metered"' in text
    assert 'oncall_operator_last_success_timestamp_seconds{kind="OnCallSync",name="metered"' in text
    assert "process_resident_memory_bytes" in text and "python_info" in text
    assert "_created" not in text
    assert 'api="slack",method="usergroups.create"' in text
    assert "example.test" not in text and "xoxb" not in text


def test_one_group_one_owner_across_namespaces(kube: Kube, sandbox: Sandbox, tmp_path: Path) -> None:
    from support.kube import operator_process
    from support.oncall import create_token_secrets

    first, second = kube.create_namespace(), kube.create_namespace()
    for ns in (first, second):
        create_token_secrets(kube, ns)
    env = sandbox.server.operator_env()
    with operator_process(kube, "-n", first, "-n", second, env=env, log_path=tmp_path / "op.log"):
        kube.apply(oncallsync("owner", first, slack={"userGroup": {"handle": "shared"}}))
        wait_condition(kube, "owner", first, "Ready", "True")
        kube.apply(
            oncallsync("rival", second, slack={"userGroup": {"handle": "shared"}, "alwaysInclude": ["ULEAD"]})
        )
        rival = wait_condition(kube, "rival", second, "Ready", "False", "GroupOwnedElsewhere")
        assert f"{first}/owner" in rival["message"]
        # Only the owner's one membership write; the rival (which wants ULEAD too) wrote nothing.
        assert sandbox.members("shared") == [PRIMARY_NOW]
        assert sandbox.group("shared")["updates"] == 1  # type: ignore[index]
        # The owner goes; the next oldest takes over.
        kube.kubectl("delete", "oncallsync", "owner", "-n", first, "--timeout=60s")
        wait_condition(kube, "rival", second, "Ready", "True", timeout=60)
        wait_for(lambda: sandbox.members("shared") == [PRIMARY_NOW, "ULEAD"], what="the new owner's members")


def test_a_namespace_may_be_limited_to_handle_patterns(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    kube.kubectl("annotate", "namespace", namespace, "oncall-operator.dev/user-groups=payments-*")
    kube.apply(oncallsync("sre", namespace, slack={"userGroup": {"handle": "sre-oncall"}}))
    kube.apply(oncallsync("payments", namespace, slack={"userGroup": {"handle": "payments-oncall"}}))
    refused = wait_condition(kube, "sre", namespace, "Ready", "False", "UserGroupNotAllowed")
    assert "oncall-operator.dev/user-groups" in refused["message"]
    wait_condition(kube, "payments", namespace, "Ready", "True")
    assert sandbox.group("sre-oncall") is None


def test_a_schedule_no_policy_uses_still_has_its_people(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    kube.apply(oncallsync("solo", namespace, pagerDuty={"schedules": ["PSCHEDSOLO"]}))
    # 09:xx -> index (24 + 9) % 2 = 1 -> PDDD, read from the schedule's rendered final layer.
    wait_for(lambda: sandbox.members("solo") == ["UDDD"], what="the solo schedule's on-call")
    status = kube.get("oncallsync", "solo", namespace)["status"]
    assert (
        status["onCall"][0]["source"]["id"] == "PSCHEDSOLO"
        and status["nextHandoffTime"] == "2026-03-02T10:00:00Z"
    )


def test_only_secrets_that_opt_in_are_used(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    kube.kubectl(
        "create",
        "secret",
        "generic",
        "unlabelled",
        "-n",
        namespace,
        f"--from-literal=token={scenario.PD_TOKEN}",
    )
    kube.apply(
        oncallsync("optin", namespace, pagerDuty={"tokenSecretRef": {"name": "unlabelled", "key": "token"}})
    )
    refused = wait_condition(kube, "optin", namespace, "Ready", "False", "SecretNotFound")
    # An unlabelled Secret reads exactly like a missing one: the operator tells nothing about it.
    assert "not labelled oncall-operator.dev/credentials=true" in refused["message"]
    assert "has no key" not in refused["message"]
    # Labelling it is noticed within seconds (the Secret is polled), not at the next retry.
    kube.kubectl("label", "secret", "unlabelled", "-n", namespace, "oncall-operator.dev/credentials=true")
    wait_condition(kube, "optin", namespace, "Ready", "True", timeout=30)


def test_a_deleted_secret_is_noticed_within_seconds(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    kube.apply(oncallsync("secretgone", namespace))
    wait_condition(kube, "secretgone", namespace, "Ready", "True")
    kube.kubectl("delete", "secret", "slack", "-n", namespace)
    wait_condition(kube, "secretgone", namespace, "Ready", "False", "SecretNotFound", timeout=30)


def test_a_large_group_is_written_in_the_body_and_mapped_from_the_directories(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    """900 members: ids travel in the POST body (in a URL the request line breaks past ~800), and the
    users are mapped with paged directory reads instead of 900 lookups (Tier 3: 18 minutes)."""
    seed = scenario.seed()
    seed["slack"]["generated_users"] = {"count": 900, "email_domain": "bulk.example"}
    seed["pagerduty"]["generated_users"] = {"count": 900, "email_domain": "bulk.example"}
    roster = [f"PU{n:07d}" for n in range(1, 901)]
    seed["pagerduty"]["schedules"].append(scenario.hourly("PSCHEDBIG", roster))
    sandbox.control("POST", "load", seed)
    kube.apply(
        oncallsync("big", namespace, pagerDuty={"schedules": ["PSCHEDBIG"], "scope": "everyoneInRotation"})
    )
    ready = wait_condition(kube, "big", namespace, "Ready", "True", timeout=120)
    assert ready["message"] == "900 members"
    assert len(sandbox.members("big") or []) == 900
    methods = [r["method"] for r in sandbox.requests()]
    assert methods.count("users.lookupByEmail") == 0 and 1 <= methods.count("users.list") <= 2
    assert methods.count("GET /users/{id}") == 0 and 9 <= methods.count("GET /users") <= 10


def test_a_hostile_answer_ends_as_a_condition(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    sandbox.control(
        "POST",
        "faults",
        {"api": "slack", "method": "usergroups.list", "kind": "drop_field", "field": "usergroups"},
    )
    kube.apply(oncallsync("hostile", namespace))
    ready = wait_condition(kube, "hostile", namespace, "Ready", "False", "InvalidResponse")
    assert "usergroups.list" in ready["message"]
    sandbox.control("DELETE", "faults")
    kube.apply(oncallsync("hostile", namespace, resyncInterval="30s"))  # a spec change wakes it at once
    wait_condition(kube, "hostile", namespace, "Ready", "True")


def test_what_users_see_events_conditions_and_logs(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    kube.apply(oncallsync("seen", namespace))
    wait_condition(kube, "seen", namespace, "Ready", "True")
    sandbox.set_clock("2026-03-02T09:59:58+00:00")
    wait_for(lambda: sandbox.members("seen") == [PRIMARY_NEXT], timeout=30, what="handoff")

    def events() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = json.loads(
            kube.kubectl("get", "events", "-n", namespace, "-o", "json").stdout
        )["items"]
        return items

    changed = wait_for(
        lambda: [e for e in events() if e["reason"] == "MembersChanged"], what="MembersChanged event"
    )
    assert any("added UBBB; removed UAAA" in e["message"] for e in changed)
    assert all(e["source"].get("component") == "oncall-operator" for e in changed)
    # Text logs name the resource, as Kopf's own lines do.
    assert f"[{namespace}/seen]" in operator.read_text()
    # Suspended: Ready and Synced say so; the columns too.
    kube.apply(oncallsync("seen", namespace, suspend=True))
    wait_condition(kube, "seen", namespace, "Ready", "False", "Suspended")
    columns = kube.kubectl("get", "oncallsyncs", "-n", namespace).stdout.split("\n")[0]
    assert "SYNCED" in columns and "SUSPENDED" in columns


def test_nobody_on_call_is_said_with_the_policy_applied(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    kube.apply(oncallsync("quiet", namespace, pagerDuty={"schedules": ["PSCHEDFAR"]}))
    synced = wait_condition(kube, "quiet", namespace, "Synced", "True", "NobodyOnCall")
    assert "whenNobodyOnCall=keepLast" in synced["message"]


@pytest.mark.parametrize(
    ("fault", "landed"),
    [
        ({"kind": "status_after_apply", "status": 503}, True),  # it landed, the answer says 503
        ({"kind": "timeout", "latency_seconds": 1.0}, False),  # the connection dropped before Slack had it
    ],
    ids=["landed-503", "dropped"],
)
def test_an_ambiguous_post_is_checked_in_the_history_then_posted_exactly_once(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path, fault: dict[str, Any], landed: bool
) -> None:
    message = {"handoffMessage": {"channel": "C0ONCALL1", "template": "{mentions} is now on call"}}
    kube.apply(oncallsync("once", namespace, slack=message))
    wait_condition(kube, "once", namespace, "Ready", "True")
    sandbox.control("POST", "faults", {"api": "slack", "method": "chat.postMessage", "count": 1, **fault})
    sandbox.set_clock("2026-03-02T09:59:58+00:00")

    def posted_record() -> dict[str, Any] | None:
        found: dict[str, Any] | None = kube.get("oncallsync", "once", namespace)["status"].get(
            "lastHandoffMessage"
        )
        return found if found and found["state"] == "Posted" else None

    # A fresh operator checks the history only once the post can no longer be in flight (30 + 5 s
    # after its start: core/resume.py); one running longer checks at once.
    record = wait_for(posted_record, timeout=75, what="the message checked and settled")
    assert record["onCall"] == [PRIMARY_NEXT]
    posted = [
        m for m in sandbox.control("GET", "slack/messages?channel=C0ONCALL1") if "is now on call" in m["text"]
    ]
    assert len(posted) == 1
    methods = [r["method"] for r in sandbox.requests("slack")]
    assert methods.count("chat.postMessage") == (1 if landed else 2)  # a landed one is never sent again
    assert "conversations.history" in methods
    # The group was written once for the handoff, never again because of the message.
    assert sandbox.group("once")["updates"] == 2  # type: ignore[index]


def test_the_group_reads_as_the_spec_says(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    group = {
        "handle": "named",
        "name": "Payments on-call",
        "description": "Who to page",
        "channels": ["C0ONCALL1"],
    }
    kube.apply(oncallsync("named", namespace, slack={"userGroup": group}))
    wait_condition(kube, "named", namespace, "Ready", "True")
    created = sandbox.group("named")
    assert (
        created is not None and created["name"] == "Payments on-call" and created["channels"] == ["C0ONCALL1"]
    )
    # The spec changes; so does the group (a spec change resyncs at once).
    kube.apply(oncallsync("named", namespace, slack={"userGroup": {**group, "name": "Payments primary"}}))
    wait_for(lambda: (sandbox.group("named") or {}).get("name") == "Payments primary", what="renamed")


@pytest.mark.parametrize(
    ("fault", "landed"),
    [
        # The answer drips: the message is in the channel, the operator dies before it hears so.
        ({"kind": "drip_feed", "interval_seconds": 5.0}, True),
    ],
    ids=["landed"],
)
def test_a_handoff_message_survives_a_kill_mid_post_exactly_once(
    kube: Kube, namespace: str, sandbox: Sandbox, tmp_path: Path, fault: dict[str, Any], landed: bool
) -> None:
    import signal

    from support.kube import operator_process
    from support.oncall import create_token_secrets

    create_token_secrets(kube, namespace)
    # CRASH_ENV: the restarted operator checks the history 10 s after its start.
    env = {**sandbox.server.operator_env(), **CRASH_ENV, "ONCALL_LOOKAHEAD_INTERVAL": "2s"}
    message = {"handoffMessage": {"channel": "C0ONCALL1", "template": "{mentions} is now on call"}}
    with operator_process(kube, "-n", namespace, env=env, log_path=tmp_path / "first.log") as first:
        kube.apply(oncallsync("crash", namespace, slack=message))
        wait_condition(kube, "crash", namespace, "Ready", "True")
        sandbox.control("POST", "faults", {"api": "slack", "method": "chat.postMessage", "count": 1, **fault})
        sandbox.set_clock("2026-03-02T09:59:58+00:00")

        def pending() -> bool:
            record = kube.get("oncallsync", "crash", namespace)["status"].get("lastHandoffMessage") or {}
            return record.get("state") == "Pending"

        wait_for(pending, timeout=30, what="the intent recorded, the post under way")
        wait_for(
            lambda: any(r["method"] == "chat.postMessage" for r in sandbox.requests("slack")),
            what="the post sent",
        )
        first.send_signal(signal.SIGKILL)
        first.wait()

    def posted() -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = sandbox.control("GET", "slack/messages?channel=C0ONCALL1")
        return [m for m in messages if "is now on call" in m["text"]]

    assert len(posted()) == (1 if landed else 0)
    sandbox.control("DELETE", "faults")
    with operator_process(kube, "-n", namespace, env=env, log_path=tmp_path / "second.log"):

        def settled() -> dict[str, Any] | None:
            record = kube.get("oncallsync", "crash", namespace)["status"].get("lastHandoffMessage") or {}
            return record if record.get("state") == "Posted" else None

        wait_for(settled, timeout=45, what="the message settled after the restart")
    assert len(posted()) == 1
