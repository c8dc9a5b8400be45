"""Hostile answers: what a proxy, a half-broken server or a paging bug can send, fault by fault."""

from __future__ import annotations

import http.client
import json
import socket
import time
import warnings
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pagerduty
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from oncall_sandbox import ControlError, SandboxServer

SLACK_AUTH = {"Authorization": "Bearer xoxb-sandbox-bot", "Content-Type": "application/x-www-form-urlencoded"}
PD_AUTH = {"Authorization": "Token token=pd-sandbox-token"}


def _connection(sandbox: SandboxServer, timeout: float = 10.0) -> http.client.HTTPConnection:
    parts = urlsplit(sandbox.url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)


def _request(
    sandbox: SandboxServer, verb: str, path: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[http.client.HTTPResponse, bytes]:
    connection = _connection(sandbox)
    connection.request(verb, path, body=body, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response, data


def _slack(sandbox: SandboxServer, method: str, form: str = "") -> tuple[http.client.HTTPResponse, bytes]:
    return _request(sandbox, "POST", f"/api/{method}", SLACK_AUTH, form.encode())


def _pd(sandbox: SandboxServer, path: str) -> tuple[http.client.HTTPResponse, bytes]:
    return _request(sandbox, "GET", f"/pagerduty{path}", PD_AUTH)


def test_html_error_page_from_a_proxy(sandbox: SandboxServer, slack: WebClient) -> None:
    sandbox.control.fault("slack", "html_error", method="usergroups.users.update", count=1)
    response, body = _slack(sandbox, "usergroups.users.update", "usergroup=S0SBXPAY1&users=U0SBX0B02")
    assert response.status == 502 and response.getheader("Content-Type", "").startswith("text/html")
    assert b"<title>502 Bad Gateway</title>" in body and b"nginx" in body
    # Answered instead of the handler: the write did not land.
    assert sandbox.control.usergroup("payments-oncall")["users"] == ["U0SBX0A01"]  # type: ignore[index]
    sandbox.control.fault("slack", "html_error", method="auth.test", status=503, count=1)
    with pytest.raises(SlackApiError) as caught:
        slack.auth_test()
    assert caught.value.response.status_code == 503


def test_plain_text_200(sandbox: SandboxServer) -> None:
    sandbox.control.fault("slack", "plain_text", method="usergroups.list", count=1)
    response, body = _slack(sandbox, "usergroups.list")
    assert response.status == 200 and response.getheader("Content-Type", "").startswith("text/plain")
    assert body.startswith(b"upstream connect error")
    sandbox.control.fault("pagerduty", "plain_text", method="GET /oncalls", text="ok", count=1)
    response, body = _pd(sandbox, "/oncalls")
    assert response.status == 200 and body == b"ok"


@pytest.mark.parametrize("value", [[], "x", None])
def test_json_that_is_not_an_object(sandbox: SandboxServer, value: Any) -> None:
    sandbox.control.fault("pagerduty", "json_body", method="GET /oncalls", body=value, count=1)
    response, body = _pd(sandbox, "/oncalls")
    assert response.status == 200 and json.loads(body) == value


def test_slack_error_that_is_not_a_string(sandbox: SandboxServer) -> None:
    sandbox.control.fault("slack", "json_body", method="auth.test", body={"ok": False, "error": 42}, count=1)
    assert json.loads(_slack(sandbox, "auth.test")[1]) == {"ok": False, "error": 42}


def test_json_body_needs_a_body(sandbox: SandboxServer) -> None:
    with pytest.raises(ControlError) as caught:
        sandbox.control.fault("slack", "json_body")
    assert caught.value.status == 400 and "needs `body`" in caught.value.body


def test_ok_true_without_or_with_null_payload(sandbox: SandboxServer, slack: WebClient) -> None:
    sandbox.control.fault("slack", "drop_field", method="usergroups.list", field="usergroups", count=1)
    assert slack.usergroups_list().data == {"ok": True}
    sandbox.control.fault("slack", "null_field", method="usergroups.list", field="usergroups", count=1)
    assert slack.usergroups_list().data == {"ok": True, "usergroups": None}
    assert len(slack.usergroups_list()["usergroups"]) == 1  # the faults are used up


def test_oncall_entries_missing_user_or_user_id(sandbox: SandboxServer) -> None:
    pd = sandbox.pagerduty_client()
    sandbox.control.fault("pagerduty", "drop_field", method="GET /oncalls", field="oncalls[0].user", count=1)
    entries = pd.list_all("oncalls")
    assert "user" not in entries[0] and all("user" in e for e in entries[1:])
    sandbox.control.fault(
        "pagerduty", "drop_field", method="GET /oncalls", field="oncalls[].user.id", count=1
    )
    entries = pd.list_all("oncalls")
    assert entries and all("id" not in e["user"] and e["user"]["type"] == "user_reference" for e in entries)


def test_set_field_adds_an_unexpected_field_or_gives_a_wrong_type(
    sandbox: SandboxServer, slack: WebClient
) -> None:
    pd = sandbox.pagerduty_client()
    sandbox.control.fault(
        "pagerduty", "set_field", method="GET /oncalls", field="oncalls[].user.nickname", body="🦄", count=1
    )
    entries = pd.list_all("oncalls")
    assert entries and all(e["user"]["nickname"] == "🦄" and e["user"]["id"] for e in entries)
    sandbox.control.fault("pagerduty", "set_field", method="GET /oncalls", field="oncalls[].user.id", body=42)
    assert {e["user"]["id"] for e in pd.list_all("oncalls")} == {42}
    sandbox.control.clear_faults()
    sandbox.control.fault(
        "slack", "set_field", method="usergroups.list", field="usergroups", body="S0X", count=1
    )
    assert slack.usergroups_list()["usergroups"] == "S0X"
    # A key that no object on the path has is added to the top level (an extra envelope field).
    sandbox.control.fault("slack", "set_field", method="auth.test", field="x_debug", body={"a": [1]}, count=1)
    assert slack.auth_test()["x_debug"] == {"a": [1]}
    with pytest.raises(ControlError) as caught:
        sandbox.control.fault("slack", "set_field", field="x")
    assert caught.value.status == 400 and "needs `body`" in caught.value.body


def test_drip_feed_sends_headers_then_a_byte_at_a_time(sandbox: SandboxServer) -> None:
    sandbox.control.fault("slack", "drip_feed", method="auth.test", interval_seconds=0.02, count=1)
    connection = _connection(sandbox)
    started = time.monotonic()
    connection.request("POST", "/api/auth.test", body=b"", headers=SLACK_AUTH)
    response = connection.getresponse()
    headers_after = time.monotonic() - started
    length = int(response.getheader("Content-Length", "0"))
    body = response.read()
    total = time.monotonic() - started
    connection.close()
    assert response.status == 200 and len(body) == length and json.loads(body)["ok"] is True
    assert headers_after < 0.5 and total >= length * 0.02 * 0.9


def test_headers_then_silence(sandbox: SandboxServer) -> None:
    sandbox.control.fault(
        "pagerduty", "headers_then_silence", method="GET /users", latency_seconds=1.0, count=1
    )
    connection = _connection(sandbox, timeout=0.3)
    connection.request("GET", "/pagerduty/users", headers=PD_AUTH)
    response = connection.getresponse()  # headers arrive at once
    assert response.status == 200 and response.getheader("Content-Length") == "1024"
    with pytest.raises((TimeoutError, socket.timeout)):
        response.read()
    connection.close()
    # The SDK with a read timeout shorter than the silence gives up; the next request is fine.
    time.sleep(0.8)
    assert sandbox.pagerduty_client().rget("/users/PALICE1")["id"] == "PALICE1"


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_huge_body_is_streamed(sandbox: SandboxServer) -> None:
    size = 64 * 1024 * 1024
    sandbox.control.fault("slack", "huge_body", method="users.list", size_bytes=size, count=1)
    before = _rss_mib()
    connection = _connection(sandbox, timeout=30)
    connection.request("POST", "/api/users.list", body=b"", headers=SLACK_AUTH)
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("Transfer-Encoding") == "chunked"
    received, head, tail = 0, b"", b""
    while chunk := response.read(1 << 20):
        head = head or chunk[:32]
        tail = (tail + chunk)[-2:]
        received += len(chunk)
    connection.close()
    assert received == size and head.startswith(b'{"ok": true, "padding": "xxx') and tail == b'"}'
    # Neither end held the body: the server streams it in 64 KiB chunks (this process is both).
    assert _rss_mib() - before < 32


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(86400, "86400"), ("inf", "inf"), (-5, "-5"), ("soon", "soon"), (0, "1")],
)
def test_retry_after_values(sandbox: SandboxServer, retry_after: Any, expected: str) -> None:
    sandbox.control.fault("slack", "rate_limit", method="auth.test", retry_after=retry_after, count=1)
    response, body = _slack(sandbox, "auth.test")
    assert response.status == 429 and response.getheader("Retry-After") == expected
    assert json.loads(body) == {"ok": False, "error": "ratelimited"}


def test_retry_after_as_http_date(sandbox: SandboxServer) -> None:
    sandbox.control.fault("slack", "rate_limit", retry_after="http-date+120", count=1)
    response, _ = _slack(sandbox, "auth.test")
    when = parsedate_to_datetime(response.getheader("Retry-After", ""))
    assert 100 < when.timestamp() - time.time() <= 121


def test_pagerduty_reset_in_a_day(sandbox: SandboxServer) -> None:
    sandbox.control.fault("pagerduty", "rate_limit", retry_after=86400, count=1)
    response, body = _pd(sandbox, "/users")
    assert response.status == 429 and response.getheader("ratelimit-reset") == "86400"
    assert json.loads(body)["error"]["code"] == 2020


def test_paging_loop_empty_pages_forever(sandbox: SandboxServer) -> None:
    sandbox.control.fault("pagerduty", "paging_loop", method="GET /users", mode="empty_more")
    for offset in (0, 25, 50, 5000):
        response, body = _pd(sandbox, f"/users?offset={offset}")
        page = json.loads(body)
        assert response.status == 200 and page["users"] == [] and page["more"] is True
        assert page["offset"] == offset
    # The SDK then asks for limit=0, which PagerDuty refuses.
    with pytest.raises(pagerduty.Error):
        list(sandbox.pagerduty_client().iter_all("users"))


def test_paging_loop_same_page_again(sandbox: SandboxServer) -> None:
    sandbox.control.fault("pagerduty", "paging_loop", method="GET /users", mode="same_page")
    first = json.loads(_pd(sandbox, "/users?limit=5")[1])
    again = json.loads(_pd(sandbox, "/users?limit=5&offset=5")[1])
    assert again["users"] == first["users"] and again["offset"] == 5 and again["more"] is True
    # The SDK yields duplicates (it pages by what it received: 12 a page) until its own offset cap
    # (offset + limit <= 10,000) stops it, some 830 requests later.
    pd = sandbox.pagerduty_client()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        ids = [u["id"] for u in pd.iter_all("users", page_size=100)]
    assert len(ids) == 9996 and len(set(ids)) == 12


def test_fault_on_the_nth_page_only(sandbox: SandboxServer, slack: WebClient) -> None:
    sandbox.control.fault("pagerduty", "status", method="GET /users", status=500, after_requests=2, count=1)
    statuses = [_pd(sandbox, f"/users?limit=5&offset={o}")[0].status for o in (0, 5, 10, 10)]
    assert statuses == [200, 200, 500, 200]
    sandbox.control.fault(
        "slack", "drop_field", method="users.list", field="members", after_requests=1, count=1
    )
    pages = [dict(page.data) for page in slack.users_list(limit=4)]
    assert "members" in pages[0] and "members" not in pages[1]


def test_faults_list_resolved_defaults(sandbox: SandboxServer) -> None:
    sandbox.control.fault("slack", "html_error")
    sandbox.control.fault("slack", "plain_text")
    sandbox.control.fault("slack", "status")
    assert [f["status"] for f in sandbox.control.faults()] == [502, 200, 503]
    with pytest.raises(ControlError):
        sandbox.control.fault("slack", "paging_loop")
    with pytest.raises(ControlError):
        sandbox.control.fault("slack", "drop_field", field="members[0]")
