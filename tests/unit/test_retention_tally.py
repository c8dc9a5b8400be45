"""RetentionPolicy's tally across kills: each pruned record is counted in status.pruned exactly once,
wherever the process dies (the settling decision is pure; the protocol is driven against an in-memory
API server whose every write can be the last one)."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from oncall_operator.api.inventory import RetainedData
from oncall_operator.core.privacy.retention import Present, landed
from oncall_operator.kinds.retentionpolicy.prune import Retention, policy_rules
from oncall_operator.kinds.retentionpolicy.tally import BATCH
from oncall_operator.settings import Settings

NS, POLICY = "team", ("team", "prune")


def test_a_recorded_deletion_counts_when_gone_replaced_or_deleting_never_when_untouched() -> None:
    intended = [("gone", "u1"), ("deleting", "u2"), ("replaced", "u3"), ("untouched", "u4")]
    present = {
        "deleting": Present("u2", deleting=True),  # a finalizer still held: it landed
        "replaced": Present("u3-new"),  # another record under the same name
        "untouched": Present("u4"),  # the delete never reached the API server
        "other": Present("u9"),
    }
    assert landed(intended, present) == ["gone", "deleting", "replaced"]
    assert landed([], present) == []


class Killed(BaseException):
    """The process dies: nothing after this write runs."""


class Cluster:
    """The part of the API server a retention pass uses; the `fuse`-th write (counting from 1) is
    the last the process makes, landing or not (`lands`)."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, dict[str, Any]]] = {"cleanupruns": {}, "deletionrequests": {}}
        self.events: dict[str, SimpleNamespace] = {}
        self.policy: dict[str, Any] = {"metadata": {"namespace": NS, "name": POLICY[1]}, "status": {}}
        self.fuse: int | None = None
        self.lands = True
        self.writes = 0
        self.listed = True  # the policy is in the listing of policies (else read by itself)
        self.uids = itertools.count()

    def _write(self, apply: Any) -> None:
        self.writes += 1
        if self.fuse is not None and self.writes == self.fuse:
            if self.lands:
                apply()
            raise Killed
        apply()

    def add(self, plural: str, name: str, status: dict[str, Any], finalizer: bool = False) -> None:
        meta = {"name": name, "namespace": NS, "uid": f"u{next(self.uids)}", "finalizers": ["f"] * finalizer}
        self.objects[plural][name] = {"metadata": meta, "status": status}

    def add_event(self, name: str, last: datetime) -> None:
        meta = SimpleNamespace(
            name=name,
            namespace=NS,
            uid=f"u{next(self.uids)}",
            creation_timestamp=last,
            deletion_timestamp=None,
        )
        self.events[name] = SimpleNamespace(
            metadata=meta,
            reporting_component="oncall-operator",
            source=None,
            last_timestamp=last,
            event_time=None,
        )

    # --- Kube's interface ---
    async def list_everywhere(self, plural: str, namespaces: tuple[str, ...]) -> list[dict[str, Any]]:
        if plural == "retentionpolicies":
            return [self.policy] if self.listed else []
        return list(self.objects[plural].values())

    async def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        assert (plural, namespace, name) == ("retentionpolicies", *POLICY)
        return self.policy

    async def list_objects(self, plural: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        return list(self.objects[plural].values())

    async def list_events(self, namespace: str | None) -> list[Any]:
        return list(self.events.values())

    async def delete_object(self, plural: str, namespace: str, name: str) -> None:
        def apply() -> None:
            found = self.objects[plural].get(name)
            if found and found["metadata"]["finalizers"]:
                found["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
            else:
                self.objects[plural].pop(name, None)

        self._write(apply)

    async def delete_event(self, namespace: str, name: str) -> None:
        self._write(lambda: self.events.pop(name, None))

    async def patch_status(self, plural: str, namespace: str, name: str, patch: dict[str, Any]) -> None:
        assert (plural, namespace, name) == ("retentionpolicies", *POLICY)

        def apply() -> None:
            status = self.policy["status"]
            for key, value in patch.items():  # a JSON merge patch, one level deep is enough here
                if value is None:
                    status.pop(key, None)
                else:
                    status[key] = value

        self._write(apply)

    def release_finalizers(self) -> None:
        """Kopf, back after the restart, lets the deleted receipts go."""
        receipts = self.objects["deletionrequests"]
        for name in [n for n, o in receipts.items() if o["metadata"].get("deletionTimestamp")]:
            del receipts[name]


def seeded() -> Cluster:
    now = datetime.now(UTC)
    cluster = Cluster()
    for n in range(70):  # 10 within maxCount 60 after the age limit...: 70 finished, 60 kept
        done = (now - timedelta(minutes=n)).isoformat()
        cluster.add("cleanupruns", f"run-{n:03d}", {"phase": "Completed", "completionTime": done})
    cluster.add(
        "cleanupruns", "pending", {"phase": "AwaitingApproval", "completionTime": "2020-01-01T00:00:00Z"}
    )
    for n in range(8):  # 5 past 20 days; the odd ones hold a finalizer (deleting, not gone, after a delete)
        done = (now - timedelta(days=17 + n)).isoformat()
        cluster.add(
            "deletionrequests", f"receipt-{n}", {"phase": "Completed", "completedAt": done}, n % 2 == 1
        )
    for n in range(BATCH + 7):  # more than one batch of stale Events, and some fresh ones
        cluster.add_event(f"stale-{n:02d}", now - timedelta(hours=3))
    for n in range(4):
        cluster.add_event(f"fresh-{n}", now)
    return cluster


EXPECTED = {"cleanupRuns": 10, "deletionReceipts": 5, "events": BATCH + 7}


def retention(cluster: Cluster) -> Retention:
    services: Any = SimpleNamespace(
        kube=cluster,
        settings=Settings(namespaces=(NS,)),
        slack=SimpleNamespace(prune_users=lambda seconds: (0, None)),
        pagerduty=SimpleNamespace(prune_emails=lambda seconds: (0, None)),
    )
    process = Retention(services)
    spec = {
        "rules": [
            {"data": "cleanupRuns", "maxCount": 60},
            {"data": "deletionReceipts", "maxAge": "20d"},
            {"data": "events", "maxAge": "1h"},
        ]
    }
    process.policies["uid"] = policy_rules(NS, spec, "operator")
    return process


def test_an_uninterrupted_pass_counts_each_record_once() -> None:
    cluster = seeded()
    result = asyncio.run(retention(cluster).prune((NS,), POLICY))
    assert result.tally == EXPECTED == cluster.policy["status"]["pruned"]
    assert "pruning" not in cluster.policy["status"]
    writes = cluster.writes
    cluster.release_finalizers()
    again = asyncio.run(retention(cluster).prune((NS,), POLICY))
    assert again.tally == EXPECTED and sum(again.pruned.values()) == 0
    assert cluster.writes == writes  # nothing left to delete, nothing to record


@pytest.mark.parametrize("lands", [True, False], ids=["last-write-landed", "last-write-lost"])
def test_killed_at_any_write_the_next_pass_settles_and_the_tally_is_exact(lands: bool) -> None:
    """Every write of a pass (a batch's intent, a delete, a batch's count) in turn is the last one; the
    restarted process's pass counts what the dead one deleted once - including receipts it deleted that
    still hold their finalizer - and never a record twice."""
    total_writes = seeded()
    asyncio.run(retention(total_writes).prune((NS,), POLICY))
    for fuse in range(1, total_writes.writes + 1):
        cluster = seeded()
        cluster.fuse, cluster.lands = fuse, lands
        with pytest.raises(Killed):
            asyncio.run(retention(cluster).prune((NS,), POLICY))
        cluster.fuse = None
        result = asyncio.run(retention(cluster).prune((NS,), POLICY))
        assert cluster.policy["status"]["pruned"] == EXPECTED == result.tally, (
            fuse,
            cluster.policy["status"],
        )
        assert "pruning" not in cluster.policy["status"]
        cluster.release_finalizers()
        asyncio.run(retention(cluster).prune((NS,), POLICY))
        assert cluster.policy["status"]["pruned"] == EXPECTED, (fuse, "after the finalizers went")
        assert len(cluster.objects["cleanupruns"]) == 61 and len(cluster.objects["deletionrequests"]) == 3
        assert set(cluster.events) == {f"fresh-{n}" for n in range(4)}


def test_a_policy_the_listing_misses_is_read_and_settled_by_itself() -> None:
    cluster = seeded()
    cluster.fuse = 5  # a delete of the first batch (after its intent)
    with pytest.raises(Killed):
        asyncio.run(retention(cluster).prune((NS,), POLICY))
    cluster.fuse, cluster.listed = None, False
    assert asyncio.run(retention(cluster).prune((NS,), POLICY)).tally == EXPECTED
    assert cluster.policy["status"]["pruned"] == EXPECTED


def test_the_recorded_batch_holds_names_and_uids_only() -> None:
    cluster = seeded()
    seen: list[dict[str, Any]] = []
    patch = cluster.patch_status

    async def spy(plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        if status.get("pruning"):
            seen.append(status["pruning"])
        await patch(plural, namespace, name, status)

    cluster.patch_status = spy  # type: ignore[method-assign]
    asyncio.run(retention(cluster).prune((NS,), POLICY))
    assert [b["data"] for b in seen] == ["cleanupRuns", "deletionReceipts", "events", "events"]
    assert all(set(r) == {"name", "uid"} for b in seen for r in b["records"])
    assert max(len(b["records"]) for b in seen) == BATCH
    assert RetainedData.EVENTS.value in cluster.policy["status"]["pruned"]
