"""CleanupRun under trouble: killed mid-apply, a listing that breaks mid-way, 429/5xx storms, and a
workspace that cannot serve a condition; the e2e fixtures are the ones of test_cleanup.py."""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path

import pytest
from test_cleanup import finished_run, people

from support.cleanup import (
    SLACK_ADMIN_TOKEN,
    cleanup_seed,
    cleanuprule,
    credential_secret,
    offboarding_now,
    run_now,
    writes,
)
from support.kube import Kube, operator_process, wait_for
from support.oncall import Sandbox, create_token_secrets
from support.reliability import CRASH_ENV

pytestmark = pytest.mark.cluster


def stale_people(count: int) -> list[dict[str, str]]:
    return [
        {"id": f"PSTAL{n:03d}", "name": f"stale {n}", "email": f"stale{n}@example.test"} for n in range(count)
    ]


def test_killed_after_k_of_n_changes_resumes_and_makes_each_exactly_once(
    kube: Kube, namespace: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    stale = stale_people(24)
    sandbox.control(
        "POST", "load", cleanup_seed(extra_pagerduty_users=stale, team_members=[u["id"] for u in stale])
    )
    # Slow writes, so the kill lands with requests in flight (they still land, unseen by the operator).
    for method in ("DELETE /users/{id}", "DELETE /teams/{id}/users/{user_id}"):
        sandbox.control(
            "POST",
            "faults",
            {"api": "pagerduty", "method": method, "kind": "latency", "latency_seconds": 0.3},
        )
    sandbox.control("DELETE", "requests")
    create_token_secrets(kube, namespace)
    rule = offboarding_now(namespace)
    env = {**sandbox.server.operator_env(), **CRASH_ENV}  # the resumed run looks 10 s after the restart
    with operator_process(kube, "-n", namespace, env=env, log_path=tmp_path / "first.log") as first:
        kube.apply(rule)
        k = 20
        wait_for(lambda: len(writes(sandbox.requests())) >= k, timeout=90, what=f"{k} writes")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    killed_after = len(writes(sandbox.requests()))
    run = kube.get("cleanupruns", "kill-now-6b86b273ff", namespace)
    assert run["status"]["phase"] == "Applying", "killed mid-run"
    with operator_process(kube, "-n", namespace, env=env, log_path=tmp_path / "second.log"):
        done = finished_run(kube, namespace, "Completed", timeout=120)["status"]
    deletes = [e for e in sandbox.requests() if e["method"].startswith("DELETE")]
    landed = Counter(e["path"] for e in deletes if 200 <= e["status"] < 300)
    # 24 team removals and 24 deletions, each landed once and never sent again after it landed.
    assert len(landed) == 48 and set(landed.values()) == {1}, landed.most_common(3)
    assert all(Counter(e["path"] for e in deletes)[path] == 1 for path in landed)
    # PNOSLK1 is the only user of a layer: PagerDuty refuses to delete them. A refusal changes
    # nothing, so one recorded as intent when the operator died is checked, then asked again.
    assert {e["status"] for e in deletes if e["path"].endswith("/PNOSLK1")} == {400}
    assert killed_after < 48
    deleted = {u["id"] for u in sandbox.control("GET", "pagerduty/deleted_users")}
    assert deleted == {u["id"] for u in stale}
    assert done["counts"]["applied"] + done["counts"]["skipped"] == 48 and done["counts"]["needsPerson"] == 1


def test_a_5xx_in_the_middle_of_the_slack_user_listing_refuses_the_run(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    sandbox.control("POST", "load", cleanup_seed(generated_slack_users=2500))  # three pages of users.list
    sandbox.control(
        "POST",
        "faults",
        {"api": "slack", "method": "users.list", "kind": "status", "status": 503, "after_requests": 1},
    )
    sandbox.control("DELETE", "requests")
    kube.apply(cleanuprule("broken", namespace, annotations=run_now(), dryRun=False, approval="automatic"))
    refused = finished_run(kube, namespace, "Refused", timeout=90)["status"]
    assert refused["reason"] == "IncompleteListing" and "users.list" in refused["message"]
    assert refused["items"] == [] and writes(sandbox.requests()) == []
    pages = [e for e in sandbox.requests() if e["method"] == "users.list"]
    assert pages[0]["status"] == 200 and {e["status"] for e in pages[1:]} == {503}


def test_429_and_5xx_storms_are_waited_out_and_every_change_lands_once(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    sandbox.control("POST", "load", cleanup_seed())
    for fault in (
        {"api": "pagerduty", "method": "*", "kind": "error_rate", "status": 503, "rate": 0.25},
        {"api": "pagerduty", "method": "*", "kind": "rate_limit", "rate": 0.15, "retry_after": 1},
        {"api": "slack", "method": "*", "kind": "error_rate", "status": 503, "rate": 0.25},
        {"api": "slack", "method": "*", "kind": "rate_limit", "rate": 0.15, "retry_after": 1},
    ):
        sandbox.control("POST", "faults", fault)
    sandbox.control("DELETE", "requests")
    kube.apply(
        cleanuprule(
            "storm",
            namespace,
            annotations=run_now(),
            dryRun=False,
            approval="automatic",
            match={"emailDomains": {"notIn": ["example.test"]}},
        )
    )
    done = finished_run(kube, namespace, "Completed", timeout=180)["status"]
    landed = Counter((m, t) for m, t, status in writes(sandbox.requests()) if 200 <= status < 300)
    assert landed == Counter(
        {
            ("usergroups.users.update", "S0STAFF01"): 1,
            ("usergroups.users.update", "S0VENDOR1"): 1,
            ("DELETE /teams/{id}/users/{user_id}", "PTEAM01"): 1,
            ("DELETE /users/{id}", "PCONTR1"): 1,
        }
    )
    assert done["reason"] == "Applied" and done["counts"]["applied"] == 4
    failed_attempts = [w for w in writes(sandbox.requests()) if w[2] >= 429]
    assert failed_attempts, "the storm reached the writes"


def test_inactive_for_days_without_access_logs_is_unsupported(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    sandbox.control("POST", "load", cleanup_seed(access_logs_plans=["enterprise"]))  # the workspace is on pro
    credential_secret(kube, namespace, "slack-admin", "token", SLACK_ADMIN_TOKEN)
    admin = {
        "tokenSecretRef": {"name": "slack", "key": "bot-token"},
        "accessLogsTokenSecretRef": {"name": "slack-admin", "key": "token"},
    }
    kube.apply(
        cleanuprule("inactive", namespace, annotations=run_now(), slack=admin, match={"inactiveForDays": 90})
    )
    refused = finished_run(kube, namespace, "Refused")["status"]
    assert refused["reason"] == "Unsupported" and "paid plan" in refused["message"]

    def unsupported() -> dict[str, str] | None:
        conditions = kube.get("cleanuprule", "inactive", namespace).get("status", {}).get("conditions", [])
        return next((c for c in conditions if c["type"] == "Unsupported" and c["status"] == "True"), None)

    assert "PlanUpgradeRequired" in wait_for(unsupported, what="Unsupported=True")["message"]


def test_inactive_for_days_reads_the_access_logs(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    recent, old = "2026-03-01T10:00:00+00:00", "2025-10-01T10:00:00+00:00"
    logins = [
        {"user_id": user, "date_first": when, "date_last": when, "count": 3}
        for user, when in (
            ("ULEAD", recent),
            ("UAAA", recent),
            ("UBBB", recent),
            ("UCCC", recent),
            ("UCONTR1", old),
        )
    ]
    sandbox.control("POST", "load", cleanup_seed(access_logs=logins))
    credential_secret(kube, namespace, "slack-admin", "token", SLACK_ADMIN_TOKEN)
    admin = {
        "tokenSecretRef": {"name": "slack", "key": "bot-token"},
        "accessLogsTokenSecretRef": {"name": "slack-admin", "key": "token"},
    }
    kube.apply(
        cleanuprule("inactive", namespace, annotations=run_now(), slack=admin, match={"inactiveForDays": 90})
    )
    planned = finished_run(kube, namespace, "Planned")
    assert {who: reasons for who, (reasons, _) in people(planned).items()} == {
        "PGONE01": "I",
        "PGONE02": "I",
        "PNOSLK1": "I",
        "PCONTR1": "I",
        "PONCALL": "Ip",
    }
