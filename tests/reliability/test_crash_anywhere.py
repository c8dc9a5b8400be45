"""Crash anywhere: the operator SIGKILLed at seeded random points of a 32-group burst handoff and of a
cleanup apply. After each restart everything converges, every run completes, and the sandbox's
request log shows each external write and each message exactly once; no finalizer is dropped. A
removal still in flight when the operator dies lands once: the restarted one waits it out.

The number of seeds is ONCALL_RELIABILITY_SEEDS (2 in `make test`, 20 in `make test-long`).
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from support import scenario
from support.cleanup import cleanup_seed, offboarding_now, writes
from support.kube import Kube, wait_for
from support.oncall import Sandbox, create_token_secrets
from support.reliability import (
    CRASH_ENV,
    GROUPS,
    assert_burst_wrote_once,
    burst_converged,
    burst_writes,
    finalizers_kept,
    group_state,
    handoff_messages,
    seeds,
    start_burst,
)

pytestmark = pytest.mark.cluster


def test_killed_anywhere_in_a_burst_handoff_every_group_converges_and_each_write_lands_once(
    kube: Kube, namespace: str, sandbox: Sandbox, operators: Any, figures: dict[str, str]
) -> None:
    operator = start_burst(kube, namespace, sandbox, operators)
    worst, report = 0.0, []
    for iteration, seed in enumerate(seeds(2)):
        rng = random.Random(seed)
        hour = 10 + iteration  # one handoff per seed: 10:00, 11:00, ... (the rotation is hourly)
        before = group_state(sandbox)
        messages_before = handoff_messages(sandbox)
        sandbox.control("DELETE", "requests")
        # Kill after k of the burst's 2 x GROUPS writes (group updates and messages) have reached the
        # sandbox, plus a random sliver: anywhere from before the first write to after the last.
        k = rng.randint(0, 2 * GROUPS)
        sandbox.set_clock((scenario.START + timedelta(hours=hour - 9, seconds=-1)).isoformat())

        wait_for(lambda: burst_writes(sandbox) >= k or k == 0, timeout=90, interval=0.02, what=f"{k} writes")  # noqa: B023
        time.sleep(rng.uniform(0, 0.3))
        operator.kill()
        at_kill = burst_writes(sandbox)
        assert finalizers_kept(kube, "oncallsyncs", namespace) == [], "a finalizer was dropped"
        began = time.monotonic()
        operator.start()
        wait_for(
            lambda: burst_converged(kube, sandbox, namespace, hour, iteration + 1),  # noqa: B023
            timeout=180,
            what=f"seed {seed}: every group at hour {hour}",
        )
        took = time.monotonic() - began
        worst = max(worst, took)
        report.append(f"seed {seed}: k={k} killed after {at_kill} writes, converged in {took:.1f}s")
        assert_burst_wrote_once(sandbox, before, messages_before)
    assert operator.alive(), operator.tail()
    figures["burst handoff kill (32 groups)"] = (
        f"{len(report)} seeds, worst convergence after restart {worst:.1f}s\n    " + "\n    ".join(report)
    )


def stale_people(count: int) -> list[dict[str, str]]:
    return [
        {"id": f"PSTAL{n:03d}", "name": f"stale {n}", "email": f"stale{n}@example.test"} for n in range(count)
    ]


def start_cleanup(
    kube: Kube, sandbox: Sandbox, operators: Any, stale: list[dict[str, str]], latency: float
) -> tuple[str, Any]:
    """A namespace whose CleanupRule removes `stale` from their team and deletes them (each write held
    `latency` seconds by the sandbox), and a started operator watching it."""
    namespace = kube.create_namespace()
    create_token_secrets(kube, namespace)
    sandbox.control(
        "POST", "load", cleanup_seed(extra_pagerduty_users=stale, team_members=[u["id"] for u in stale])
    )
    sandbox.control("DELETE", "faults")
    for method in ("DELETE /users/{id}", "DELETE /teams/{id}/users/{user_id}"):
        sandbox.control(
            "POST",
            "faults",
            {"api": "pagerduty", "method": method, "kind": "latency", "latency_seconds": latency},
        )
    sandbox.control("DELETE", "requests")
    operator = operators("-n", namespace, env={**sandbox.server.operator_env(), **CRASH_ENV}).start()
    kube.apply(offboarding_now(namespace))
    return namespace, operator


def cleanup_runs(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(
        kube.kubectl("get", "cleanupruns", "-n", namespace, "-o", "json").stdout
    )["items"]
    return items


def completed_run(kube: Kube, namespace: str) -> dict[str, Any] | None:
    done = [i for i in cleanup_runs(kube, namespace) if (i.get("status") or {}).get("phase") == "Completed"]
    return done[0] if done else None


def assert_each_change_landed_once(sandbox: Sandbox, stale: list[dict[str, str]], seed: int) -> None:
    deletes = [e for e in sandbox.requests() if e["method"].startswith("DELETE")]
    landed = Counter(e["path"] for e in deletes if 200 <= e["status"] < 300)
    assert len(landed) == 2 * len(stale) and set(landed.values()) == {1}, (seed, landed.most_common(3))
    sent = Counter(e["path"] for e in deletes)
    assert all(sent[path] == 1 for path in landed), (seed, [p for p in landed if sent[p] > 1])
    deleted = {u["id"] for u in sandbox.control("GET", "pagerduty/deleted_users")}
    assert deleted == {u["id"] for u in stale}


def test_killed_anywhere_in_a_cleanup_apply_every_change_lands_once_and_the_run_completes(
    kube: Kube, sandbox: Sandbox, operators: Any, figures: dict[str, str]
) -> None:
    stale = stale_people(16)
    worst, report = 0.0, []
    for seed in seeds(2):
        rng = random.Random(1000 + seed)
        namespace, operator = start_cleanup(kube, sandbox, operators, stale, latency=0.1)
        total = 2 * len(stale)
        k = rng.randint(0, total - 1)
        wait_for(lambda: len(writes(sandbox.requests())) >= k, timeout=90, interval=0.02, what=f"{k} writes")  # noqa: B023
        time.sleep(rng.uniform(0, 0.2))
        operator.kill()
        at_kill = len(writes(sandbox.requests()))
        assert finalizers_kept(kube, "cleanupruns", namespace) == [], "a finalizer was dropped"
        began = time.monotonic()
        operator.start()
        run = wait_for(
            lambda: completed_run(kube, namespace),  # noqa: B023
            timeout=150,
            what=f"seed {seed}: the run completed",
        )
        took = time.monotonic() - began
        worst = max(worst, took)
        report.append(f"seed {seed}: k={k} killed after {at_kill} writes, completed in {took:.1f}s")
        operator.stop()
        assert_each_change_landed_once(sandbox, stale, seed)
        counts = run["status"]["counts"]
        assert counts["applied"] + counts["skipped"] == total, (seed, counts)
    figures["cleanup apply kill (32 changes)"] = (
        f"{len(report)} seeds, worst completion after restart {worst:.1f}s\n    " + "\n    ".join(report)
    )


def test_a_removal_still_in_flight_when_the_operator_dies_is_not_sent_again(
    kube: Kube, sandbox: Sandbox, operators: Any
) -> None:
    """The sandbox holds each write 4 s. The operator is killed once its team removals are sent and
    restarted at once: a fresh look then would still find the people in the team and remove them a
    second time. The restarted operator looks only once its predecessor's writes can no longer be in
    flight (call deadline 5 s + 5 s after its start), finds them landed, and sends none again."""
    stale = stale_people(4)
    namespace, operator = start_cleanup(kube, sandbox, operators, stale, latency=4.0)

    def intent_recorded() -> bool:
        runs = cleanup_runs(kube, namespace)
        progress = ((runs[0].get("status") or {}).get("progress") or {}) if runs else {}
        return any("i" in letters for letters in progress.values())

    wait_for(intent_recorded, timeout=90, interval=0.05, what="the team removals' intent recorded")
    time.sleep(0.5)  # sent: the sandbox holds them
    operator.kill()
    assert writes(sandbox.requests()) == [], "a removal landed before the kill: nothing was in flight"
    operator.start()
    wait_for(lambda: completed_run(kube, namespace), timeout=150, what="the run completed")
    operator.stop()
    assert_each_change_landed_once(sandbox, stale, seed=0)
    assert "may still have in flight" in operator.tail(200_000)
