"""Shapes shared by every resource: Secret references, ids, durations, the Kubernetes condition."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from oncall_operator.api.durations import bounded_duration, format_duration


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class CamelModel(BaseModel):
    """Base for resource models: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=camel)


# Vendor id formats (PagerDuty: P + 6 alphanumerics in practice; Slack: a type letter + alphanumerics).
PAGERDUTY_ID = r"^P[A-Z0-9]{2,}$"
SLACK_USER_ID = r"^[UW][A-Z0-9]{2,}$"
SLACK_CHANNEL_ID = r"^[CG][A-Z0-9]{2,}$"
SLACK_USERGROUP_ID = r"^S[A-Z0-9]{2,}$"
# A Kubernetes object name (DNS-1123 subdomain): no paths, no "." or "..".
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SECRET_KEY = r"^[-._a-zA-Z0-9]+$"

PagerDutyId = Annotated[str, Field(pattern=PAGERDUTY_ID, max_length=20)]
SlackUserId = Annotated[str, Field(pattern=SLACK_USER_ID, max_length=20)]
SlackChannelId = Annotated[str, Field(pattern=SLACK_CHANNEL_ID, max_length=20)]


class SecretKeyRef(CamelModel):
    """A key in a Secret in the resource's own namespace."""

    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN,
        description="Name of the Secret (same namespace).",
    )
    key: str = Field(min_length=1, max_length=253, pattern=SECRET_KEY, description="Key within the Secret.")


@dataclass(frozen=True)
class Duration:
    """Marks a str field as a duration, bounded at admission (pattern + CEL) and again when parsed.

    Go's form (10m, 1h30m); with `days`, also whole days (30d), which CEL's duration() cannot read.
    Use as `Annotated[str, Duration(...)]`."""

    minimum: timedelta
    maximum: timedelta
    description: str
    days: bool = False

    def _check(self, text: str) -> str:
        bounded_duration(text, self.minimum, self.maximum, days=self.days)
        return text

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        low, high = format_duration(self.minimum), format_duration(self.maximum)
        go_rule = f"duration(self) >= duration('{low}') && duration(self) <= duration('{high}')"
        if self.days:
            pattern = r"^([0-9]{1,5}d|([0-9]+(\.[0-9]+)?(ms|s|m|h))+)$"
            low_s, high_s = int(self.minimum.total_seconds()), int(self.maximum.total_seconds())
            day_seconds = "int(self.substring(0, size(self) - 1)) * 86400"
            rule = (
                f"self.endsWith('d') ? ({day_seconds} >= {low_s} && {day_seconds} <= {high_s}) : ({go_rule})"
            )
            example = "10m, 1h30m or 30d"
        else:
            pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
            rule = go_rule
            example = "10m or 1h30m"
        result = handler(schema)
        result.update(
            minLength=2,
            maxLength=32,
            pattern=pattern,
            description=f"{self.description} A duration like {example}; {low} to {high}.",
        )
        message = f"must be a duration like {example}, from {low} to {high}"
        result["x-kubernetes-validations"] = [
            {"rule": rule, "message": message, "reason": "FieldValueInvalid"}
        ]
        return result


def no_duplicates(values: list[Any]) -> list[Any]:
    seen = [v for i, v in enumerate(values) if v in values[:i]]
    if seen:
        raise ValueError(f"duplicate entries: {', '.join(map(str, seen))}")
    return values


def no_duplicate_keys(key: str) -> Any:
    def check(values: list[Any]) -> list[Any]:
        no_duplicates([getattr(v, key) for v in values])
        return values

    return AfterValidator(check)


# Lists whose entries must be unique: the API server refuses duplicates at admission (list-type set/map).
SET: dict[str, Any] = {"x-kubernetes-list-type": "set"}


def map_keyed(*keys: str) -> dict[str, Any]:
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(CamelModel):
    """The Kubernetes condition shape (metav1.Condition)."""

    type: str = Field(description="Ready, Synced, Degraded, ...")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(description="A CamelCase reason, stable enough to alert on.")
    message: str = Field(default="", description="What happened, for people; ids only, no personal data.")
    last_transition_time: str = Field(description="When status last changed (RFC 3339).")
    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation the condition was set for."
    )


def check_time_zone(value: str) -> str:
    """An IANA time zone name the zoneinfo database knows."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
    return value


def rfc3339(moment: datetime) -> str:
    """Status and event times: UTC, whole seconds, Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def validation_problems(error: ValidationError, prefix: str = "") -> str:
    """One line naming each refused field by its path (`prefix` + dotted location) and why."""
    return "; ".join(f"{prefix}{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
