"""CleanupRule scheduling end to end: cron slots on the sandbox's clock, one catch-up run after
downtime, one run per slot with two operators, history limits, and cascading deletion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cleanup import finished_run, runs

from support.cleanup import cleanup_seed, cleanuprule, run_now
from support.kube import Kube, operator_process, wait_for
from support.oncall import Sandbox, create_token_secrets

pytestmark = pytest.mark.cluster


def minutes(moment: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(moment).timestamp()) // 60


def rule_status(kube: Kube, namespace: str, name: str) -> dict[str, object]:
    status: dict[str, object] = kube.get("cleanuprule", name, namespace).get("status", {})
    return status


def test_runs_come_at_the_cron_slot_in_the_rules_time_zone(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    sandbox.control("POST", "load", cleanup_seed())
    sandbox.set_clock("2026-03-02T09:00:00+00:00")
    # 11:00 in Berlin is 10:00 UTC.
    kube.apply(cleanuprule("cron", namespace, schedule="0 11 * * *", timeZone="Europe/Berlin"))
    wait_for(
        lambda: rule_status(kube, namespace, "cron").get("nextRunTime") == "2026-03-02T10:00:00Z",
        what="nextRunTime",
    )
    assert runs(kube, namespace) == []
    sandbox.set_clock("2026-03-02T09:59:58+00:00")
    run = finished_run(kube, namespace, "Planned", timeout=30)
    assert run["metadata"]["name"] == f"cron-{minutes('2026-03-02T10:00:00+00:00')}"
    assert run["spec"]["trigger"] == "schedule" and run["spec"]["scheduledTime"] == "2026-03-02T10:00:00Z"
    wait_for(
        lambda: rule_status(kube, namespace, "cron").get("nextRunTime") == "2026-03-03T10:00:00Z",
        what="the next slot",
    )


def test_slots_missed_while_the_operator_was_down_give_one_catch_up_run(
    kube: Kube, namespace: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.control("POST", "load", cleanup_seed())
    sandbox.set_clock("2026-03-02T09:10:00+00:00")
    create_token_secrets(kube, namespace)
    env = sandbox.server.operator_env()
    kube.apply(cleanuprule("hourly", namespace, schedule="0 * * * *", startingDeadline="2h"))
    with operator_process(kube, "-n", namespace, env=env, log_path=tmp_path / "first.log"):
        wait_for(lambda: rule_status(kube, namespace, "hourly").get("nextRunTime"), what="scheduled")
    # Down for five slots (10:00 ... 14:00); back at 14:20.
    sandbox.set_clock("2026-03-02T14:20:00+00:00")
    with operator_process(kube, "-n", namespace, env=env, log_path=tmp_path / "second.log"):
        run = finished_run(kube, namespace, "Planned")
        wait_for(
            lambda: rule_status(kube, namespace, "hourly").get("lastScheduleTime") == "2026-03-02T14:00:00Z",
            what="handled",
        )
    assert [r["metadata"]["name"] for r in runs(kube, namespace)] == [
        f"hourly-{minutes('2026-03-02T14:00:00+00:00')}"
    ]
    assert run["spec"]["trigger"] == "catchUp"


def test_two_operators_make_one_run_per_slot(
    kube: Kube, namespace: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.control("POST", "load", cleanup_seed())
    sandbox.set_clock("2026-03-02T09:58:00+00:00")
    create_token_secrets(kube, namespace)
    env = sandbox.server.operator_env()
    kube.apply(cleanuprule("twice", namespace, schedule="0 * * * *"))
    with (
        operator_process(kube, "-n", namespace, env=env, log_path=tmp_path / "a.log"),
        operator_process(kube, "-n", namespace, env=env, log_path=tmp_path / "b.log"),
    ):
        wait_for(lambda: rule_status(kube, namespace, "twice").get("nextRunTime"), what="scheduled")
        sandbox.set_clock("2026-03-02T09:59:59+00:00")
        finished_run(kube, namespace, "Planned")
        wait_for(
            lambda: rule_status(kube, namespace, "twice").get("nextRunTime") == "2026-03-02T11:00:00Z",
            what="moved on",
        )
    assert len(runs(kube, namespace)) == 1


def test_history_is_pruned_and_deleting_the_rule_deletes_its_runs(
    kube: Kube, namespace: str, sandbox: Sandbox, operator: Path
) -> None:
    sandbox.control("POST", "load", cleanup_seed())

    def planned(count: int) -> bool:
        found = runs(kube, namespace)
        return len(found) == count and all((r.get("status") or {}).get("phase") == "Planned" for r in found)

    for count, value in enumerate(("a", "b", "c"), start=1):
        kube.apply(cleanuprule("history", namespace, annotations=run_now(value), runsHistoryLimit=2))
        wait_for(lambda count=count: planned(min(count, 2)) or count == 3, what=f"run {value} planned")
    wait_for(
        lambda: len(rule_status(kube, namespace, "history").get("countedRuns") or []) == 3, what="3 counted"
    )
    wait_for(lambda: planned(2), what="the oldest run pruned")
    status = rule_status(kube, namespace, "history")
    assert json.loads(json.dumps(status["totals"]))["runs"] == 3
    assert len(json.loads(json.dumps(status["lastRuns"]))) == 2
    kube.kubectl("delete", "cleanuprule", "history", "-n", namespace)
    wait_for(
        lambda: runs(kube, namespace) == [],
        timeout=60,
        what="runs deleted with their rule (garbage collector)",
    )
