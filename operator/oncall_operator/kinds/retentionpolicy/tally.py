"""A policy's `status.pruned`, exact across kills: each batch of deletions is recorded in the policy's
status (`status.pruning`: the class, the namespace, names and uids - no personal data) before it is
sent, and added to `pruned` in one patch after. A pass that finds a batch left by a killed pass first
counts the deletions of it that landed (`core.privacy.retention.landed`) and clears it.

Every pass runs under one lock (`Retention`) and settles every policy's batch before it deletes
anything, so a record is counted by exactly one policy, once.
"""

from __future__ import annotations

from typing import Any

from oncall_operator.api.inventory import RetainedData
from oncall_operator.api.retention import (
    RETENTION_POLICY,
    PendingPrune,
    PrunedRecord,
    RetentionPolicyStatus,
)
from oncall_operator.clients.kube import Kube
from oncall_operator.core.errors import NotFound
from oncall_operator.core.privacy.retention import Present, landed
from oncall_operator.core.status import parse_status

BATCH = 50  # deletions per recorded batch: two status patches per batch, a bounded status
PLURALS = {RetainedData.CLEANUP_RUNS: "cleanupruns", RetainedData.DELETION_RECEIPTS: "deletionrequests"}
PolicyKey = tuple[str, str]  # namespace, name


class Tally:
    """One policy's tally during a pass (the pass holds the lock: no other writer of `pruned`)."""

    def __init__(self, kube: Kube, policy: PolicyKey, pruned: dict[str, int]) -> None:
        self.kube, self.policy, self.pruned = kube, policy, dict(pruned)

    async def _patch(self, status: dict[str, object]) -> None:
        await self.kube.patch_status(RETENTION_POLICY.plural, *self.policy, status)

    async def intend(self, data: RetainedData, namespace: str, records: list[tuple[str, str]]) -> None:
        batch = PendingPrune(
            data=data, namespace=namespace, records=[PrunedRecord(name=n, uid=u) for n, u in records]
        )
        await self._patch({"pruning": batch.model_dump(by_alias=True, mode="json")})

    async def add(self, data: RetainedData, count: int) -> None:
        """Adds what a batch deleted and clears the batch, in one patch."""
        self.pruned[data.value] = self.pruned.get(data.value, 0) + count
        await self._patch({"pruned": dict(self.pruned), "pruning": None})


async def _present(kube: Kube, data: RetainedData, namespace: str) -> dict[str, Present]:
    if data is RetainedData.EVENTS:
        return {
            e.metadata.name: Present(e.metadata.uid or "", bool(e.metadata.deletion_timestamp))
            for e in await kube.list_events(namespace)
        }
    return {
        item["metadata"]["name"]: Present(
            item["metadata"].get("uid", ""), bool(item["metadata"].get("deletionTimestamp"))
        )
        for item in await kube.list_objects(PLURALS[data], namespace, "")
    }


async def _settle_one(kube: Kube, key: PolicyKey, policy: dict[str, Any]) -> dict[str, int]:
    status = parse_status(RetentionPolicyStatus, policy.get("status"))
    pruned = dict(status.pruned)
    batch = status.pruning
    if batch is not None:
        present = await _present(kube, batch.data, batch.namespace)
        count = len(landed(((r.name, r.uid) for r in batch.records), present))
        pruned[batch.data.value] = pruned.get(batch.data.value, 0) + count
        await kube.patch_status(RETENTION_POLICY.plural, *key, {"pruned": pruned, "pruning": None})
    return pruned


async def settle(
    kube: Kube, watched: tuple[str, ...], own: PolicyKey | None = None
) -> dict[PolicyKey, dict[str, int]]:
    """Every policy's `pruned`, after counting what a batch a killed pass left recorded deleted
    (`own`, the policy the pass counts for, is read by itself if the listing missed it)."""
    tallies: dict[PolicyKey, dict[str, int]] = {}
    for policy in await kube.list_everywhere(RETENTION_POLICY.plural, watched):
        meta = policy.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        tallies[key] = await _settle_one(kube, key, policy)
    if own is not None and own not in tallies:
        try:
            tallies[own] = await _settle_one(kube, own, await kube.get_object(RETENTION_POLICY.plural, *own))
        except NotFound:
            tallies[own] = {}  # deleted meanwhile: its status patches find nothing either
    return tallies
