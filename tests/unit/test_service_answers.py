"""Hostile answers at the adapters: what of a Slack error answer may reach a condition, a log line or a
metric label (the code and missing scopes only when Slack-shaped: a broken server may put anything
there), and a PagerDuty success the SDK cannot unwrap (a garbled answer, retried soon)."""

from __future__ import annotations

import pytest

from oncall_operator.clients.slack import Slack, scopes_named, slack_error_code


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("no_such_subteam", "no_such_subteam"),
        ("invalid_auth", "invalid_auth"),
        ("user_not_found: josé.núñez@exämple.test", None),  # an address in the "code"
        ("Ünïcode_error", None),
        ("<html><title>502</title></html>", None),
        ("x" * 65, None),
        ("", None),
        (42, None),
        (None, None),
        ({"code": "x"}, None),
    ],
)
def test_only_code_shaped_errors_are_named(value: object, shown: str | None) -> None:
    assert slack_error_code(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("usergroups:write", "usergroups:write"),
        ("users:read,users:read.email", "users:read,users:read.email"),
        ("users:read for Jane Doe <jane@example.test>", "?"),
        (["usergroups:write"], "?"),
        (None, "?"),
    ],
)
def test_only_scope_shaped_needed_values_are_named(value: object, shown: str) -> None:
    assert scopes_named(value) == shown


def test_a_refusal_naming_a_person_is_an_invalid_response_naming_nobody() -> None:
    class Answer:
        status_code = 200
        data = {"ok": False, "error": "no account for Zoë Ångström <zoe@example.test>"}
        headers: dict[str, str] = {}

    class Refusal(Exception):
        response = Answer()

    failure = Slack("http://127.0.0.1:9/api/")._refused("usergroups.list", Refusal(), None)  # type: ignore[arg-type]
    assert failure is not None and failure.reason == "InvalidResponse"
    assert "zoe" not in failure.message and "Zoë" not in failure.message
    missing = Slack._classify("usergroups.create", "missing_scope", {"needed": "Zoë <zoe@example.test>"})
    assert missing.reason == "MissingScope" and "zoe" not in missing.message


@pytest.mark.parametrize("status", [200, 204])
def test_a_pagerduty_success_the_sdk_cannot_unwrap_is_an_invalid_response_retried_soon(status: int) -> None:
    from oncall_operator.clients.pagerduty import PagerDuty
    from oncall_operator.core.errors import Transient

    failure = PagerDuty._classify(status, "GET /schedules/{id}")
    assert isinstance(failure, Transient) and failure.reason == "InvalidResponse"
    assert PagerDuty._classify(400, "GET /schedules/{id}").reason == "PagerDutyError"
