"""The spec models refuse what the CRD schema refuses, with clear messages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from oncall_operator.api.oncallsync import OnCallSyncSpec
from oncall_operator.core.durations import parse_duration, resync_interval

BASE = {
    "pagerDuty": {"tokenSecretRef": {"name": "pd", "key": "token"}, "schedules": ["PABC123"]},
    "slack": {
        "tokenSecretRef": {"name": "slack", "key": "token"},
        "userGroup": {"handle": "payments-oncall"},
    },
}


def spec(**changes: object) -> dict[str, object]:
    import copy

    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def test_defaults() -> None:
    model = OnCallSyncSpec.model_validate(BASE)
    assert model.when_nobody_on_call.value == "keepLast" and model.safety.max_removals_per_sync == 10
    assert model.resync_interval == "10m" and not model.dry_run


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            spec(pagerDuty={"tokenSecretRef": {"name": "pd", "key": "t"}}),
            "at least one schedule or escalation policy",
        ),
        (spec(whenNobodyOnCall="fallback"), "fallbackUsers"),
        (
            spec(slack={**BASE["slack"], "topic": {"channels": ["C0123"], "template": "hi {email}"}}),
            "may only use",
        ),
        (spec(resyncInterval="ten minutes"), "resyncInterval"),
        (
            spec(
                slack={
                    **BASE["slack"],
                    "topic": {"channels": ["C0123"], "template": "x", "timeZone": "Mars/Base"},
                }
            ),
            "not an IANA time zone",
        ),
        (spec(extra=1), "extra"),
    ],
)
def test_invalid_specs_are_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as error:
        OnCallSyncSpec.model_validate(data)
    assert message in str(error.value)


def test_durations() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert resync_interval("5s") == timedelta(seconds=30)
    with pytest.raises(ValueError):
        parse_duration("")
