"""Any answer a server can give ends as a classified error within a deadline: the operator's adapters
against the sandbox's hostile-answer faults, over HTTP with the real SDKs."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest

from conftest import Adapters
from oncall_operator.clients.ratelimit import BACKGROUND
from oncall_operator.core.backoff import MAX_SERVER_WAIT
from oncall_operator.core.errors import NotFound, OperatorError, Transient
from oncall_operator.metrics import REGISTRY
from oncall_sandbox import SandboxServer

SLACK_TOKEN = "xoxb-sandbox-bot"
PD_TOKEN = "pd-sandbox-token"
GROUP = "S0SBXPAY1"
DEADLINE = 2.0  # the adapters' per-exchange deadline here (30 s in production)


async def on_call(sandbox: SandboxServer, adapters: Adapters) -> Any:
    now = sandbox.control.now()
    return await adapters.pagerduty(deadline=DEADLINE).on_call(
        PD_TOKEN, schedules=["PSPAYP1"], policies=[], since=now, until=now + timedelta(hours=1)
    )


async def classified(call: Any, within: float = 60.0) -> OperatorError:
    """The call fails with one of the taxonomy's errors (never another exception), within `within` s."""
    started = time.monotonic()
    with pytest.raises(OperatorError) as failure:
        await asyncio.wait_for(call, within)
    assert time.monotonic() - started < within
    return failure.value


SLACK_ANSWERS = [
    pytest.param({"kind": "html_error"}, "SlackUnavailable", id="proxy-html-502"),
    pytest.param({"kind": "plain_text"}, "InvalidResponse", id="plain-text-200"),
    pytest.param({"kind": "malformed_json"}, "InvalidResponse", id="truncated-json"),
    pytest.param({"kind": "json_body", "body": []}, "InvalidResponse", id="json-array"),
    pytest.param({"kind": "json_body", "body": "x"}, "InvalidResponse", id="json-string"),
    pytest.param({"kind": "json_body", "body": None}, "InvalidResponse", id="json-null"),
    pytest.param(
        {"kind": "json_body", "body": {"ok": False, "error": 42}}, "InvalidResponse", id="error-not-a-string"
    ),
    pytest.param({"kind": "drop_field", "field": "usergroups"}, "InvalidResponse", id="ok-without-payload"),
    pytest.param({"kind": "null_field", "field": "usergroups"}, "InvalidResponse", id="ok-with-null-payload"),
    pytest.param({"kind": "drip_feed", "interval_seconds": 1.0}, "SlackUnavailable", id="drip-feed"),
    pytest.param(
        {"kind": "headers_then_silence", "latency_seconds": 30}, "SlackUnavailable", id="headers-then-silence"
    ),
    pytest.param({"kind": "huge_body", "size_bytes": 40 * 1024 * 1024}, "SlackUnavailable", id="huge-body"),
    pytest.param(
        {"kind": "json_body", "body": {"ok": False, "error": "fatal_error"}},
        "SlackUnavailable",
        id="fatal-error",
    ),
]


@pytest.mark.parametrize(("fault", "reason"), SLACK_ANSWERS)
async def test_slack_answers_become_classified_errors(
    sandbox: SandboxServer, adapters: Adapters, fault: dict[str, Any], reason: str
) -> None:
    options = {k: v for k, v in fault.items() if k != "kind"}
    sandbox.control.fault("slack", fault["kind"], "usergroups.list", **options)
    error = await classified(adapters.slack(deadline=DEADLINE).find_group(SLACK_TOKEN, "payments-oncall"))
    assert error.reason == reason, error.message
    assert "@" not in error.message


async def test_a_slow_slack_read_in_the_background_is_not_retried_for_minutes(
    sandbox: SandboxServer, adapters: Adapters
) -> None:
    """A background read gets 6 quick attempts (flaky servers), but a drip-feed that uses a whole call
    deadline is slow, not flaky: it goes back to the resource's backoff at once (a cleanup listing
    held 6 x 30 s, over 3 minutes, before it was refused: the long hostile row users.list-drip_feed)."""
    sandbox.control.fault("slack", "drip_feed", "usergroups.list", interval_seconds=1.0)
    sandbox.control.clear_requests()
    slack = adapters.slack(deadline=DEADLINE)
    error = await classified(
        slack.call(SLACK_TOKEN, "usergroups.list", priority=BACKGROUND), within=3 * DEADLINE
    )
    assert error.reason == "SlackUnavailable", error.message
    asked = [r for r in sandbox.control.requests(api="slack") if r["method"] == "usergroups.list"]
    assert len(asked) == 1, asked


async def test_a_slack_member_list_that_is_not_ids_is_refused(
    sandbox: SandboxServer, adapters: Adapters
) -> None:
    sandbox.control.fault(
        "slack", "json_body", "usergroups.users.list", body={"ok": True, "users": [1, None]}
    )
    error = await classified(adapters.slack(deadline=DEADLINE).members(SLACK_TOKEN, GROUP))
    assert error.reason == "InvalidResponse"


PAGERDUTY_ANSWERS = [
    pytest.param({"kind": "html_error"}, "PagerDutyUnavailable", id="proxy-html-502"),
    pytest.param({"kind": "plain_text"}, "InvalidResponse", id="plain-text-200"),
    pytest.param({"kind": "malformed_json"}, "InvalidResponse", id="truncated-json"),
    pytest.param({"kind": "json_body", "body": []}, "InvalidResponse", id="json-array"),
    pytest.param({"kind": "json_body", "body": {"oncalls": "x"}}, "InvalidResponse", id="listing-not-a-list"),
    pytest.param(
        {"kind": "drop_field", "field": "oncalls[].user"}, "InvalidResponse", id="entry-without-user"
    ),
    pytest.param(
        {"kind": "drop_field", "field": "oncalls[0].user.id"}, "InvalidResponse", id="user-without-id"
    ),
    pytest.param({"kind": "paging_loop", "mode": "empty_more"}, "InvalidResponse", id="empty-pages-forever"),
    pytest.param({"kind": "paging_loop", "mode": "same_page"}, "InvalidResponse", id="same-page-forever"),
    pytest.param({"kind": "drip_feed", "interval_seconds": 1.0}, "PagerDutyUnavailable", id="drip-feed"),
    pytest.param(
        {"kind": "headers_then_silence", "latency_seconds": 30},
        "PagerDutyUnavailable",
        id="headers-then-silence",
    ),
    pytest.param(
        {"kind": "huge_body", "size_bytes": 40 * 1024 * 1024}, "PagerDutyUnavailable", id="huge-body"
    ),
]


@pytest.mark.parametrize(("fault", "reason"), PAGERDUTY_ANSWERS)
async def test_pagerduty_answers_become_classified_errors(
    sandbox: SandboxServer, adapters: Adapters, fault: dict[str, Any], reason: str
) -> None:
    options = {k: v for k, v in fault.items() if k != "kind"}
    sandbox.control.fault("pagerduty", fault["kind"], "GET /oncalls", **options)
    error = await classified(on_call(sandbox, adapters))
    assert error.reason == reason, error.message


async def test_paging_makes_progress_or_stops(sandbox: SandboxServer, adapters: Adapters) -> None:
    """Each page is one request against the budget: a loop ends after two pages, not 11,906."""
    sandbox.control.fault("pagerduty", "paging_loop", "GET /oncalls", mode="same_page")
    await classified(on_call(sandbox, adapters))
    pages = [r for r in sandbox.control.requests(api="pagerduty") if r["method"] == "GET /oncalls"]
    assert len(pages) == 2


async def test_a_404_on_a_schedule_reached_through_a_policy_is_not_found(
    sandbox: SandboxServer, adapters: Adapters
) -> None:
    sandbox.control.fault("pagerduty", "status", "GET /schedules/{id}", status=404)
    with pytest.raises(NotFound):
        await adapters.pagerduty(deadline=DEADLINE).roster(PD_TOKEN, schedules=[], policies=["PEPAY01"])


def capped_waits(api: str) -> float:
    return REGISTRY.get_sample_value("oncall_operator_server_waits_capped_total", {"api": api}) or 0.0


async def test_a_day_long_retry_after_is_capped_and_counted(
    sandbox: SandboxServer, adapters: Adapters
) -> None:
    client = adapters.slack(deadline=DEADLINE)
    before = capped_waits("slack")
    sandbox.control.fault("slack", "rate_limit", "users.lookupByEmail", retry_after=86_400, count=1)
    with pytest.raises(TimeoutError):  # it would wait the cap, not a day
        await asyncio.wait_for(client.user_by_email(SLACK_TOKEN, "bob@acme.example"), 2)
    assert capped_waits("slack") == before + 1
    limiter = client.workspace(SLACK_TOKEN).limiters["users.lookupByEmail"]
    assert limiter._paused_until - time.monotonic() <= MAX_SERVER_WAIT


async def test_pagerduty_ratelimit_reset_is_capped_and_counted(
    sandbox: SandboxServer, adapters: Adapters
) -> None:
    before = capped_waits("pagerduty")
    sandbox.control.fault("pagerduty", "rate_limit", "GET /oncalls", retry_after=86_400, count=1)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(on_call(sandbox, adapters), 3)
    assert capped_waits("pagerduty") == before + 1


@pytest.mark.parametrize("retry_after", ["http-date+1", "soon", -5, "inf-not-a-number"])
async def test_retry_after_in_any_form_is_honoured_or_defaulted(
    sandbox: SandboxServer, adapters: Adapters, retry_after: str | int
) -> None:
    sandbox.control.fault("slack", "rate_limit", "usergroups.users.list", retry_after=retry_after, count=1)
    members = await asyncio.wait_for(adapters.slack(deadline=DEADLINE).members(SLACK_TOKEN, GROUP), 15)
    assert members  # waited as asked (an HTTP-date) or a moment (garbage), then succeeded


async def test_a_failed_read_is_retried_with_growing_backoff_then_reported(
    sandbox: SandboxServer, adapters: Adapters
) -> None:
    sandbox.control.fault("slack", "status", "usergroups.users.list", status=503)
    error = await classified(adapters.slack(deadline=DEADLINE).members(SLACK_TOKEN, GROUP))
    assert isinstance(error, Transient) and error.reason == "SlackUnavailable"
    attempts = [r for r in sandbox.control.requests(api="slack") if r["method"] == "usergroups.users.list"]
    assert len(attempts) == 3  # bounded: the first try and two retries, never a tight loop
