"""Seeding for the crash-anywhere privacy scenarios: a large retention store, written through the API
client (hundreds of objects with status in seconds, not one kubectl call each), and its expected survivors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import kubernetes

from support.cleanup import rule_body
from support.kube import Kube
from support.privacy import GROUP, deletion_request

API_GROUP, API_VERSION = GROUP.split("/")
OPERATOR = "oncall-operator"

# The store: finished runs of three rules, 50 minutes apart (8+ days), runs still under way whose
# completionTime is long past (only their phase protects them), receipts a day apart, stale and fresh Events.
RULES = ("alpha", "beta", "gamma")
FINISHED_RUNS, UNDER_WAY, RECEIPTS, EVENTS = 240, 6, 30, 40
RUN_SPACING = timedelta(minutes=50)
MAX_RUNS, MAX_RUN_AGE, MAX_RECEIPT_AGE, MAX_EVENT_AGE = 60, "7d", "20d", "1h"


def api(kube: Kube) -> kubernetes.client.ApiClient:
    return kubernetes.config.new_client_from_config(config_file=str(kube.kubeconfig))


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Store:
    """What was seeded in one namespace and what a pass under `retention_policy` must leave."""

    namespace: str
    runs: dict[str, str] = field(default_factory=dict)  # name -> completionTime (finished runs)
    under_way: dict[str, str] = field(default_factory=dict)  # name -> a completionTime long past
    receipts: dict[str, str] = field(default_factory=dict)  # name -> completedAt
    stale_events: set[str] = field(default_factory=set)
    fresh_events: set[str] = field(default_factory=set)

    @property
    def kept_runs(self) -> set[str]:
        newest = sorted(self.runs, key=lambda n: (self.runs[n], n), reverse=True)[:MAX_RUNS]
        return set(newest) | set(self.under_way)

    @property
    def kept_receipts(self) -> set[str]:
        return {
            n for n, done in self.receipts.items() if done >= stamp(datetime.now(UTC) - timedelta(days=20))
        }

    def doomed(self) -> dict[str, int]:
        return {
            "cleanupRuns": len(self.runs) + len(self.under_way) - len(self.kept_runs),
            "deletionReceipts": len(self.receipts) - len(self.kept_receipts),
            "events": len(self.stale_events),
        }

    def oldest_run(self) -> str:
        """The oldest record remaining is a run under way (its old completionTime is kept, not pruned)."""
        return min(
            [self.runs[n] for n in self.kept_runs - set(self.under_way)] + list(self.under_way.values())
        )

    def oldest_receipt(self) -> str:
        return min(self.receipts[n] for n in self.kept_receipts)


def seed_store(kube: Kube, namespace: str) -> Store:
    client = api(kube)
    custom, core = kubernetes.client.CustomObjectsApi(client), kubernetes.client.CoreV1Api(client)
    now, store = datetime.now(UTC), Store(namespace)

    def put(plural: str, body: dict[str, Any], status: dict[str, Any]) -> None:
        name = body["metadata"]["name"]
        custom.create_namespaced_custom_object(API_GROUP, API_VERSION, namespace, plural, body)
        custom.patch_namespaced_custom_object_status(
            API_GROUP, API_VERSION, namespace, plural, name, {"status": status}
        )

    def run(name: str, rule: str) -> dict[str, Any]:
        return {
            "apiVersion": GROUP,
            "kind": "CleanupRun",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"ruleName": rule, "trigger": "onDemand", "rule": rule_body()},
        }

    for n in range(FINISHED_RUNS):
        rule = RULES[n % len(RULES)]
        name, done = f"{rule}-{n:03d}", stamp(now - n * RUN_SPACING)
        put("cleanupruns", run(name, rule), {"phase": "Completed", "completionTime": done, "items": []})
        store.runs[name] = done
    for n in range(UNDER_WAY):  # awaiting approval: the daemon waits, never finishes them on its own
        name = f"pending-{n}"
        old = stamp(now - timedelta(days=30 + n))
        put("cleanupruns", run(name, RULES[0]), {"phase": "AwaitingApproval", "completionTime": old})
        store.under_way[name] = old
    for n in range(RECEIPTS):
        name, done = f"receipt-{n:02d}", stamp(now - timedelta(days=n, hours=1))
        put(
            "deletionrequests",
            deletion_request(name, namespace, "gone"),
            {"phase": "Completed", "completedAt": done},
        )
        store.receipts[name] = done
    for n in range(EVENTS):
        stale = n % 2 == 0
        name = f"{'stale' if stale else 'fresh'}-{n:02d}"
        last = stamp(now - timedelta(hours=3) if stale else now)
        core.create_namespaced_event(
            namespace,
            {
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": {"kind": "CleanupRun", "name": "alpha-000", "namespace": namespace},
                "reason": "Applied",
                "message": "synced",
                "type": "Normal",
                "source": {"component": OPERATOR},
                "reportingComponent": OPERATOR,
                "reportingInstance": "test",
                "firstTimestamp": last,
                "lastTimestamp": last,
            },
        )
        (store.stale_events if stale else store.fresh_events).add(name)
    client.close()
    return store


def retention_policy(name: str, namespace: str) -> dict[str, Any]:
    rules = [
        {"data": "cleanupRuns", "maxAge": MAX_RUN_AGE, "maxCount": MAX_RUNS},
        {"data": "deletionReceipts", "maxAge": MAX_RECEIPT_AGE},
        {"data": "events", "maxAge": MAX_EVENT_AGE},
    ]
    return {
        "apiVersion": GROUP,
        "kind": "RetentionPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"rules": rules, "interval": "1h"},
    }


@dataclass
class Survivors:
    runs: set[str]
    receipts: set[str]
    events: set[str]
    being_deleted: int  # objects with a deletionTimestamp (a finalizer still to release)

    def deleted(self, store: Store) -> int:
        """Records gone (or going) since seeding."""
        seeded = len(store.runs) + len(store.under_way) + len(store.receipts) + EVENTS
        events = self.events & (store.stale_events | store.fresh_events)
        return seeded - (len(self.runs) + len(self.receipts) + len(events))


def survivors(client: kubernetes.client.ApiClient, namespace: str) -> Survivors:
    """What is left, by listing (an object being deleted counts as gone)."""
    custom, core = kubernetes.client.CustomObjectsApi(client), kubernetes.client.CoreV1Api(client)
    going = 0

    def alive(plural: str) -> set[str]:
        nonlocal going
        items = custom.list_namespaced_custom_object(API_GROUP, API_VERSION, namespace, plural)["items"]
        going += sum(1 for i in items if i["metadata"].get("deletionTimestamp"))
        return {i["metadata"]["name"] for i in items if not i["metadata"].get("deletionTimestamp")}

    runs, receipts = alive("cleanupruns"), alive("deletionrequests")
    events = {
        e.metadata.name
        for e in core.list_namespaced_event(namespace).items
        if (e.source and e.source.component == OPERATOR) or e.reporting_component == OPERATOR
    }
    return Survivors(runs, receipts, events, going)


# --- an erasure: one person (PAAA / UAAA) in a managed Slack group, PagerDuty, and the operator's data ---

SUBJECT_EMAIL, SUBJECT_SLACK, SUBJECT_PAGERDUTY = "paaa@example.test", "UAAA", "PAAA"
# The Slack group, then PagerDuty: off the schedule's layer, then the user deleted.
EXTERNAL_WRITES = ("usergroups.users.update", "PUT /schedules/{id}", "DELETE /users/{id}")


def seed_subject_data(kube: Kube, namespace: str, key: bytes) -> None:
    """A finished run naming the subject, an Event about them, and an earlier receipt of theirs."""
    from oncall_operator.core.subjects import IdentifierKind, subject_ref
    from support.privacy import cleanup_run, event, status_patch

    ref = subject_ref(key, IdentifierKind.EMAIL, SUBJECT_EMAIL)
    short = ref.removeprefix("hmac-sha256:")
    cleanup_run(
        kube, namespace, "run-a", [f"{SUBJECT_PAGERDUTY} {SUBJECT_SLACK} {short} D g0", "PBBB UBBB x D g0"]
    )
    event(kube, namespace, "about-them", f"removed {SUBJECT_SLACK} from S0GROUP1")
    kube.apply(deletion_request("earlier", namespace, "gone", mode="Preview"))
    status_patch(
        kube, "deletionrequests", "earlier", namespace,
        {"phase": "Completed", "subject": ref, "completedAt": "2026-01-01T00:00:00Z"},
    )  # fmt: skip
