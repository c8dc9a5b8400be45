"""CleanupRule and CleanupRun end to end: the operator process, the real kube-apiserver, the sandbox."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from support import scenario
from support.cleanup import cleanup_seed, cleanuprule, cli, run_now, writes
from support.kube import Kube, wait_for
from support.oncall import Sandbox

pytestmark = pytest.mark.cluster
STALE = {"PGONE01", "PGONE02", "PNOSLK1", "PONCALL"}


def runs(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(
        kube.kubectl("get", "cleanupruns", "-n", namespace, "-o", "json").stdout
    )["items"]
    return found


def finished_run(kube: Kube, namespace: str, phase: str | None = None, timeout: float = 60) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        for run in runs(kube, namespace):
            current = (run.get("status") or {}).get("phase")
            settled = current in ("Planned", "Completed", "Failed", "Refused", "Aborted", "AwaitingApproval")
            if settled and (phase is None or current == phase):
                return run
        return None

    return wait_for(probe, timeout=timeout, what=f"a run in phase {phase or 'finished'}")


def people(run: dict[str, Any]) -> dict[str, list[str]]:
    """pagerDutyUser or slackUser -> [reasons, changes] from the compact status."""
    out = {}
    for line in run["status"]["items"]:
        pd, slack, _subject, reasons, changes = line.split(" ")
        out[pd if pd != "-" else slack] = [reasons, changes]
    return out


@pytest.fixture
def seeded(sandbox: Sandbox) -> Sandbox:
    sandbox.control("POST", "load", cleanup_seed())
    sandbox.control("DELETE", "requests")
    return sandbox


def test_dry_run_lists_exactly_the_stale_people_and_changes_nothing(
    kube: Kube, namespace: str, seeded: Sandbox, operator: Path
) -> None:
    kube.apply(cleanuprule("stale", namespace, annotations=run_now()))
    run = finished_run(kube, namespace, "Planned")
    status = run["status"]
    assert set(people(run)) == STALE
    assert people(run)["PONCALL"][0] == "Dp" and people(run)["PONCALL"][1] == "-"  # on call: protected
    assert status["counts"]["matched"] == 4 and status["counts"]["protected"] == 1
    assert status["planHash"].startswith("sha256:") and status["reason"] == "DryRun"
    assert run["metadata"]["ownerReferences"][0]["kind"] == "CleanupRule"
    assert "@" not in json.dumps(status), "no emails in a run"
    assert writes(seeded.requests()) == []
    rule = wait_for(
        lambda: (r := kube.get("cleanuprule", "stale", namespace)).get("status", {}).get("lastRuns") and r,
        what="the rule lists its run",
    )
    assert rule["status"]["lastRuns"][0]["name"] == run["metadata"]["name"]
    columns = kube.kubectl("get", "cleanupruns", "-n", namespace).stdout
    assert "MATCHED" in columns and "Planned" in columns


def test_automatic_apply_performs_each_change_once(
    kube: Kube, namespace: str, seeded: Sandbox, operator: Path
) -> None:
    kube.apply(cleanuprule("apply", namespace, annotations=run_now(), dryRun=False, approval="automatic"))
    run = finished_run(kube, namespace, "Completed", timeout=90)
    status = run["status"]
    made = writes(seeded.requests())
    assert Counter((m, t) for m, t, _ in made) == Counter(
        {
            ("PUT /schedules/{id}", "PSCHEDX"): 1,
            ("DELETE /teams/{id}/users/{user_id}", "PTEAM01"): 2,
            ("DELETE /users/{id}", "PGONE01"): 1,
            ("DELETE /users/{id}", "PGONE02"): 1,
            ("DELETE /users/{id}", "PNOSLK1"): 1,
        }
    )
    deleted = {u["id"] for u in seeded.control("GET", "pagerduty/deleted_users")}
    assert deleted == {"PGONE01"}
    assert status["reason"] == "PartiallyApplied" and status["counts"]["needsPerson"] == 3
    assert sorted(status["failures"].values()) == [
        "LastScheduleLayerMember",
        "LastScheduleLayerMember",
        "OpenIncidents",
    ]


def approve(kube: Kube, namespace: str, run: str, plan_hash: str) -> None:
    patch = json.dumps({"spec": {"approvedPlanHash": plan_hash}})
    kube.kubectl("patch", "cleanuprun", run, "-n", namespace, "--type", "merge", "-p", patch)


def test_manual_approval_applies_the_approved_plan_and_skips_drifted_people(
    kube: Kube, namespace: str, seeded: Sandbox, operator: Path
) -> None:
    kube.apply(
        cleanuprule(
            "manual",
            namespace,
            annotations=run_now(),
            dryRun=False,
            match={"slackAccount": ["deactivated"]},
            actions=["removeFromPagerDutyTeams"],
            notify={"channel": "C0OPS0001"},
        )
    )
    run = finished_run(kube, namespace, "AwaitingApproval")
    name, plan_hash = run["metadata"]["name"], run["status"]["planHash"]
    assert {k: v[1] for k, v in people(run).items() if v[1] != "-"} == {"PGONE01": "t0", "PGONE02": "t0"}
    assert writes(seeded.requests()) == [("chat.postMessage", "C0OPS0001", 200)]  # "awaiting approval"
    # Drift before the approval: Gone2 is back in Slack, so no longer matches.
    seeded.control("POST", "slack/users/UGONE02", {"deleted": False})
    refused = cli(kube, seeded, "approve", name, "-n", namespace, "--hash", "sha256:" + "0" * 64, check=False)
    assert refused.returncode == 1 and "is not the plan hash" in refused.stderr
    cli(kube, seeded, "approve", name, "-n", namespace, "--hash", plan_hash)
    done = finished_run(kube, namespace, "Completed")["status"]
    assert [(m, t) for m, t, _ in writes(seeded.requests()) if m != "chat.postMessage"] == [
        ("DELETE /teams/{id}/users/{user_id}", "PTEAM01")
    ]
    team = [
        m["user"]["id"]
        for m in seeded.server.pagerduty_client(scenario.PD_TOKEN).rget("/teams/PTEAM01/members")
    ]
    assert "PGONE01" not in team and "PGONE02" in team
    assert done["counts"]["applied"] == 1 and done["counts"]["skipped"] == 1 and done["reason"] == "Applied"
    messages = wait_for(
        lambda: (
            (texts := [m["text"] for m in seeded.control("GET", "slack/messages?channel=C0OPS0001")])[1:]
            and texts
        ),
        what="the run's summary",
    )
    assert len(messages) == 2 and "AwaitingApproval" in messages[0] and "Completed" in messages[1]
    assert all("@" not in text for text in messages), "summaries carry no emails"
    # An approval is final: changing it is refused at admission.
    changed = kube.kubectl(
        "patch",
        "cleanuprun",
        name,
        "-n",
        namespace,
        "--type",
        "merge",
        "-p",
        json.dumps({"spec": {"approvedPlanHash": "sha256:" + "1" * 64}}),
        check=False,
    )
    assert changed.returncode != 0 and "an approval cannot be changed" in changed.stderr


def test_a_stale_hash_is_refused_and_nothing_changes(
    kube: Kube, namespace: str, seeded: Sandbox, operator: Path
) -> None:
    kube.apply(cleanuprule("stale-hash", namespace, annotations=run_now(), dryRun=False))
    run = finished_run(kube, namespace, "AwaitingApproval")
    approve(kube, namespace, run["metadata"]["name"], "sha256:" + "ab" * 32)
    refused = finished_run(kube, namespace, "Refused")["status"]
    assert refused["reason"] == "StalePlanHash" and "nothing was changed" in refused["message"]
    assert writes(seeded.requests()) == []
    rule_edit = kube.kubectl(
        "patch",
        "cleanuprun",
        run["metadata"]["name"],
        "-n",
        namespace,
        "--type",
        "merge",
        "-p",
        json.dumps({"spec": {"rule": {"dryRun": True}}}),
        check=False,
    )
    assert rule_edit.returncode != 0 and "only spec.approvedPlanHash can be set" in rule_edit.stderr


def test_caps_abort_before_any_change_and_keep_the_plan(
    kube: Kube, namespace: str, seeded: Sandbox, operator: Path
) -> None:
    kube.apply(
        cleanuprule(
            "capped",
            namespace,
            annotations=run_now(),
            dryRun=False,
            approval="automatic",
            safety={"maxAffected": 2, "maxAffectedPercent": 100},
        )
    )
    aborted = finished_run(kube, namespace, "Aborted")["status"]
    assert aborted["reason"] == "MaxAffectedExceeded" and "3 people" in aborted["message"]
    assert aborted["counts"]["affected"] == 3 and len(aborted["items"]) == 4 and aborted["planHash"]
    assert writes(seeded.requests()) == []


def test_cleanup_show_resolves_names_and_emails_live(
    kube: Kube, namespace: str, seeded: Sandbox, operator: Path
) -> None:
    kube.apply(cleanuprule("show", namespace, annotations=run_now(), dryRun=False, approval="automatic"))
    name = finished_run(kube, namespace, "Completed", timeout=90)["metadata"]["name"]
    table = cli(kube, seeded, "show", name, "-n", namespace).stdout
    assert table.splitlines()[0].split()[:3] == ["PAGERDUTY", "USER", "SLACK"]
    assert "gone2@example.test" in table and "OpenIncidents" in table and "protected (on call)" in table
    # PGONE01 is deleted in PagerDuty now: its email comes from Slack, where the account remains.
    rows = json.loads(cli(kube, seeded, "show", name, "-n", namespace, "--format", "json").stdout)
    gone = [r for r in rows if r["pagerduty_user"] == "PGONE01"]
    assert {r["action"] for r in gone} == {
        "removeFromPagerDutySchedule",
        "removeFromPagerDutyTeam",
        "deletePagerDutyUser",
    }
    assert all(r["email"] == "gone1@example.test" and r["state"] == "done" for r in gone)
    assert {r["target_name"] for r in gone if r["target"]} == {"extra", "Team"}
    csv_text = cli(kube, seeded, "show", name, "-n", namespace, "--format", "csv").stdout
    assert csv_text.splitlines()[0].startswith("pagerduty_user,slack_user,name,email")
    stored = json.dumps(kube.get("cleanuprun", name, namespace))
    assert "example.test" not in stored, "names and emails are looked up, never stored"


def test_cleanup_run_verb_starts_a_run(kube: Kube, namespace: str, seeded: Sandbox, operator: Path) -> None:
    kube.apply(cleanuprule("ondemand", namespace))
    out = cli(kube, seeded, "run", "ondemand", "-n", namespace).stdout
    assert out.startswith("cleanuprun/ondemand-now-")
    assert finished_run(kube, namespace, "Planned")["spec"]["trigger"] == "onDemand"
    missing = cli(kube, seeded, "run", "nope", "-n", namespace, check=False)
    assert missing.returncode == 1 and "no CleanupRule nope" in missing.stderr


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"match": {}}, "an empty match would match everyone"),
        ({"actions": ["removeFromEverything"]}, "Unsupported value"),
        ({"match": {"emailDomains": {"in": ["a.test"], "notIn": ["a.test"]}}}, "both in `in` and in `notIn`"),
        (
            {"match": {"pagerDuty": {"teams": ["PTEAM01"]}}, "exclude": {"pagerDutyTeams": ["PTEAM01"]}},
            "both matched (match.pagerDuty.teams) and excluded",
        ),
        ({"schedule": "every monday"}, "spec.schedule"),
        ({"startingDeadline": "0s"}, "must be a duration"),
    ],
)
def test_invalid_specs_are_rejected_at_admission(
    kube: Kube, namespace: str, spec: dict[str, Any], message: str
) -> None:
    result = kube.kubectl(
        "apply", "-f", "-", input=json.dumps(cleanuprule("bad", namespace, **spec)), check=False
    )
    assert result.returncode != 0 and message in result.stderr, result.stderr


def test_what_admission_cannot_check_is_a_condition_naming_the_field(
    kube: Kube, namespace: str, operator: Path
) -> None:
    kube.apply(cleanuprule("badcron", namespace, schedule="61 3 * * *", timeZone="Mars/Olympus"))

    def ready() -> dict[str, Any] | None:
        conditions = kube.get("cleanuprule", "badcron", namespace).get("status", {}).get("conditions", [])
        return next((c for c in conditions if c["type"] == "Ready" and c["reason"] == "InvalidSpec"), None)

    condition = wait_for(ready, what="InvalidSpec")
    assert "spec.schedule" in condition["message"] and "spec.timeZone" in condition["message"]
    assert runs(kube, namespace) == []


@pytest.mark.contract
def test_cleanup_traffic_matches_the_official_specs(
    kube: Kube, namespace: str, seeded: Sandbox, operator: Path, specs_dir: Path
) -> None:
    """Listings, edits, deletions, access logs and summaries, against the vendors' specs."""
    from oncall_sandbox.contract import validate_exchanges
    from support.cleanup import SLACK_ADMIN_TOKEN, credential_secret

    login = {
        "user_id": "ULEAD",
        "date_first": "2026-03-01T10:00:00+00:00",
        "date_last": "2026-03-01T10:00:00+00:00",
        "count": 1,
    }
    seeded.control("POST", "load", cleanup_seed(access_logs=[login]))
    control = seeded.server.control
    control.record_exchanges(True)
    credential_secret(kube, namespace, "slack-admin", "token", SLACK_ADMIN_TOKEN)
    slack = {
        "tokenSecretRef": {"name": "slack", "key": "bot-token"},
        "accessLogsTokenSecretRef": {"name": "slack-admin", "key": "token"},
    }
    common: dict[str, Any] = {"annotations": run_now(), "dryRun": False, "approval": "automatic"}
    kube.apply(
        cleanuprule(
            "contractors",
            namespace,
            slack=slack,
            match={"inactiveForDays": 30, "emailDomains": {"notIn": ["example.test"]}},
            **common,
        )
    )
    # One rule notifies: two summaries in one second would meet Slack's 1/s per channel, and the 2021
    # spec's chat.postMessage errors lack the `ratelimited` Slack answers a 429 with.
    notify = {"channel": "C0OPS0001"}
    kube.apply(
        cleanuprule("offboarded", namespace, protection={"allowOnCall": True}, notify=notify, **common)
    )
    wait_for(
        lambda: (
            [(r.get("status") or {}).get("phase") for r in runs(kube, namespace)]
            == ["Completed", "Completed"]
        ),
        timeout=120,
        what="both runs completed",
    )
    exchanges = control.exchanges()
    methods = {e["method"] for e in exchanges}
    assert {
        "users.list",
        "usergroups.list",
        "team.accessLogs",
        "usergroups.users.list",
        "usergroups.users.update",
        "GET /users",
        "GET /schedules",
        "GET /escalation_policies",
        "GET /schedules/{id}",
        "PUT /schedules/{id}",
        "GET /escalation_policies/{id}",
        "PUT /escalation_policies/{id}",
        "DELETE /teams/{id}/users/{user_id}",
        "DELETE /users/{id}",
    } <= methods, methods
    violations = validate_exchanges(exchanges, specs_dir)
    assert not violations, "\n".join(map(str, violations))


def test_a_rule_has_ready_series_and_loses_them_when_deleted(
    kube: Kube, namespace: str, seeded: Sandbox, tmp_path: Path
) -> None:
    import urllib.request

    from oncall_devkit.localcluster import free_port
    from support.kube import operator_process
    from support.oncall import create_token_secrets

    create_token_secrets(kube, namespace)
    port = free_port()

    def scrape() -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                text: str = response.read().decode()
        except OSError:
            return ""  # not serving yet
        return text

    ready = f'oncall_operator_resource_ready{{kind="CleanupRule",name="metered",namespace="{namespace}"}} 1.0'
    success = f'oncall_operator_last_success_timestamp_seconds{{kind="CleanupRule",name="metered",namespace="{namespace}"}}'
    with operator_process(
        kube,
        "-n",
        namespace,
        "--metrics-port",
        str(port),
        env=seeded.server.operator_env(),
        log_path=tmp_path / "op.log",
    ):
        kube.apply(cleanuprule("metered", namespace))
        wait_for(
            lambda: any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in kube.get("cleanuprule", "metered", namespace).get("status", {}).get("conditions", [])
            ),
            what="the rule Ready",
        )
        text = wait_for(lambda: (page := scrape()) and ready in page and page, what="the rule's ready series")
        assert success in text
        kube.kubectl("delete", "cleanuprule", "metered", "-n", namespace, "--timeout=60s")
        wait_for(lambda: 'name="metered"' not in scrape() or None, what="the rule's series gone")
