"""RetentionPolicy: how long each class of data in the inventory (api/inventory.py) is kept.

Namespaced: a policy applies to its own namespace, or to every watched namespace when it lives in
the operator's namespace. Where policies overlap the strictest rule wins (the shortest maxAge, the
smallest maxCount); where none applies, the built-in defaults (settings, Helm values) do.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from oncall_operator.api.common import CamelModel, Condition, Duration, map_keyed, no_duplicate_keys
from oncall_operator.api.crd import PrinterColumn, ResourceKind
from oncall_operator.api.inventory import RetainedData

MaxAge = Annotated[
    str,
    Duration(timedelta(minutes=1), timedelta(days=3650), "Records older than this are pruned.", days=True),
]
Interval = Annotated[
    str, Duration(timedelta(seconds=10), timedelta(hours=24), "How often the policy prunes.", days=False)
]


class RetentionReason(StrEnum):
    PRUNED = "Pruned"  # a pass ran (counts in status.pruned)
    PRUNE_FAILED = "PruneFailed"  # a pass could not finish (the message says why); retried


class RetentionRule(CamelModel):
    data: RetainedData = Field(
        description="The class of data: cleanupRuns, deletionReceipts, events or userDirectoryCache."
    )
    max_age: MaxAge | None = None
    max_count: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Keep at most this many records per namespace, the newest (cleanupRuns and "
        "deletionReceipts only; unfinished records are never pruned).",
    )


class RetentionPolicySpec(CamelModel):
    rules: Annotated[list[RetentionRule], no_duplicate_keys("data")] = Field(
        min_length=1,
        max_length=10,
        description="One rule per class of data; a rule needs maxAge, maxCount or both.",
        json_schema_extra={
            **map_keyed("data"),
            "x-kubernetes-validations": [
                {
                    "rule": "self.all(r, has(r.maxAge) || has(r.maxCount))",
                    "message": "every rule needs maxAge, maxCount or both",
                    "reason": "FieldValueRequired",
                },
                {
                    "rule": "self.all(r, !has(r.maxCount) || r.data in ['cleanupRuns', 'deletionReceipts'])",
                    "message": "maxCount applies to cleanupRuns and deletionReceipts only",
                    "reason": "FieldValueInvalid",
                },
            ],
        },
    )
    interval: Interval = "1h"


class PrunedRecord(CamelModel):
    name: str = Field(description="The record's name.")
    uid: str = Field(description="The record's uid (a record recreated under the same name is another).")


class PendingPrune(CamelModel):
    """Deletions a pass sends in one batch, recorded before it sends them: after a kill, the next pass
    counts those that landed (gone, or deleting) into `pruned` once and forgets the rest."""

    data: RetainedData = Field(description="The class of data of the batch.")
    namespace: str = Field(description="The namespace of the batch.")
    records: list[PrunedRecord] = Field(
        default_factory=list, max_length=100, description="The records the batch deletes (names and uids)."
    )


class RetentionPolicyStatus(CamelModel):
    last_run_time: str | None = Field(default=None, description="When the policy last pruned (RFC 3339).")
    cluster_wide: bool | None = Field(
        default=None, description="True when it lives in the operator's namespace and so applies everywhere."
    )
    pruned: dict[str, int] = Field(
        default_factory=dict, description="Data class -> records pruned by this policy's passes, in total."
    )
    pruning: PendingPrune | None = Field(
        default=None,
        description="The batch of deletions under way (recorded before they are sent, cleared when they "
        "are added to pruned): a pass killed meanwhile is settled by the next one, each record counted once.",
    )
    oldest: dict[str, str] = Field(
        default_factory=dict,
        description="Data class -> creation time of the oldest record remaining where it applies (RFC 3339).",
    )
    observed_generation: int | None = Field(default=None, description="The generation this status reflects.")
    conditions: list[Condition] = Field(default_factory=list, description="Ready.")


RETENTION_POLICY = ResourceKind(
    kind="RetentionPolicy",
    plural="retentionpolicies",
    spec_model=RetentionPolicySpec,
    status_model=RetentionPolicyStatus,
    short_names=("retention",),
    description="How long each class of data the operator keeps is retained; the strictest policy wins.",
    printer_columns=(
        PrinterColumn("Interval", ".spec.interval"),
        PrinterColumn("Last Run", ".status.lastRunTime"),
        PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status'),
    ),
)
