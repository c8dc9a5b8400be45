"""The spec models refuse what the CRD schema refuses, with clear messages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from oncall_operator.api.durations import bounded_duration, parse_duration
from oncall_operator.api.oncallsync import OnCallSyncSpec

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


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1h30m", timedelta(minutes=90)), ("45s", timedelta(seconds=45)), ("30d", timedelta(days=30))],
)
def test_durations_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "-1h", "99999999999h", "1h 2m x"])
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_duration_bounds_and_days_only_where_allowed() -> None:
    day, hour = timedelta(days=1), timedelta(hours=1)
    assert bounded_duration("1h", timedelta(seconds=30), day, days=False) == hour
    with pytest.raises(ValueError, match=r"outside 30s\.\.24h"):
        bounded_duration("0s", timedelta(seconds=30), day, days=False)
    with pytest.raises(ValueError, match="is not a duration like 10m or 1h30m"):
        bounded_duration("1d", timedelta(seconds=30), day, days=False)


@pytest.mark.parametrize("interval", ["", "0s", "25h", "99999999999h", "1d"])
def test_resync_interval_is_bounded(interval: str) -> None:
    with pytest.raises(ValidationError, match="resyncInterval"):
        OnCallSyncSpec.model_validate(spec(resyncInterval=interval))
