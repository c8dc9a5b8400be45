"""A rule's runs as Kubernetes objects: the manifest of a new run, creating it (a 409 means it exists:
one run per slot), listing a rule's runs, and what the rule needs to know of each."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from oncall_operator import API_GROUP, API_VERSION
from oncall_operator.api.cleanup import CLEANUP_RULE, CleanupRuleSpec
from oncall_operator.api.cleanuprun import CLEANUP_RUN, RULE_NAME_LABEL, RULE_UID_LABEL, RunPhase, RunTrigger
from oncall_operator.api.common import rfc3339
from oncall_operator.core.cleanup.rulestatus import RunSnapshot
from oncall_operator.services import Services

LABEL_VALUE_MAX = 63


def run_manifest(
    *,
    rule_name: str,
    rule_uid: str,
    run_name: str,
    spec: CleanupRuleSpec,
    trigger: RunTrigger,
    slot: datetime | None,
) -> dict[str, Any]:
    """A run owned by its rule (deleting the rule deletes its runs), with a copy of the rule's spec:
    a later edit of the rule never changes what a run plans or applies."""
    labels = {RULE_UID_LABEL: rule_uid, "app.kubernetes.io/managed-by": "oncall-operator"}
    if len(rule_name) <= LABEL_VALUE_MAX:
        labels[RULE_NAME_LABEL] = rule_name
    run_spec: dict[str, Any] = {
        "ruleName": rule_name,
        "trigger": trigger.value,
        "rule": spec.model_dump(by_alias=True, mode="json", exclude_none=True),
    }
    if slot is not None:
        run_spec["scheduledTime"] = rfc3339(slot)
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": CLEANUP_RUN.kind,
        "metadata": {
            "name": run_name,
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": f"{API_GROUP}/{API_VERSION}",
                    "kind": CLEANUP_RULE.kind,
                    "name": rule_name,
                    "uid": rule_uid,
                    "controller": True,
                }
            ],
        },
        "spec": run_spec,
    }


async def create_run(services: Services, namespace: str, manifest: dict[str, Any]) -> bool:
    """True when created; False when a run of that name exists (this slot or request ran already)."""
    return await services.kube.create_object(CLEANUP_RUN.plural, namespace, manifest)


async def list_runs(services: Services, namespace: str, rule_uid: str) -> list[dict[str, Any]]:
    return await services.kube.list_objects(CLEANUP_RUN.plural, namespace, f"{RULE_UID_LABEL}={rule_uid}")


def snapshot(run: dict[str, Any]) -> RunSnapshot:
    metadata = run.get("metadata") or {}
    status = run.get("status") or {}
    counts = status.get("counts") or {}
    created_text = metadata.get("creationTimestamp")
    created = (
        datetime.fromisoformat(created_text.replace("Z", "+00:00"))
        if isinstance(created_text, str)
        else datetime.now(UTC)
    )
    try:
        phase = RunPhase(status.get("phase") or RunPhase.PENDING.value)
    except ValueError:
        phase = RunPhase.PENDING
    return RunSnapshot(
        name=str(metadata.get("name", "")),
        created=created,
        phase=phase,
        trigger=str((run.get("spec") or {}).get("trigger", "")),
        reason=status.get("reason"),
        message=status.get("message"),
        matched=int(counts.get("matched") or 0),
        affected=int(counts.get("affected") or 0),
        applied=int(counts.get("applied") or 0),
        failed=int(counts.get("failed") or 0),
        start_time=status.get("startTime"),
        completion_time=status.get("completionTime"),
    )
