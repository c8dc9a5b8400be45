"""People changing under the operator: deactivation, e-mail changes; where write arguments travel; the log."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlencode, urlsplit

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from oncall_sandbox import ControlError, SandboxServer


def _error(call: object) -> str:
    assert callable(call)
    with pytest.raises(SlackApiError) as caught:
        call()
    return str(caught.value.response["error"])


def test_deactivate_while_on_call(sandbox: SandboxServer, slack: WebClient) -> None:
    slack.usergroups_users_update(usergroup="S0SBXPAY1", users=["U0SBX0A01", "U0SBX0B02"])
    changed = sandbox.control.deactivate("U0SBX0A01")
    assert changed["deleted"] is True and changed["removed_from_groups"] == ["S0SBXPAY1"]
    # Slack takes a deactivated account out of its groups; the group's own write count is untouched.
    group = sandbox.control.usergroup("payments-oncall")
    assert group is not None and group["users"] == ["U0SBX0B02"] and group["updates"] == 1
    info = slack.users_info(user="U0SBX0A01")["user"]
    assert info["deleted"] is True and "is_admin" not in info
    assert _error(lambda: slack.users_lookupByEmail(email="alice@acme.example")) == "users_not_found"
    # Writing a deactivated member: dropped silently, or refused when no one else is left.
    assert slack.usergroups_users_update(usergroup="S0SBXPAY1", users=["U0SBX0A01", "U0SBX0C03"])[
        "usergroup"
    ]["users"] == ["U0SBX0C03"]
    assert _error(lambda: slack.usergroups_users_update(usergroup="S0SBXPAY1", users=["U0SBX0A01"])) == (
        "invalid_users"
    )
    # Reactivated: visible again, but not put back into groups.
    assert sandbox.control.reactivate("U0SBX0A01")["removed_from_groups"] == []
    assert slack.users_info(user="U0SBX0A01")["user"]["deleted"] is False
    assert slack.users_lookupByEmail(email="alice@acme.example")["user"]["id"] == "U0SBX0A01"
    assert sandbox.control.usergroup("payments-oncall")["users"] == ["U0SBX0C03"]  # type: ignore[index]


def test_change_email(sandbox: SandboxServer, slack: WebClient) -> None:
    assert _error(lambda: slack.users_lookupByEmail(email="erin@acme.example")) == "users_not_found"
    sandbox.control.set_email("U0SBX0E05", "Erin@acme.example")
    assert slack.users_lookupByEmail(email="erin@acme.example")["user"]["id"] == "U0SBX0E05"
    assert _error(lambda: slack.users_lookupByEmail(email="erin.kowalski@acme.example")) == "users_not_found"
    with pytest.raises(ControlError) as caught:
        sandbox.control.set_email("U0SBX0B02", "alice@acme.example")
    assert caught.value.status == 400 and "U0SBX0A01" in caught.value.body
    with pytest.raises(ControlError) as missing:
        sandbox.control.deactivate("U0NOBODY1")
    assert missing.value.status == 404
    users = {u["id"]: u for u in sandbox.control.slack_users()}
    assert users["U0SBX0E05"]["email"] == "Erin@acme.example" and users["U0SBX0I09"]["deleted"] is True


@pytest.mark.parametrize("encoding", ["form", "json"])
def test_write_arguments_in_the_post_body(sandbox: SandboxServer, slack: WebClient, encoding: str) -> None:
    def call(method: str, **arguments: object) -> dict[str, object]:
        if encoding == "json":
            return dict(slack.api_call(method, json=arguments).data)  # type: ignore[arg-type]
        form = {k: ",".join(v) if isinstance(v, list) else v for k, v in arguments.items()}
        return dict(slack.api_call(method, data=form).data)  # type: ignore[arg-type]

    assert call("usergroups.users.update", usergroup="S0SBXPAY1", users=["U0SBX0B02", "U0SBX0C03"])["ok"]
    assert call("usergroups.update", usergroup="S0SBXPAY1", description="from the body")["ok"]
    assert call("conversations.setTopic", channel="C0SBXPAY1", topic=f"topic via {encoding}")["ok"]
    assert call("chat.postMessage", channel="C0SBXPAY1", text=f"message via {encoding}")["ok"]
    created = call("usergroups.create", name=f"Body {encoding}", handle=f"body-{encoding}")
    assert created["ok"]
    group = sandbox.control.usergroup("payments-oncall")
    assert group is not None and group["users"] == ["U0SBX0B02", "U0SBX0C03"]
    assert sandbox.control.topics()["C0SBXPAY1"]["topic"] == f"topic via {encoding}"
    assert sandbox.control.messages("C0SBXPAY1")[-1]["text"] == f"message via {encoding}"
    # Every write names its target in the request log.
    targets = [(r["method"], r["target"]) for r in sandbox.control.requests(api="slack")]
    assert targets == [
        ("usergroups.users.update", "S0SBXPAY1"),
        ("usergroups.update", "S0SBXPAY1"),
        ("conversations.setTopic", "C0SBXPAY1"),
        ("chat.postMessage", "C0SBXPAY1"),
        ("usergroups.create", created["usergroup"]["id"]),  # type: ignore[index]
    ]


def test_huge_query_string_meets_the_request_line_limit(sandbox: SandboxServer) -> None:
    """aiohttp refuses request lines over 8190 bytes with 400 text/plain, before any handler (realistic:
    Slack's front end also limits URLs). The same arguments in a form body go through."""
    users = ",".join(["U0SBX0B02"] * 1000)  # ~10 KB
    parts = urlsplit(sandbox.url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    query = urlencode({"usergroup": "S0SBXPAY1", "users": users})
    connection.request(
        "POST", f"/api/usergroups.users.update?{query}", headers={"Authorization": "Bearer xoxb-sandbox-bot"}
    )
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert response.status == 400 and response.getheader("Content-Type", "").startswith("text/plain")
    assert body.startswith(b"Got more than 8190 bytes when reading")
    assert sandbox.control.requests() == []  # refused before the sandbox saw it
    form = WebClient(token="xoxb-sandbox-bot", base_url=sandbox.slack_url)
    assert form.usergroups_users_update(usergroup="S0SBXPAY1", users=users)["usergroup"]["users"] == [
        "U0SBX0B02"
    ]


async def test_async_client_puts_post_arguments_in_the_query(sandbox: SandboxServer) -> None:
    """slack-sdk's AsyncWebClient sends `params=` in the query string even for POST: a large member
    list then hits the request-line limit; `json=` keeps it in the body."""
    client = AsyncWebClient(token="xoxb-sandbox-bot", base_url=sandbox.slack_url)
    users = ",".join(["U0SBX0B02"] * 1000)
    with pytest.raises(SlackApiError) as caught:
        await client.api_call("usergroups.users.update", params={"usergroup": "S0SBXPAY1", "users": users})
    assert caught.value.response.status_code == 400
    ok = await client.api_call(
        "usergroups.users.update", json={"usergroup": "S0SBXPAY1", "users": users.split(",")}
    )
    assert ok["usergroup"]["users"] == ["U0SBX0B02"]


def test_request_log_times_and_precise_group_update(sandbox: SandboxServer, slack: WebClient) -> None:
    sandbox.control.set_clock("2025-06-02T06:30:00.250000+00:00")
    slack.auth_test()
    slack.usergroups_users_update(usergroup="S0SBXPAY1", users=["U0SBX0B02"])
    read, write = sandbox.control.requests()
    assert read["target"] is None and write["target"] == "S0SBXPAY1"
    assert write["sandbox_time"] == "2025-06-02T06:30:00.250000+00:00"
    assert write["sandbox_timestamp"] == pytest.approx(1748845800.25)
    group = sandbox.control.usergroup("payments-oncall")
    assert group is not None and group["date_update"] == 1748845800
    assert group["date_update_precise"] == pytest.approx(1748845800.25)
    # Slack's own answer keeps the integer.
    listed = slack.usergroups_list()["usergroups"][0]
    assert listed["date_update"] == 1748845800 and isinstance(listed["date_update"], int)
    assert json.loads(json.dumps(write))["time"].count(".") == 1
