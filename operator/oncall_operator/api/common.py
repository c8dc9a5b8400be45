"""Shapes shared by every resource: Secret references, Kubernetes conditions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class CamelModel(BaseModel):
    """Base for resource models: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=camel)


class SecretKeyRef(CamelModel):
    """A key in a Secret in the resource's own namespace."""

    name: str = Field(min_length=1, max_length=253, description="Name of the Secret.")
    key: str = Field(min_length=1, max_length=253, description="Key within the Secret.")


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(CamelModel):
    """The Kubernetes condition shape (metav1.Condition)."""

    type: str
    status: ConditionStatus
    reason: str
    message: str = ""
    last_transition_time: str
    observed_generation: int | None = None


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_condition(existing: list[dict[str, object]], new: Condition) -> list[dict[str, object]]:
    """Sets one condition; lastTransitionTime changes only when the status flips."""
    result: list[dict[str, object]] = []
    replaced = False
    for old in existing:
        if old.get("type") != new.type:
            result.append(old)
            continue
        replaced = True
        rendered = new.model_dump(by_alias=True, exclude_none=True)
        if old.get("status") == new.status and old.get("lastTransitionTime"):
            rendered["lastTransitionTime"] = old["lastTransitionTime"]
        result.append(rendered)
    if not replaced:
        result.append(new.model_dump(by_alias=True, exclude_none=True))
    return result
