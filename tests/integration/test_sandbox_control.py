"""The control API: clock, faults, request log, stats, load/reset, and seed errors."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from oncall_sandbox import ControlError, SandboxServer, SeedError, load_seed
from oncall_sandbox.seed import DEFAULT_SEED_PATH


def _raw(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _users_update(sandbox: SandboxServer, users: str = "U0SBX0B02") -> tuple[int, bytes]:
    return _raw(
        sandbox.slack_url + "usergroups.users.update",
        f"usergroup=S0SBXPAY1&users={users}".encode(),
        {"Authorization": "Bearer xoxb-sandbox-bot", "Content-Type": "application/x-www-form-urlencoded"},
    )


def test_clock(sandbox: SandboxServer) -> None:
    control = sandbox.control
    assert control.clock() == {"now": "2025-06-02T06:30:00+00:00", "time_scale": 0.0}
    assert control.advance(3600)["now"] == "2025-06-02T07:30:00+00:00"
    assert control.set_clock("2025-01-01T00:00:00+01:00")["now"] == "2024-12-31T23:00:00+00:00"
    with pytest.raises(ControlError):
        control.set_clock("2025-01-01T00:00:00")


def test_scaled_clock() -> None:
    seed = load_seed(DEFAULT_SEED_PATH)
    with SandboxServer(seed, time_scale=3600.0, tls=False) as server:
        first = server.control.now()
        time.sleep(0.05)
        assert (server.control.now() - first).total_seconds() >= 150  # an hour per real second


def test_status_fault_changes_nothing(sandbox: SandboxServer) -> None:
    fault = sandbox.control.fault("slack", "status", method="usergroups.users.update", status=503, count=1)
    assert sandbox.control.faults()[0]["id"] == fault
    status, body = _users_update(sandbox)
    assert status == 503 and json.loads(body) == {"ok": False, "error": "service_unavailable"}
    assert sandbox.control.usergroup("payments-oncall")["users"] == ["U0SBX0A01"]  # type: ignore[index]
    assert sandbox.control.faults() == []  # count used up
    assert _users_update(sandbox)[0] == 200
    assert [r["status"] for r in sandbox.control.requests(method="usergroups.users.update")] == [503, 200]


def test_status_after_apply(sandbox: SandboxServer) -> None:
    sandbox.control.fault(
        "slack", "status_after_apply", method="usergroups.users.update", status=500, count=1
    )
    assert _users_update(sandbox)[0] == 500
    group = sandbox.control.usergroup("payments-oncall")
    assert group is not None and group["users"] == ["U0SBX0B02"] and group["updates"] == 1


def test_error_rate_is_reproducible(sandbox: SandboxServer) -> None:
    def run() -> list[int]:
        sandbox.control.fault("pagerduty", "error_rate", method="GET /users/{id}", rate=0.5, status=500)
        pd = sandbox.pagerduty_client()
        pd.max_http_attempts = 1
        statuses = []
        for _ in range(12):
            try:
                statuses.append(pd.get("/users/PALICE1").status_code)
            except Exception:
                statuses.append(500)
        sandbox.control.clear_faults()
        return statuses

    first = run()
    assert 500 in first and 200 in first
    sandbox.control.reset()
    assert run() == first


def test_latency_and_rate_limit_faults(sandbox: SandboxServer, slack: WebClient) -> None:
    sandbox.control.fault("slack", "latency", method="auth.test", latency_seconds=0.3, count=1)
    started = time.monotonic()
    slack.auth_test()
    assert time.monotonic() - started >= 0.3
    sandbox.control.fault("slack", "rate_limit", method="*", retry_after=7, count=1)
    with pytest.raises(SlackApiError) as caught:
        slack.auth_test()
    assert caught.value.response.status_code == 429 and caught.value.response.headers["Retry-After"] == "7"


def test_malformed_json_and_dropped_connection(sandbox: SandboxServer) -> None:
    sandbox.control.fault("pagerduty", "malformed_json", method="GET /oncalls", count=1)
    status, body = _raw(
        sandbox.pagerduty_http_url + "/oncalls", headers={"Authorization": "Token token=pd-sandbox-token"}
    )
    assert status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    sandbox.control.fault("slack", "drop_connection", method="auth.test", count=1)
    with pytest.raises((urllib.error.URLError, http.client.RemoteDisconnected, ConnectionError)):
        _raw(sandbox.slack_url + "auth.test", b"", {"Authorization": "Bearer xoxb-sandbox-bot"})
    assert _raw(sandbox.slack_url + "auth.test", b"", {"Authorization": "Bearer xoxb-sandbox-bot"})[0] == 200


def test_timeout_fault(sandbox: SandboxServer) -> None:
    sandbox.control.fault("slack", "timeout", method="auth.test", latency_seconds=1.0, count=1)
    client = WebClient(token="xoxb-sandbox-bot", base_url=sandbox.slack_url, timeout=0.3)
    with pytest.raises(Exception, match=r"(?i)timed out|timeout"):
        client.auth_test()


def test_request_log_and_stats(sandbox: SandboxServer, slack: WebClient) -> None:
    slack.auth_test()
    sandbox.pagerduty_client().rget(
        "/schedules/PSPAYP1/overrides",
        params={"since": "2025-06-01T00:00:00Z", "until": "2025-06-02T00:00:00Z"},
    )
    log = sandbox.control.requests()
    assert [(r["api"], r["method"], r["status"]) for r in log] == [
        ("slack", "auth.test", 200),
        ("pagerduty", "GET /schedules/{id}/overrides", 200),
    ]
    assert sandbox.control.requests(since=log[0]["seq"]) == log[1:]
    assert sandbox.control.requests(api="slack") == log[:1]
    assert sandbox.control.stats() == {
        "pagerduty": {"GET /schedules/{id}/overrides": {"200": 1}},
        "slack": {"auth.test": {"200": 1}},
    }
    sandbox.control.clear_requests()
    assert sandbox.control.requests() == []


def test_load_reset_and_rate_limit_switch(sandbox: SandboxServer, seed: Any, slack: WebClient) -> None:
    document = seed.model_dump(mode="json")
    document["slack"]["usergroups"] = []
    sandbox.control.load(document)
    assert sandbox.control.usergroups() == []
    sandbox.control.reset()
    assert [g["handle"] for g in sandbox.control.usergroups()] == ["payments-oncall", "sre-oncall"]
    sandbox.control.rate_limit(enabled=False)
    for _ in range(25):
        slack.usergroups_list()
    assert {r["status"] for r in sandbox.control.requests()} == {200}


def test_load_rejects_bad_seed_with_path(sandbox: SandboxServer, seed: Any) -> None:
    document = seed.model_dump(mode="json")
    document["slack"]["users"][3]["id"] = "u-lowercase"
    with pytest.raises(ControlError) as caught:
        sandbox.control.load(document)
    assert caught.value.status == 400 and "slack.users[3].id" in caught.value.body


def test_seed_errors_name_file_path_and_problem(tmp_path: Path) -> None:
    text = DEFAULT_SEED_PATH.read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("email: dave@acme.example", "email: dave@acme.example, shoe_size: 44", 1))
    with pytest.raises(SeedError) as caught:
        load_seed(bad)
    message = str(caught.value)
    assert (
        str(bad) in message
        and "slack.users[3].shoe_size" in message
        and "Extra inputs are not permitted" in message
    )
    bad.write_text(
        text.replace("users: [PALICE1, PBOB002, PCAROL3, PDAVE04]", "users: [PALICE1, PNOBODY]", 1)
    )
    with pytest.raises(
        SeedError, match=r"pagerduty\.schedules\[0\]\.layers\[0\]\.users\[1\]: unknown PagerDuty user PNOBODY"
    ):
        load_seed(bad)
    bad.write_text(text.replace('"2025-01-06T09:00:00+01:00"', '"2025-01-06T09:00:00"', 1))
    with pytest.raises(SeedError, match=r"pagerduty\.schedules\[0\]\.layers\[0\]\.start: .*UTC offset"):
        load_seed(bad)
    with pytest.raises(SeedError, match="cannot read"):
        load_seed(tmp_path / "missing.yaml")


def test_cli_starts_fast_and_prints_the_real_port() -> None:
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "oncall_sandbox", "--port", "0", "--tls-port", "-1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        elapsed = time.monotonic() - started
        assert line.startswith("sandbox listening on http://127.0.0.1:") and ":0 " not in line
        url = line.split()[3]
        assert f"(slack: {url}/api/, pagerduty: {url}/pagerduty)" in line
        assert _raw(url + "/_sandbox/healthz")[0] == 200
        assert elapsed < 5  # interpreter start included; the server itself is up in well under a second
    finally:
        process.terminate()
        process.wait(5)


def test_cli_rejects_bad_seed(tmp_path: Path) -> None:
    bad = tmp_path / "seed.yaml"
    bad.write_text("slack: {}\npagerduty: {}\n")
    result = subprocess.run(
        [sys.executable, "-m", "oncall_sandbox", "--seed", str(bad), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and f"{bad}: slack.team_id: Field required" in result.stderr
