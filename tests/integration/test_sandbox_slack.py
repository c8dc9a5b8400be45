"""slack-sdk's WebClient / AsyncWebClient against the sandbox: methods, errors, scopes, plans, limits."""

from __future__ import annotations

import re
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from oncall_sandbox import SandboxServer

USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def _error(call: object) -> SlackApiError:
    assert callable(call)
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value


def test_users_list_paginates_to_the_end(slack: WebClient) -> None:
    # The SDK's iterator reuses one response object, so take what each page holds as it comes.
    members: list[dict[str, object]] = []
    sizes, cursors = [], []
    for page in slack.users_list(limit=4):
        sizes.append(len(page["members"]))
        cursors.append(page["response_metadata"]["next_cursor"])
        members += page["members"]
    assert sizes == [4, 4, 4, 2] and cursors[-1] == "" and all(cursors[:-1])
    ids = [str(m["id"]) for m in members]
    assert len(ids) == len(set(ids)) == 14
    assert all(USER_ID.match(i) for i in ids)
    alice: dict[str, Any] = next(m for m in members if m["id"] == "U0SBX0A01")
    assert alice["team_id"] == "T0SBX4N8Q" and alice["profile"]["email"] == "alice@acme.example"
    assert alice["tz"] == "Europe/Berlin" and alice["profile"]["image_72"].startswith("https://")


def test_email_needs_users_read_email(sandbox: SandboxServer) -> None:
    sandbox.control.token("slack", "xoxb-no-email", scopes=["users:read"])
    client = WebClient(token="xoxb-no-email", base_url=sandbox.slack_url)
    assert "email" not in client.users_info(user="U0SBX0A01")["user"]["profile"]
    error = _error(lambda: client.users_lookupByEmail(email="alice@acme.example"))
    assert error.response["error"] == "missing_scope"
    assert error.response["needed"] == "users:read.email" and error.response["provided"] == "users:read"


def test_lookup_by_email(slack: WebClient) -> None:
    assert slack.users_lookupByEmail(email="Bob@acme.example")["user"]["id"] == "U0SBX0B02"
    # Deactivated users and the mismatched address are not found, as on Slack.
    for email in ("ivan@acme.example", "erin@acme.example"):
        assert (
            _error(lambda e=email: slack.users_lookupByEmail(email=e)).response["error"] == "users_not_found"
        )


def test_auth_errors(sandbox: SandboxServer) -> None:
    assert _error(lambda: WebClient(base_url=sandbox.slack_url).auth_test()).response["error"] == "not_authed"
    unknown = WebClient(token="xoxb-nope", base_url=sandbox.slack_url)
    assert _error(unknown.auth_test).response["error"] == "invalid_auth"
    sandbox.control.token("slack", "xoxb-sandbox-bot", revoked=True)
    revoked = WebClient(token="xoxb-sandbox-bot", base_url=sandbox.slack_url)
    assert _error(revoked.auth_test).response["error"] == "invalid_auth"
    # Rotation: a new token with the same scopes works.
    sandbox.control.token("slack", "xoxb-rotated", scopes=["usergroups:read"])
    assert WebClient(token="xoxb-rotated", base_url=sandbox.slack_url).auth_test()["user_id"] == "U0SBXBOT1"


def test_missing_scope_for_writes(sandbox: SandboxServer) -> None:
    limited = WebClient(token="xoxb-sandbox-limited", base_url=sandbox.slack_url)
    assert limited.usergroups_list()["ok"]
    error = _error(lambda: limited.usergroups_users_update(usergroup="S0SBXPAY1", users=["U0SBX0B02"]))
    assert error.response["error"] == "missing_scope" and error.response["needed"] == "usergroups:write"
    assert "usergroups:read" in error.response["provided"].split(",")
    assert sandbox.control.usergroup("payments-oncall")["updates"] == 0  # type: ignore[index]


def test_usergroup_lifecycle(sandbox: SandboxServer, slack: WebClient) -> None:
    created = slack.usergroups_create(name="Checkout On-Call", handle="checkout-oncall")["usergroup"]
    assert re.match(r"^S[A-Z0-9]{2,}$", created["id"]) and created["date_delete"] == 0
    assert _error(lambda: slack.usergroups_create(name="Other", handle="checkout-oncall")).response[
        "error"
    ] == ("name_already_exists")
    group = created["id"]
    updated = slack.usergroups_users_update(usergroup=group, users="U0SBX0A01,U0SBX0B02")["usergroup"]
    assert updated["users"] == ["U0SBX0A01", "U0SBX0B02"] and updated["user_count"] == 2
    disabled = slack.usergroups_disable(usergroup=group)["usergroup"]
    assert disabled["date_delete"] != 0
    listed = slack.usergroups_list(include_users=True)["usergroups"]
    assert group not in [g["id"] for g in listed]
    with_disabled = slack.usergroups_list(include_disabled=True, include_users=True)["usergroups"]
    assert next(g for g in with_disabled if g["id"] == group)["users"] == ["U0SBX0A01", "U0SBX0B02"]
    assert _error(lambda: slack.usergroups_users_list(usergroup=group)).response["error"] == "no_such_subteam"
    assert slack.usergroups_users_list(usergroup=group, include_disabled=True)["users"] == [
        "U0SBX0A01",
        "U0SBX0B02",
    ]
    slack.usergroups_enable(usergroup=group)
    state = sandbox.control.usergroup("checkout-oncall")
    assert state is not None and state["enabled"] and state["updates"] == 1
    assert _error(lambda: slack.usergroups_enable(usergroup="S0NOPE")).response["error"] == "no_such_subteam"


def test_users_update_edge_cases(sandbox: SandboxServer, slack: WebClient) -> None:
    def update(users: object) -> str:
        return _error(lambda: slack.usergroups_users_update(usergroup="S0SBXPAY1", users=users)).response[
            "error"
        ]

    # Slack refuses to empty a group; the operator disables it instead.
    assert update([]) == "no_users_provided"
    assert update("") == "no_users_provided"
    assert update(["U0SBX0A01", "U0NOBODY1"]) == "invalid_users"
    assert update(["U0SBX0J10"]) == "invalid_users"  # guest
    assert update(["U0SBXBOT1"]) == "invalid_users"  # bot
    assert update(["U0SBX0I09"]) == "invalid_users"  # only deactivated users
    assert sandbox.control.usergroup("payments-oncall")["updates"] == 0  # type: ignore[index]
    # Deactivated members are dropped silently.
    group = slack.usergroups_users_update(usergroup="S0SBXPAY1", users=["U0SBX0I09", "U0SBX0B02"])[
        "usergroup"
    ]
    assert group["users"] == ["U0SBX0B02"]
    # JSON bodies with a real array work too, as Slack documents.
    slack.api_call(
        "usergroups.users.update", json={"usergroup": "S0SBXPAY1", "users": ["U0SBX0C03", "W0SBX0L12"]}
    )
    assert sandbox.control.usergroup("payments-oncall")["users"] == ["U0SBX0C03", "W0SBX0L12"]  # type: ignore[index]


def test_free_plan(sandbox: SandboxServer, slack: WebClient) -> None:
    sandbox.control.set_plan("free")
    assert _error(slack.usergroups_list).response["error"] == "paid_teams_only"
    assert _error(lambda: slack.usergroups_create(name="X")).response["error"] == "paid_teams_only"
    admin = WebClient(token="xoxp-sandbox-admin", base_url=sandbox.slack_url)
    assert _error(admin.team_accessLogs).response["error"] == "paid_only"


def test_topics(sandbox: SandboxServer, slack: WebClient) -> None:
    slack.conversations_setTopic(channel="C0SBXPAY1", topic="On call: Bob")
    assert _error(lambda: slack.conversations_setTopic(channel="C0SBXPAY1", topic="x" * 251)).response[
        "error"
    ] == ("too_long")
    assert _error(lambda: slack.conversations_setTopic(channel="C0SBXGEN3", topic="x")).response["error"] == (
        "not_in_channel"
    )
    for hidden in ("C0SBXHID5", "C0NOPE"):
        assert _error(lambda c=hidden: slack.conversations_setTopic(channel=c, topic="x")).response[
            "error"
        ] == ("channel_not_found")
    slack.conversations_setTopic(channel="C0SBXPAY1", topic="x" * 250)
    topics = sandbox.control.topics()["C0SBXPAY1"]
    assert topics["topic"] == "x" * 250 and [h["topic"] for h in topics["history"]] == [
        "On call: Bob",
        "x" * 250,
    ]
    assert slack.conversations_info(channel="C0SBXPAY1")["channel"]["topic"]["value"] == "x" * 250


def test_post_message(sandbox: SandboxServer, slack: WebClient) -> None:
    posted = slack.chat_postMessage(channel="C0SBXPAY1", text="Handoff: Bob is on call")
    assert posted["channel"] == "C0SBXPAY1" and posted["message"]["text"] == "Handoff: Bob is on call"
    assert (
        _error(lambda: slack.chat_postMessage(channel="C0SBXGEN3", text="x")).response["error"]
        == "not_in_channel"
    )
    assert (
        _error(lambda: slack.chat_postMessage(channel="C0NOPE", text="x")).response["error"]
        == "channel_not_found"
    )
    messages = sandbox.control.messages(channel="C0SBXPAY1")
    assert [m["text"] for m in messages] == ["Handoff: Bob is on call"] and messages[0]["ts"] == posted["ts"]


def test_access_logs_paging(sandbox: SandboxServer) -> None:
    # A user token's method: a workspace admin's token, as on Slack.
    slack = WebClient(token="xoxp-sandbox-admin", base_url=sandbox.slack_url)
    first = slack.team_accessLogs(count=4, page=1)
    assert first["paging"] == {"count": 4, "total": 6, "page": 1, "pages": 2}
    assert first["logins"][0]["user_id"] == "U0SBX0M13"  # most recent first
    assert len(slack.team_accessLogs(count=4, page=2)["logins"]) == 2
    assert sum(len(p["logins"]) for p in slack.team_accessLogs(limit=4)) == 6


def test_rate_limit_then_retry(sandbox: SandboxServer) -> None:
    sandbox.control.rate_limit(api="slack", method="users.info", per_minute=2, window_seconds=1)
    client = WebClient(token="xoxb-sandbox-bot", base_url=sandbox.slack_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
    for _ in range(3):
        assert client.users_info(user="U0SBX0A01")["ok"]
    statuses = [r["status"] for r in sandbox.control.requests(api="slack", method="users.info")]
    assert statuses == [200, 200, 429, 200]


def test_rate_limit_answer_shape(sandbox: SandboxServer, slack: WebClient) -> None:
    sandbox.control.rate_limit(api="slack", method="usergroups.list", per_minute=1)
    slack.usergroups_list()
    error = _error(slack.usergroups_list)
    assert error.response.status_code == 429 and error.response["error"] == "ratelimited"
    assert 1 <= int(error.response.headers["Retry-After"]) <= 60


def test_default_tier_2_limit(sandbox: SandboxServer, slack: WebClient) -> None:
    for _ in range(20):
        slack.usergroups_users_list(usergroup="S0SBXPAY1")
    assert _error(lambda: slack.usergroups_users_list(usergroup="S0SBXPAY1")).response.status_code == 429
    # Per token: another token still has its budget.
    other = WebClient(token="xoxb-sandbox-limited", base_url=sandbox.slack_url)
    assert other.usergroups_users_list(usergroup="S0SBXPAY1")["ok"]


async def test_async_client(sandbox: SandboxServer) -> None:
    sandbox.control.rate_limit(api="slack", method="usergroups.users.update", per_minute=1, window_seconds=1)
    client = AsyncWebClient(token="xoxb-sandbox-bot", base_url=sandbox.slack_url)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
    ids = [m["id"] async for page in await client.users_list(limit=5) for m in page["members"]]
    assert len(ids) == 14
    await client.usergroups_users_update(usergroup="S0SBXPAY1", users=["U0SBX0B02"])
    await client.usergroups_users_update(usergroup="S0SBXPAY1", users=["U0SBX0C03"])
    assert (await client.usergroups_users_list(usergroup="S0SBXPAY1"))["users"] == ["U0SBX0C03"]
    statuses = [r["status"] for r in sandbox.control.requests(method="usergroups.users.update")]
    assert statuses == [200, 429, 200]
    with pytest.raises(SlackApiError) as caught:
        await client.conversations_setTopic(channel="C0SBXPAY1", topic="y" * 300)
    assert caught.value.response["error"] == "too_long"
