"""The cleanup views of the adapters against the sandbox: complete listings or an error, the edits,
refusals read from PagerDuty's answers, and a Slack write checked before it is sent again."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest

from oncall_operator.api.reasons import ExternalReason
from oncall_operator.clients.pagerduty import PagerDuty
from oncall_operator.clients.pagerduty_people import PagerDutyPeople
from oncall_operator.clients.slack import Slack
from oncall_operator.clients.slack_people import SlackPeople
from oncall_operator.core.cleanup.progress import ChangeState
from oncall_operator.core.errors import IncompleteListing, Misconfigured, Unauthorized
from oncall_sandbox import SandboxServer
from support import scenario
from support.cleanup import SLACK_ADMIN_TOKEN, cleanup_seed


@pytest.fixture
def seeded(sandbox: SandboxServer) -> Iterator[SandboxServer]:
    sandbox.control.load(cleanup_seed())
    sandbox.control.clear_requests()
    yield sandbox


OPEN: list[tuple[PagerDuty, Slack]] = []


def people(sandbox: SandboxServer) -> tuple[PagerDutyPeople, SlackPeople]:
    pagerduty, slack = (
        PagerDuty(sandbox.pagerduty_url, ca_file=str(sandbox.ca_file)),
        Slack(sandbox.slack_url),
    )
    OPEN.append((pagerduty, slack))
    return PagerDutyPeople(pagerduty), SlackPeople(slack)


@pytest.fixture(autouse=True)
async def close_clients() -> AsyncIterator[None]:
    yield
    while OPEN:
        pagerduty, slack = OPEN.pop()
        pagerduty.close()
        await slack.close()


async def test_listings_read_everyone_with_roles_teams_and_memberships(seeded: SandboxServer) -> None:
    pd, slack = people(seeded)
    users = {u.id: u for u in await pd.users(scenario.PD_TOKEN)}
    assert users["PNOSLK1"].role == "limited_user" and users["PGONE01"].teams == {"PTEAM01"}
    assert (await pd.schedule_members(scenario.PD_TOKEN))["PSCHEDX"] == {"PGONE01", "PBBB"}
    assert (await pd.policy_user_targets(scenario.PD_TOKEN))["PPOLICY"] == {"PONCALL", "PBBB"}
    now = seeded.control.now()
    on_call = await pd.on_call_between(scenario.PD_TOKEN, now, now + timedelta(hours=1))
    assert {"PONCALL", "PBBB"} <= on_call  # direct targets are always on call
    accounts = {u.id: u for u in await slack.users(scenario.SLACK_TOKEN)}
    assert (
        accounts["UGONE01"].deleted
        and accounts["UBOT"].bot
        and accounts["UGONE02"].email == "Gone2@Example.test"
    )
    assert (await slack.groups(scenario.SLACK_TOKEN))["S0VENDOR1"] == {"UCONTR1", "ULEAD"}


async def test_an_on_call_entry_without_a_user_is_an_incomplete_listing(seeded: SandboxServer) -> None:
    """Skipping the entry would hide someone on call: a cleanup could delete them, an erasure could
    think them off call (found by the hostile-answers table, `null_field oncalls[].user`)."""
    seeded.control.fault("pagerduty", "null_field", "GET /oncalls", field="oncalls[].user")
    pd, _ = people(seeded)
    now = seeded.control.now()
    with pytest.raises(IncompleteListing) as hidden:
        await pd.on_call_between(scenario.PD_TOKEN, now, now + timedelta(hours=1))
    assert hidden.value.reason == ExternalReason.INVALID_RESPONSE and "GET /oncalls" in hidden.value.message


async def test_more_users_than_classic_paging_reaches_is_an_incomplete_listing(
    sandbox: SandboxServer,
) -> None:
    seed = cleanup_seed()
    seed["pagerduty"]["generated_users"] = {"count": 10_000, "email_domain": "bulk.test"}
    sandbox.control.load(seed)
    pd, _ = people(sandbox)
    with pytest.raises(IncompleteListing) as too_long:
        await pd.users(scenario.PD_TOKEN)
    assert too_long.value.reason == ExternalReason.LISTING_TOO_LARGE


async def test_a_page_that_keeps_failing_is_an_incomplete_listing(sandbox: SandboxServer) -> None:
    seed = cleanup_seed(generated_slack_users=2500)
    sandbox.control.load(seed)
    sandbox.control.fault("slack", "status", "users.list", status=503, after_requests=2)
    _, slack = people(sandbox)
    with pytest.raises(IncompleteListing) as broken:
        await slack.users(scenario.SLACK_TOKEN)
    assert broken.value.reason == ExternalReason.INCOMPLETE_LISTING and "users.list" in broken.value.message


async def test_a_directory_without_the_tokens_own_account_is_an_incomplete_listing(
    sandbox: SandboxServer,
) -> None:
    """An `ok` answer listing nobody would make every PagerDuty user look missing from Slack (only the
    safety caps stood in the way): refused, since a whole directory lists the token's own account."""
    sandbox.control.load(cleanup_seed())
    sandbox.control.fault("slack", "set_field", "users.list", field="members", body=[])
    _, slack = people(sandbox)
    with pytest.raises(IncompleteListing) as cut:
        await slack.users(scenario.SLACK_TOKEN)
    assert cut.value.reason == ExternalReason.INCOMPLETE_LISTING and "own account" in cut.value.message


async def test_a_token_without_users_read_email_is_refused(seeded: SandboxServer) -> None:
    seeded.control.token("slack", "xoxb-no-email", scopes=["users:read", "usergroups:read"])
    _, slack = people(seeded)
    with pytest.raises(Unauthorized) as refused:
        await slack.users("xoxb-no-email")
    assert refused.value.reason == ExternalReason.MISSING_SCOPE


async def test_access_logs_need_a_persons_token_and_a_paid_plan(seeded: SandboxServer) -> None:
    _, slack = people(seeded)
    now = seeded.control.now()
    with pytest.raises(Misconfigured) as bot:
        await slack.last_logins(scenario.SLACK_TOKEN, now)
    assert bot.value.reason == ExternalReason.WRONG_TOKEN_TYPE
    assert await slack.last_logins(SLACK_ADMIN_TOKEN, now) == {}
    seeded.control.set_plan("free")
    with pytest.raises(Misconfigured) as free:
        await slack.last_logins(SLACK_ADMIN_TOKEN, now)
    assert free.value.reason == ExternalReason.PLAN_UPGRADE_REQUIRED


async def test_removals_and_refusals(seeded: SandboxServer) -> None:
    pd, _ = people(seeded)
    token = scenario.PD_TOKEN
    assert await pd.remove_from_schedule(token, "PSCHEDX", ["PGONE01"]) == {
        "PGONE01": (ChangeState.DONE, None)
    }
    assert await pd.remove_from_schedule(token, "PSOLO01", ["PNOSLK1"]) == {
        "PNOSLK1": (ChangeState.NEEDS_PERSON, "LastScheduleLayerMember")
    }
    assert await pd.remove_from_policy(token, "PPOLICY", ["PONCALL"]) == {"PONCALL": (ChangeState.DONE, None)}
    assert await pd.remove_from_policy(token, "PPOLICY", ["PBBB"]) == {
        "PBBB": (ChangeState.NEEDS_PERSON, "LastEscalationRuleTarget")
    }
    assert await pd.delete_user(token, "PGONE02") == (ChangeState.NEEDS_PERSON, "OpenIncidents")
    assert await pd.delete_user(token, "PGONE01") == (ChangeState.DONE, None)
    assert await pd.delete_user(token, "PGONE01") == (ChangeState.ALREADY_DONE, None)  # a 404 on a delete
    assert await pd.remove_from_team(token, "PNOTEAM", "PAAA") == (ChangeState.ALREADY_DONE, None)
    writes = [r for r in seeded.control.requests(api="pagerduty") if not r["method"].startswith("GET")]
    # Nothing is sent for the removals that would empty a layer or a rule.
    assert [(w["method"], w["target"]) for w in writes if w["method"].startswith("PUT")] == [
        ("PUT /schedules/{id}", "PSCHEDX"),
        ("PUT /escalation_policies/{id}", "PPOLICY"),
    ]


async def test_a_slack_write_that_landed_despite_an_error_is_not_sent_again(seeded: SandboxServer) -> None:
    seeded.control.fault("slack", "status_after_apply", "usergroups.users.update", status=503, count=1)
    _, slack = people(seeded)
    outcome = await slack.remove_members(scenario.SLACK_TOKEN, "S0STAFF01", ["UCONTR1", "UNOBODY"])
    assert outcome == {"UCONTR1": (ChangeState.DONE, None), "UNOBODY": (ChangeState.ALREADY_DONE, None)}
    updates = [r for r in seeded.control.requests(api="slack") if r["method"] == "usergroups.users.update"]
    assert [u["status"] for u in updates] == [503]
    last = await slack.remove_members(scenario.SLACK_TOKEN, "S0VENDOR1", ["UCONTR1", "ULEAD"])
    assert last == {u: (ChangeState.NEEDS_PERSON, "LastUserGroupMember") for u in ("UCONTR1", "ULEAD")}


@pytest.mark.parametrize("listing_above", [100, 0], ids=["one lookup each", "the directory in pages"])
async def test_show_resolves_people_live_either_way(seeded: SandboxServer, listing_above: int) -> None:
    from oncall_operator.core.cleanup.report import Person
    from oncall_operator.kinds.cleanuprun.commands import resolve_people

    pagerduty, slack = PagerDuty(seeded.pagerduty_url, ca_file=str(seeded.ca_file)), Slack(seeded.slack_url)
    OPEN.append((pagerduty, slack))
    seeded.control.clear_requests()
    people = await resolve_people(
        pagerduty,
        slack,
        scenario.PD_TOKEN,
        scenario.SLACK_TOKEN,
        ["PGONE01", "PNOSUCH"],
        ["UGONE02", "UNOSUCH"],
        listing_above=listing_above,
    )
    assert people == {
        "PGONE01": Person("pgone01", "gone1@example.test"),
        "PNOSUCH": Person(None, None),
        "UGONE02": Person("ugone02", "Gone2@Example.test"),
        "UNOSUCH": Person(None, None),
    }
    methods = {r["method"] for r in seeded.control.requests()}
    expected = {"GET /users", "users.list"} if listing_above == 0 else {"GET /users/{id}", "users.info"}
    assert methods == expected


async def test_runs_listing_at_once_share_one_read_of_each_listing(seeded: SandboxServer) -> None:
    """Fifty rules on one schedule and token fire together: each listing is read once, not fifty times."""
    pd, slack = people(seeded)

    async def one_run() -> tuple[object, ...]:
        return await asyncio.gather(
            pd.users(scenario.PD_TOKEN),
            pd.schedule_members(scenario.PD_TOKEN),
            slack.users(scenario.SLACK_TOKEN),
            slack.groups(scenario.SLACK_TOKEN),
        )

    results = await asyncio.gather(*(one_run() for _ in range(20)))
    assert all(r == results[0] for r in results)  # the same answer for every caller
    log = seeded.control.requests()
    counts = Counter(r["method"] for r in log)
    assert counts["users.list"] == 1 and counts["usergroups.list"] == 1
    assert counts["GET /users"] == 1 and counts["GET /schedules"] == 1, counts
    assert pd.in_flight.joined == 2 * 19 and slack.in_flight.joined == 2 * 19
    # Nothing is kept once the read is done: the next run reads afresh.
    await slack.users(scenario.SLACK_TOKEN)
    assert Counter(r["method"] for r in seeded.control.requests())["users.list"] == 2
