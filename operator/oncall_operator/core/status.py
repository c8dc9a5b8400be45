"""Reading and writing a resource's status as its pydantic model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from oncall_operator.api.common import Condition

StatusT = TypeVar("StatusT", bound=BaseModel)


def parse_status(model: type[StatusT], data: Mapping[str, Any] | None) -> StatusT:
    """The stored status as `model`; what an older or newer operator wrote that no longer fits is
    dropped (keeping the conditions when they still parse), never an error."""
    try:
        return model.model_validate(dict(data or {}))
    except ValidationError:
        conditions: list[Condition] = []
        for item in (data or {}).get("conditions") or []:
            try:
                conditions.append(Condition.model_validate(item))
            except ValidationError:
                continue
        return model.model_validate({"conditions": conditions} if "conditions" in model.model_fields else {})


def render_status(status: BaseModel) -> dict[str, Any]:
    """For a JSON merge patch of .status: unset fields are sent as null, which deletes stale values."""
    rendered: dict[str, Any] = status.model_dump(by_alias=True, mode="json")
    return rendered
