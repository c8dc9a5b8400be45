"""CleanupRule and CleanupRun end to end: the operator process, the real kube-apiserver, the sandbox."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from support.cleanup import cleanup_seed, cleanuprule, run_now, writes
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
