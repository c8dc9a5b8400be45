"""Large directories from a few seed lines: 12k Slack users, 10k PagerDuty users, their paging limits."""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from oncall_sandbox import SandboxSeed, SandboxServer

SLACK_USERS, PD_USERS, SCHEDULES = 12_000, 10_000, 2_000


def _big(seed: SandboxSeed) -> dict[str, Any]:
    document = seed.model_dump(mode="json")
    document["slack"]["generated_users"] = {
        "count": SLACK_USERS,
        "email_domain": "bulk.example",
        "deactivated_every": 50,
        "guest_every": 70,
        "never_logged_in_every": 10,
    }
    document["pagerduty"]["generated_users"] = {
        "count": PD_USERS,
        "email_domain": "bulk.example",
        "team": "PTSRE02",
    }
    document["pagerduty"]["generated_schedules"] = {"count": SCHEDULES, "users_per_schedule": 2}
    return document


@pytest.fixture
def big(sandbox: SandboxServer, seed: SandboxSeed) -> Iterator[SandboxServer]:
    started = time.monotonic()
    sandbox.control.load(_big(seed))
    # Measured ~0.4 s to build (docs/sandbox.md); generous here for a busy CI machine.
    assert time.monotonic() - started < 5
    sandbox.control.rate_limit(enabled=False)
    yield sandbox
    sandbox.control.reset()


def test_users_list_needs_a_limit_and_pages_by_cursor(big: SandboxServer) -> None:
    slack = WebClient(token="xoxb-sandbox-bot", base_url=big.slack_url)
    with pytest.raises(SlackApiError) as caught:
        slack.users_list()
    assert caught.value.response["error"] == "limit_required"
    started = time.monotonic()
    sizes, ids = [], []
    for page in slack.users_list(limit=1000):
        sizes.append(len(page["members"]))
        ids += [m["id"] for m in page["members"]]
    assert time.monotonic() - started < 10
    assert len(ids) == len(set(ids)) == SLACK_USERS + 14 and max(sizes) == 1000 and len(sizes) == 13
    with pytest.raises(SlackApiError) as bad:
        slack.users_list(limit=10, cursor="dXNlcjpVMDAwMDAwMDA=")  # "user:U00000000", not a member
    assert bad.value.response["error"] == "invalid_cursor"


def test_generated_people_look_real(big: SandboxServer) -> None:
    slack = WebClient(token="xoxb-sandbox-bot", base_url=big.slack_url)
    user = slack.users_lookupByEmail(email="user00051@bulk.example")["user"]
    assert user["id"] == "U90000051" and user["name"] == "user00051" and not user["deleted"]
    with pytest.raises(SlackApiError):
        slack.users_lookupByEmail(email="user00050@bulk.example")  # every 50th is deactivated
    assert slack.users_info(user="U90000050")["user"]["deleted"] is True
    assert slack.users_info(user="U90000070")["user"]["is_restricted"] is True  # every 70th a guest
    pd = big.pagerduty_client()
    assert pd.rget("/users/PU0000051")["email"] == "user00051@bulk.example"  # same address as Slack's


def test_pagerduty_offset_pagination_and_its_cap(big: SandboxServer) -> None:
    pd = big.pagerduty_client()
    last = pd.get("/users", params={"offset": 9900, "limit": 100, "total": "true"}).json()
    assert len(last["users"]) == 100 and last["more"] is True and last["total"] == PD_USERS + 12
    beyond = pd.get("/users", params={"offset": 9901, "limit": 100})
    assert beyond.status_code == 400
    assert beyond.json()["error"] == {
        "message": "Invalid Input Provided",
        "code": 2001,
        "errors": ["Offset must be less than 10000."],
    }
    # The SDK knows the cap and stops short of it: past 10,000, list by a narrower filter.
    started = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        users = list(pd.iter_all("users", page_size=100))
    assert len(users) == 10_000 and any("maximum permitted" in str(w.message) for w in caught)
    assert time.monotonic() - started < 15
    assert len(list(pd.iter_all("users", params={"query": "user0999"}))) == 10
    schedules = list(pd.iter_all("schedules", page_size=100))
    assert len(schedules) == SCHEDULES + 6 and schedules[-1]["id"] == "PSSHADO"
    members = pd.get("/teams/PTSRE02/members", params={"total": "true"}).json()
    assert members["total"] == PD_USERS + 5


def test_access_logs_at_scale(big: SandboxServer) -> None:
    admin = WebClient(token="xoxp-sandbox-admin", base_url=big.slack_url)
    first = admin.team_accessLogs(count=1000, page=1)
    logged_in = SLACK_USERS - SLACK_USERS // 10 + 6  # every 10th never logged in; 6 seeded entries
    assert first["paging"] == {"count": 1000, "total": logged_in, "page": 1, "pages": 11}
    dates = [entry["date_last"] for entry in first["logins"]]
    assert dates == sorted(dates, reverse=True)
    stale = admin.team_accessLogs(count=1000, page=1, before=int(time.time()) - 10 * 365 * 86400)
    assert stale["paging"]["total"] == 0
    before = first["logins"][-1]["date_last"]
    older = admin.team_accessLogs(count=10, before=before)["logins"]
    assert all(entry["date_last"] <= before for entry in older)
    for arguments in ({"count": 1001}, {"count": 100, "page": 101}, {"limit": 1001}):
        with pytest.raises(SlackApiError) as caught:
            admin.team_accessLogs(**arguments)
        assert caught.value.response["error"] == "over_pagination_limit"


def test_access_logs_token_type_and_plans(
    sandbox: SandboxServer, seed: SandboxSeed, slack: WebClient
) -> None:
    with pytest.raises(SlackApiError) as caught:
        slack.team_accessLogs()  # a bot token, though it holds `admin`
    assert caught.value.response["error"] == "not_allowed_token_type"
    document = seed.model_dump(mode="json")
    document["slack"]["access_logs_plans"] = ["enterprise"]
    sandbox.control.load(document)
    admin = WebClient(token="xoxp-sandbox-admin", base_url=sandbox.slack_url)
    with pytest.raises(SlackApiError) as paid:
        admin.team_accessLogs()
    assert paid.value.response["error"] == "paid_only"
    sandbox.control.set_plan("enterprise")
    assert admin.team_accessLogs()["paging"]["total"] == 6
    document["slack"]["access_logs_user_tokens_only"] = False
    sandbox.control.load(document)
    sandbox.control.set_plan("enterprise")
    assert slack.team_accessLogs()["ok"]
