"""pagerduty's RestApiV2Client against the sandbox: pagination, errors, writes, rate limits."""

from __future__ import annotations

import pagerduty
import pytest

from oncall_sandbox import SandboxServer


def test_iter_all_users_pages_to_the_end(sandbox: SandboxServer) -> None:
    pd = sandbox.pagerduty_client()
    pd.default_page_size = 5
    users = list(pd.iter_all("users"))
    assert len(users) == 12 and len({u["id"] for u in users}) == 12
    requests = sandbox.control.requests(method="GET /users")
    assert len(requests) == 3  # 5 + 5 + 2
    alice = next(u for u in users if u["id"] == "PALICE1")
    assert alice["type"] == "user" and alice["email"] == "alice@acme.example"
    assert alice["time_zone"] == "Europe/Berlin" and alice["teams"][0]["id"] == "PTPAY01"
    assert alice["self"].endswith("/pagerduty/users/PALICE1")


def test_query_total_and_single_objects(sandbox: SandboxServer) -> None:
    pd = sandbox.pagerduty_client()
    page = pd.rget("/users", params={"query": "acme.example", "limit": 2, "total": "true"})
    assert len(page) == 2
    body = pd.get("/users", params={"limit": 2, "total": "true"}).json()
    assert body["total"] == 12 and body["more"] is True and body["limit"] == 2
    assert pd.get("/users", params={"limit": 2}).json()["total"] is None
    assert pd.rget("/users/PHEIDI8")["name"] == "Heidi Brown"
    assert (
        pd.rget("/escalation_policies/PEPAY01")["escalation_rules"][2]["targets"][0]["type"]
        == "user_reference"
    )
    assert [t["id"] for t in pd.iter_all("teams")] == ["PTPAY01", "PTSRE02"]
    assert len(list(pd.iter_all("schedules"))) == 6


def test_offset_cap(sandbox: SandboxServer) -> None:
    response = sandbox.pagerduty_client().get("/users", params={"offset": 9990, "limit": 25})
    assert response.status_code == 400 and response.json()["error"]["code"] == 2001


def test_auth(sandbox: SandboxServer) -> None:
    bad = sandbox.pagerduty_client("nope")
    with pytest.raises(pagerduty.HttpError) as caught:
        bad.rget("/users")
    assert caught.value.response.status_code == 401
    assert caught.value.response.json()["error"]["code"] == 2006
    sandbox.control.token("pagerduty", "pd-rotated")
    assert sandbox.pagerduty_client("pd-rotated").rget("/users/PALICE1")["id"] == "PALICE1"
    sandbox.control.token("pagerduty", "pd-sandbox-token", revoked=True)
    with pytest.raises(pagerduty.HttpError):
        sandbox.pagerduty_client().get("/users")


def test_delete_user(sandbox: SandboxServer) -> None:
    pd = sandbox.pagerduty_client()
    refused = pd.delete("/users/PCAROL3")
    assert refused.status_code == 400 and "open incidents" in refused.json()["error"]["errors"][0]
    assert pd.delete("/users/PIVAN09").status_code == 204
    assert pd.get("/users/PIVAN09").status_code == 404
    assert [u["id"] for u in sandbox.control.deleted_users()] == ["PIVAN09"]
    assert "PIVAN09" not in [m["user"]["id"] for m in pd.iter_all("teams/PTPAY01/members")]
    # Deleted users leave rotations: the weekend layer now has Erin only.
    sandbox.control.set_clock("2025-05-31T12:00:00+02:00")
    level1 = [o for o in pd.list_all("oncalls", params={"schedule_ids[]": ["PSPAYP1"]})]
    assert [o["user"]["id"] for o in level1] == ["PERIN05"]


def test_team_members(sandbox: SandboxServer) -> None:
    pd = sandbox.pagerduty_client()
    members = list(pd.iter_all("teams/PTSRE02/members"))
    assert [m["user"]["id"] for m in members][:2] == ["PHEIDI8", "PFRANK6"] and members[0][
        "role"
    ] == "manager"
    assert pd.delete("/teams/PTSRE02/users/PNIKO11").status_code == 204
    assert "PNIKO11" not in [m["user"]["id"] for m in pd.iter_all("teams/PTSRE02/members")]
    assert pd.delete("/teams/PTNOPE1/users/PNIKO11").status_code == 404


def test_overrides(sandbox: SandboxServer) -> None:
    pd = sandbox.pagerduty_client()
    window = {"since": "2025-06-01T00:00:00Z", "until": "2025-06-30T00:00:00Z"}
    assert [o["id"] for o in pd.rget("/schedules/PSPAYP1/overrides", params=window)] == ["PO0SEED1"]
    created = pd.rpost(
        "/schedules/PSPAYS2/overrides",
        json=[
            {
                "start": "2025-06-02T08:00:00+02:00",
                "end": "2025-06-02T12:00:00+02:00",
                "user": {"id": "PHEIDI8", "type": "user_reference"},
            },
            {
                "start": "2025-06-02T08:00:00+02:00",
                "end": "2025-06-02T12:00:00+02:00",
                "user": {"id": "PNOBODY", "type": "user_reference"},
            },
        ],
    )
    assert [c["status"] for c in created] == [201, 400]
    override_id = created[0]["override"]["id"]
    level2 = pd.list_all("oncalls", params={"schedule_ids[]": ["PSPAYS2"]})
    assert level2[0]["user"]["id"] == "PHEIDI8"
    # Active override: truncated to now (200); the schedule falls back to the rotation.
    assert pd.delete(f"/schedules/PSPAYS2/overrides/{override_id}").status_code == 200
    assert pd.list_all("oncalls", params={"schedule_ids[]": ["PSPAYS2"]})[0]["user"]["id"] == "PCAROL3"
    future = pd.rpost(
        "/schedules/PSPAYS2/overrides",
        json=[
            {
                "start": "2025-07-01T08:00:00Z",
                "end": "2025-07-01T12:00:00Z",
                "user": {"id": "PHEIDI8", "type": "user_reference"},
            }
        ],
    )[0]["override"]["id"]
    assert pd.delete(f"/schedules/PSPAYS2/overrides/{future}").status_code == 204
    assert pd.delete(f"/schedules/PSPAYS2/overrides/{future}").status_code == 404


def test_rate_limit_then_sdk_retry(sandbox: SandboxServer) -> None:
    sandbox.control.rate_limit(api="pagerduty", per_minute=2, window_seconds=1)
    pd = sandbox.pagerduty_client()
    pd.sleep_timer = 0.6  # the SDK's own 429 back-off, shortened for the test
    for _ in range(3):
        pd.rget("/users/PALICE1")
    statuses = [r["status"] for r in sandbox.control.requests(api="pagerduty")]
    assert statuses[:3] == [200, 200, 429] and statuses[-1] == 200
    limited = pd.get("/users/PALICE1")
    if limited.status_code == 429:
        assert limited.json()["error"]["code"] == 2020
        assert int(limited.headers["ratelimit-reset"]) >= 1 and limited.headers["ratelimit-limit"] == "2"


def test_rate_limit_headers_on_success(sandbox: SandboxServer) -> None:
    response = sandbox.pagerduty_client().get("/users/PALICE1")
    assert response.headers["ratelimit-limit"] == "960"
    assert int(response.headers["ratelimit-remaining"]) == 959
