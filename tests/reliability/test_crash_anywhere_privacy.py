"""Crash anywhere, the privacy kinds: the operator SIGKILLed at seeded random points of a retention prune
of a few hundred records and of an erasure (operator data, Slack groups, the PagerDuty user). After each
restart the prune converges to exactly the records within the limits, and the erasure completes with
each external write landed once; no finalizer is dropped while work is pending.

The number of seeds is ONCALL_RELIABILITY_SEEDS (2 in `make test`, 20 in `make test-long`).
"""

from __future__ import annotations

import json
import random
import secrets
import time
from collections import Counter
from typing import Any

import pytest

from support import scenario
from support.crash import (
    EVENTS,
    EXTERNAL_WRITES,
    FINISHED_RUNS,
    RECEIPTS,
    SUBJECT_EMAIL,
    SUBJECT_PAGERDUTY,
    SUBJECT_SLACK,
    UNDER_WAY,
    Store,
    api,
    retention_policy,
    seed_store,
    seed_subject_data,
    survivors,
)
from support.kube import Kube, wait_for
from support.oncall import Sandbox, create_token_secrets, oncallsync, wait_condition
from support.privacy import ERASURE_FINALIZER, deletion_request, event, subject_secret
from support.reliability import CRASH_ENV, seeds

pytestmark = pytest.mark.cluster
DEAD = "http://127.0.0.1:9"  # the prune talks to neither service
# Seconds of random sliver after k external writes were logged: with k=0 it spans the pick-up, the
# subject's lookup, the operator-data erasure and the first (0.3 s) write; with 1, the second write;
# with 2, the re-scan, the Secret's deletion and the final receipt.
SLIVER = {0: 1.2, 1: 0.45, 2: 0.45, 3: 0.2}


def test_killed_anywhere_in_a_retention_prune_exactly_the_records_past_the_limits_go(
    kube: Kube, operators: Any, figures: dict[str, str]
) -> None:
    ops = kube.create_namespace()  # the operator's own: the policy below is not cluster-wide
    client = api(kube)
    worst, report = 0.0, []
    for seed in seeds(2):
        rng = random.Random(2000 + seed)
        namespace = kube.create_namespace()
        store = seed_store(kube, namespace)
        doomed = store.doomed()
        total = sum(doomed.values())
        env = {"ONCALL_OPERATOR_NAMESPACE": ops, "ONCALL_SLACK_URL": DEAD, "ONCALL_PAGERDUTY_URL": DEAD}
        operator = operators("-n", namespace, "-n", ops, env=env).start()
        wait_for(
            lambda: set(store.under_way) <= set(finalized(kube, namespace)),  # noqa: B023
            timeout=90,
            what="the operator holds every run under way",
        )
        kube.apply(retention_policy("prune", namespace))
        # Kill after k of the pass's deletions reached the API server (by listing), plus a random sliver:
        # anywhere from before the first deletion to after the status patch.
        k = rng.randint(0, total)
        wait_for(
            lambda: survivors(client, namespace).deleted(store) >= k,  # noqa: B023
            timeout=120,
            interval=0.01,
            what=f"{k} deletions",
        )
        time.sleep(rng.uniform(0, 0.3))
        operator.kill()
        time.sleep(0.3)  # a deletion the dead process sent has landed or never will
        at_kill = survivors(client, namespace)
        assert set(store.under_way) <= at_kill.runs, "a run under way was pruned"
        assert not (set(store.under_way) - set(finalized(kube, namespace))), "a finalizer was dropped"
        counted = (kube.get("retentionpolicy", "prune", namespace).get("status") or {}).get("pruned") or {}
        began = time.monotonic()
        operator.start()

        def converged(namespace: str = namespace, store: Store = store) -> dict[str, Any] | None:
            left = survivors(client, namespace)
            if left.being_deleted or left.runs != store.kept_runs or left.receipts != store.kept_receipts:
                return None
            if left.events & store.stale_events or not store.fresh_events <= left.events:
                return None
            status = kube.get("retentionpolicy", "prune", namespace).get("status") or {}
            ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})
            return status if ready.get("status") == "True" and status.get("oldest") else None

        status = wait_for(converged, timeout=150, what=f"seed {seed}: the prune converged")
        took = time.monotonic() - began
        worst = max(worst, took)
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        assert ready["reason"] == "Pruned", ready
        assert status["oldest"]["cleanupRuns"] == store.oldest_run()
        assert status["oldest"]["deletionReceipts"] == store.oldest_receipt()
        # The tally is exact: the restarted pass settles the batch the killed one recorded (status.pruning)
        # and counts each deletion once, whether it landed before the kill or after.
        assert {d: n for d, n in status["pruned"].items() if n} == doomed, (seed, status["pruned"], counted)
        assert not status.get("pruning"), status
        report.append(
            f"seed {seed}: k={k} killed after {at_kill.deleted(store)} of {total} deletions "
            f"({sum(counted.values())} counted then), converged in {took:.1f}s"
        )
        operator.stop()
    client.close()
    seeded = FINISHED_RUNS + UNDER_WAY + RECEIPTS + EVENTS
    figures[f"retention prune kill ({total} of {seeded} records pruned)"] = (
        f"{len(report)} seeds, worst convergence after restart {worst:.1f}s\n    " + "\n    ".join(report)
    )


def finalized(kube: Kube, namespace: str) -> list[str]:
    """CleanupRuns holding the operator's finalizer."""
    items = json.loads(kube.kubectl("get", "cleanupruns", "-n", namespace, "-o", "json").stdout)["items"]
    return [i["metadata"]["name"] for i in items if i["metadata"].get("finalizers")]


def test_killed_anywhere_in_an_erasure_it_completes_and_each_external_write_lands_once(
    kube: Kube, sandbox: Sandbox, operators: Any, figures: dict[str, str]
) -> None:
    worst, report = 0.0, []
    for seed in seeds(2):
        rng = random.Random(3000 + seed)
        namespace = kube.create_namespace()
        key = secrets.token_urlsafe(32)
        kube.kubectl(
            "create", "secret", "generic", "oncall-operator-subject-key", "-n", namespace,
            f"--from-literal=key={key}",
        )  # fmt: skip
        create_token_secrets(kube, namespace)
        seed_subject_data(kube, namespace, key.encode())
        sandbox.control("POST", "load", scenario.seed())
        env = {**sandbox.server.operator_env(), **CRASH_ENV, "ONCALL_OPERATOR_NAMESPACE": namespace}
        operator = operators("-n", namespace, env=env).start()
        # A group holding the subject (and ULEAD: Slack refuses to empty a group), then suspended, so
        # every group write below is the request's.
        kube.apply(oncallsync("oncall", namespace, slack={"alwaysInclude": ["ULEAD"]}))
        wait_condition(kube, "oncall", namespace, "Ready", "True")
        assert sandbox.members("oncall") == [SUBJECT_SLACK, "ULEAD"]
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
        for method in EXTERNAL_WRITES:  # in flight long enough for some kills to land inside a write
            api_name = "slack" if "." in method else "pagerduty"
            sandbox.control(
                "POST",
                "faults",
                {"api": api_name, "method": method, "kind": "latency", "latency_seconds": 0.3},
            )
        sandbox.control("DELETE", "requests")
        subject_secret(kube, namespace, "subject", SUBJECT_EMAIL)
        scope = ["operatorData", "slackUserGroups", "pagerDuty"]
        kube.apply(deletion_request("erase", namespace, "subject", mode="Erase", scope=scope))
        # Kill after k of the three external writes reached the sandbox, plus a random sliver: before the
        # operator-data erasure, within it, inside any write, or after all.
        k = rng.randint(0, len(EXTERNAL_WRITES))
        wait_for(
            lambda: len(external(sandbox)) >= k,  # noqa: B023
            timeout=90,
            interval=0.02,
            what=f"{k} external writes",
        )
        time.sleep(rng.uniform(0, SLIVER[k]))
        operator.kill()
        at_kill = kube.get("deletionrequest", "erase", namespace)
        phase = (at_kill.get("status") or {}).get("phase", "Pending")
        actions = ",".join(a["state"] for a in (at_kill.get("status") or {}).get("external") or []) or "-"
        if phase == "Running":
            assert ERASURE_FINALIZER in at_kill["metadata"].get("finalizers", []), "finalizer dropped"
        writes_at_kill = len(external(sandbox))
        # A record naming the person by PagerDuty id alone, written while the erasure was unfinished: the
        # resumed erasure must still know that id, although the PagerDuty user may be deleted by now
        # and the subject Secret holds only the email (status.resolved keeps the id).
        unfinished = (at_kill.get("status") or {}).get("verified") is None
        if unfinished:
            event(kube, namespace, "about-pagerduty-id", f"removed {SUBJECT_PAGERDUTY} from PSCHEDA")
        began = time.monotonic()
        operator.start()

        def finished(namespace: str = namespace) -> dict[str, Any] | None:
            found = kube.get("deletionrequest", "erase", namespace)
            return found if (found.get("status") or {}).get("phase") in ("Completed", "Failed") else None

        receipt = wait_for(finished, timeout=150, what=f"seed {seed}: the erasure finished")
        took = time.monotonic() - began
        worst = max(worst, took)
        status = receipt["status"]
        assert status["phase"] == "Completed" and status["verified"] is True, (seed, json.dumps(status))
        assert status["remaining"] == 0 and status["subjectSecretDeleted"] is True, (seed, status)
        wait_for(
            lambda: (
                ERASURE_FINALIZER
                not in kube.get("deletionrequest", "erase", namespace)["metadata"].get(  # noqa: B023
                    "finalizers", []
                )
            ),
            timeout=30,
            what="the finalizer released",
        )
        # Each external mutation landed once; a write resent after the kill found it done (a 404 delete).
        sent = external(sandbox)
        landed = Counter(r["method"] for r in sent if 200 <= r["status"] < 300)
        assert landed == Counter(EXTERNAL_WRITES), (seed, [(r["method"], r["status"]) for r in sent])
        assert Counter(r["method"] for r in sent)["usergroups.users.update"] == 1, (seed, sent)
        assert sandbox.members("oncall") == ["ULEAD"]
        deleted = {u["id"] for u in sandbox.control("GET", "pagerduty/deleted_users")}
        assert SUBJECT_PAGERDUTY in deleted
        states = {a["target"].split("/")[0]: a["state"] for a in status["external"]}
        assert set(states) == {"slackUserGroup", "pagerDutySchedule", "pagerDutyUser"}, status["external"]
        assert set(states.values()) <= {"done", "alreadyDone"}, (seed, status["external"])
        text = json.dumps(receipt)
        assert "paaa" not in text and SUBJECT_EMAIL not in text, "the receipt names the person"
        assert "resolved" not in status, "the kept ids outlived the request"
        if unfinished:
            left = kube.kubectl("get", "events", "-n", namespace, "-o", "name").stdout
            assert "about-pagerduty-id" not in left, (seed, phase, actions, "a PagerDuty-id-only record kept")
        run_items = kube.get("cleanuprun", "run-a", namespace)["status"]["items"]
        assert not any(SUBJECT_SLACK in line for line in run_items), run_items
        report.append(
            f"seed {seed}: k={k} killed in phase {phase} (external: {actions}) after {writes_at_kill} "
            f"external writes, "
            f"completed in {took:.1f}s"
        )
        operator.stop()
        sandbox.control("DELETE", "faults")
    figures["erasure kill (operator data, Slack group, PagerDuty user)"] = (
        f"{len(report)} seeds, worst completion after restart {worst:.1f}s\n    " + "\n    ".join(report)
    )


def external(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [r for r in sandbox.requests() if r["method"] in EXTERNAL_WRITES]
