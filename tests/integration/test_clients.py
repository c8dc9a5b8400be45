"""The operator's own Slack and PagerDuty adapters against the sandbox, over HTTP with the real SDKs."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from conftest import Adapters
from oncall_operator.core.errors import Misconfigured, NotFound, Unauthorized
from oncall_sandbox import SandboxServer

SLACK_TOKEN = "xoxb-sandbox-bot"
PD_TOKEN = "pd-sandbox-token"
SCHEDULES = ["PSPAYP1", "PSPAYS2", "PSFTSAP", "PSFTSEU", "PSFTSAM"]


async def test_on_call_reads_of_resources_sharing_a_token_are_batched(
    sandbox: SandboxServer, adapters: Adapters
) -> None:
    client = adapters.pagerduty()
    now = sandbox.control.now()
    results = await asyncio.gather(
        *(
            client.on_call(
                PD_TOKEN, schedules=[schedule], policies=[], since=now, until=now + timedelta(hours=1)
            )
            for schedule in SCHEDULES
        )
    )
    reads = [r for r in sandbox.control.requests(api="pagerduty") if r["method"] == "GET /oncalls"]
    assert len(reads) == 1
    # One read answers everyone, each with the shifts of its own schedule only.
    for schedule, result in zip(SCHEDULES, results, strict=True):
        assert {shift.schedule for shift in result} <= {schedule}
    assert sum(map(len, results)) > len(SCHEDULES) // 2
    # Every shift carries ids and times only; emails stay in the adapter's cache.
    assert all(shift.pagerduty_user.startswith("P") for shift in results[0])


async def test_pagerduty_errors_have_reasons(sandbox: SandboxServer, adapters: Adapters) -> None:
    client = adapters.pagerduty()
    with pytest.raises(NotFound) as not_found:
        await client.check_exists(PD_TOKEN, "schedules", "PNOSUCH1")
    assert not_found.value.reason == "ScheduleNotFound"
    with pytest.raises(Unauthorized) as auth:
        await client.check_exists("pd-wrong-token", "schedules", "PSPAYP1")
    assert auth.value.reason == "AuthFailed"


async def test_pagerduty_server_errors_are_retried(sandbox: SandboxServer, adapters: Adapters) -> None:
    sandbox.control.fault("pagerduty", "status", "GET /oncalls", status=502, count=2)
    now = sandbox.control.now()
    shifts = await adapters.pagerduty().on_call(
        PD_TOKEN, schedules=["PSPAYP1"], policies=[], since=now, until=now + timedelta(hours=1)
    )
    assert shifts
    statuses = [
        r["status"] for r in sandbox.control.requests(api="pagerduty") if r["method"] == "GET /oncalls"
    ]
    assert statuses == [502, 502, 200]


async def test_a_write_that_landed_despite_a_5xx_is_not_sent_again(
    sandbox: SandboxServer, adapters: Adapters
) -> None:
    slack = adapters.slack()
    sandbox.control.fault("slack", "status_after_apply", "usergroups.users.update", status=503, count=1)
    await slack.set_members(SLACK_TOKEN, "S0SBXPAY1", ["U0SBX0B02"], priority=0)
    group = sandbox.control.usergroup("payments-oncall")
    assert group is not None and group["users"] == ["U0SBX0B02"] and group["updates"] == 1
    methods = [r["method"] for r in sandbox.control.requests(api="slack")]
    assert methods.count("usergroups.users.update") == 1


async def test_slack_429_waits_for_retry_after_and_succeeds(
    sandbox: SandboxServer, adapters: Adapters
) -> None:
    slack = adapters.slack()
    sandbox.control.fault("slack", "rate_limit", "usergroups.users.list", retry_after=1, count=2)
    members = await slack.members(SLACK_TOKEN, "S0SBXPAY1")
    assert members == ["U0SBX0A01"]
    statuses = [
        r["status"] for r in sandbox.control.requests(api="slack") if r["method"] == "usergroups.users.list"
    ]
    assert statuses == [429, 429, 200]


async def test_slack_errors_have_reasons(sandbox: SandboxServer, adapters: Adapters) -> None:
    slack = adapters.slack()
    with pytest.raises(Unauthorized) as scope:
        await slack.set_members("xoxb-sandbox-limited", "S0SBXPAY1", ["U0SBX0B02"], priority=0)
    assert scope.value.reason == "MissingScope" and "usergroups:write" in scope.value.message
    with pytest.raises(Unauthorized) as auth:
        await slack.members("xoxb-nope", "S0SBXPAY1")
    assert auth.value.reason == "AuthFailed"
    with pytest.raises(Misconfigured) as channel:
        await slack.set_topic(SLACK_TOKEN, "C0SBXGEN3", "hello")
    assert channel.value.reason == "NotInChannel"
    sandbox.control.set_plan("free")
    with pytest.raises(Misconfigured) as plan:
        await slack.find_group(SLACK_TOKEN, "payments-oncall")
    assert plan.value.reason == "PlanUpgradeRequired"


async def test_email_lookups_are_cached_per_token(sandbox: SandboxServer, adapters: Adapters) -> None:
    slack = adapters.slack()
    first = await slack.user_by_email(SLACK_TOKEN, "bob@acme.example")
    again = await slack.user_by_email(SLACK_TOKEN, "bob@acme.example")
    missing = await slack.user_by_email(SLACK_TOKEN, "niko@acme.example")
    await slack.user_by_email(SLACK_TOKEN, "niko@acme.example")
    assert first == again and again is not None and again.id == "U0SBX0B02" and missing is None
    lookups = [r for r in sandbox.control.requests(api="slack") if r["method"] == "users.lookupByEmail"]
    assert len(lookups) == 2


def test_sandbox_clock_is_what_the_operator_schedules_against(sandbox: SandboxServer) -> None:
    from oncall_operator.clients.clock import SandboxClock

    sandbox.control.set_clock("2025-06-02T09:59:00+00:00")
    now = asyncio.run(SandboxClock(sandbox.url).now())
    assert abs(now - datetime.fromisoformat("2025-06-02T09:59:00+00:00")) < timedelta(seconds=5)


async def test_a_caller_arriving_while_a_batch_is_in_flight_is_answered(
    sandbox: SandboxServer, adapters: Adapters
) -> None:
    """The defect: a read asked for during another's in-flight read waited for a third caller."""
    client = adapters.pagerduty()
    sandbox.control.fault("pagerduty", "latency", "GET /oncalls", latency_seconds=1.0, count=1)
    now = sandbox.control.now()
    first = asyncio.create_task(
        client.on_call(
            PD_TOKEN, schedules=["PSPAYP1"], policies=[], since=now, until=now + timedelta(hours=1)
        )
    )
    await asyncio.sleep(0.3)  # the first batch is on the wire now
    late = await asyncio.wait_for(
        client.on_call(
            PD_TOKEN, schedules=["PSPAYS2"], policies=[], since=now, until=now + timedelta(hours=2)
        ),
        10,
    )
    assert (await first) and late is not None
    assert {shift.schedule for shift in late} <= {"PSPAYP1", "PSPAYS2"}


async def test_one_request_that_fails_its_batch_does_not_fail_the_others(
    sandbox: SandboxServer, adapters: Adapters
) -> None:
    """A window PagerDuty refuses (over 90 days) fails only the caller who asked for it."""
    client = adapters.pagerduty()
    now = sandbox.control.now()
    good, bad = await asyncio.gather(
        client.on_call(
            PD_TOKEN, schedules=["PSPAYP1"], policies=[], since=now, until=now + timedelta(hours=1)
        ),
        client.on_call(
            PD_TOKEN, schedules=["PSPAYS2"], policies=[], since=now, until=now + timedelta(days=120)
        ),
        return_exceptions=True,
    )
    assert isinstance(good, list) and good
    assert isinstance(bad, Misconfigured) and "400" in bad.message
