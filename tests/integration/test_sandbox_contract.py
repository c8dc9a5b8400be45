"""Every exchange the SDKs have with the sandbox, validated against the vendors' OpenAPI specs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from oncall_sandbox import SandboxServer
from oncall_sandbox.contract import KNOWN_EXCEPTIONS, specs_dir_for, validate_exchanges

pytestmark = pytest.mark.contract

REPO_ROOT = Path(__file__).resolve().parents[2]

SPECS = specs_dir_for(REPO_ROOT)


def _slack_traffic(slack: WebClient) -> None:
    slack.auth_test()
    for _ in slack.users_list(limit=5):
        pass
    slack.users_info(user="U0SBX0A01")
    slack.users_lookupByEmail(email="alice@acme.example")
    slack.usergroups_list(include_users=True, include_disabled=True, include_count=True)
    created = slack.usergroups_create(name="Contract Check", handle="contract-check", description="x")
    group = created["usergroup"]["id"]
    slack.usergroups_update(usergroup=group, description="updated")
    slack.usergroups_users_update(usergroup=group, users=["U0SBX0A01", "U0SBX0B02"])
    slack.usergroups_users_list(usergroup=group)
    slack.usergroups_disable(usergroup=group)
    slack.usergroups_enable(usergroup=group)
    slack.conversations_info(channel="C0SBXPAY1", include_num_members=True)
    slack.conversations_setTopic(channel="C0SBXPAY1", topic="On call: alice")
    slack.chat_postMessage(channel="C0SBXPAY1", text="handoff: alice -> bob")
    # team.accessLogs takes a user token (a workspace admin's), as on Slack.
    admin = WebClient(token="xoxp-sandbox-admin", base_url=slack.base_url)
    for _ in admin.team_accessLogs(limit=2):
        pass
    admin.team_accessLogs(count=2, page=1)
    # Error envelopes are part of the contract too.
    for call in (
        lambda: slack.usergroups_users_update(usergroup=group, users=[]),
        lambda: slack.conversations_setTopic(channel="C0SBXGEN3", topic="x"),
        lambda: slack.users_lookupByEmail(email="nobody@acme.example"),
    ):
        with pytest.raises(SlackApiError):
            call()


def _pagerduty_traffic(sandbox: SandboxServer) -> None:
    pd = sandbox.pagerduty_client()
    list(pd.iter_all("users", params={"include[]": ["contact_methods"]}))
    pd.rget("/users/PALICE1")
    pd.list_all("oncalls", params={"include[]": ["users"], "time_zone": "Europe/Berlin", "earliest": True})
    pd.list_all(
        "oncalls",
        params={
            "schedule_ids[]": ["PSPAYP1"],
            "since": "2025-06-02T00:00:00Z",
            "until": "2025-06-03T00:00:00Z",
        },
    )
    list(pd.iter_all("schedules"))
    pd.rget("/schedules/PSPAYP1", params={"since": "2025-06-02T00:00:00Z", "until": "2025-06-09T00:00:00Z"})
    pd.rget(
        "/schedules/PSPAYP1/overrides",
        params={"since": "2025-06-01T00:00:00Z", "until": "2025-06-30T00:00:00Z"},
    )
    created: Any = pd.rpost(
        "/schedules/PSPAYS2/overrides",
        json=[
            {
                "start": "2025-06-10T09:00:00+02:00",
                "end": "2025-06-10T18:00:00+02:00",
                "user": {"id": "PDAVE04", "type": "user_reference"},
            }
        ],
    )
    pd.delete(f"/schedules/PSPAYS2/overrides/{created[0]['override']['id']}")
    list(pd.iter_all("escalation_policies"))
    pd.rget("/escalation_policies/PEPAY01")
    list(pd.iter_all("teams"))
    list(pd.iter_all("teams/PTPAY01/members"))
    pd.delete("/teams/PTSRE02/users/PNIKO11")
    pd.delete("/users/PNIKO11")
    assert pd.delete("/users/PCAROL3").status_code == 400


def _check(sandbox: SandboxServer) -> None:
    assert SPECS is not None
    violations = validate_exchanges(sandbox.control.exchanges(), SPECS)
    assert not violations, "\n".join(str(v) for v in violations)


@pytest.fixture
def recorded(sandbox: SandboxServer) -> SandboxServer:
    if SPECS is None:
        pytest.skip(
            f"contract specs not found at {REPO_ROOT.parent / 'shared' / 'specs'}: contract tests skipped"
        )
    sandbox.control.clear_exchanges()
    return sandbox


def test_slack_sync_traffic_matches_spec(recorded: SandboxServer, slack: WebClient) -> None:
    _slack_traffic(slack)
    _check(recorded)


async def test_slack_async_traffic_matches_spec(recorded: SandboxServer) -> None:
    client = AsyncWebClient(token="xoxb-sandbox-bot", base_url=recorded.slack_url)
    await client.auth_test()
    async for _ in await client.users_list(limit=4):
        pass
    await client.usergroups_list(include_users=True)
    await client.usergroups_users_list(usergroup="S0SBXPAY1")
    await client.usergroups_users_update(usergroup="S0SBXPAY1", users=["U0SBX0B02"])
    await client.conversations_info(channel="C0SBXPAY1")
    await client.chat_postMessage(channel="C0SBXPAY1", text="async hello")
    _check(recorded)


def test_pagerduty_traffic_matches_spec(recorded: SandboxServer) -> None:
    _pagerduty_traffic(recorded)
    _check(recorded)


def test_known_exceptions_have_reasons() -> None:
    keys = [e.key for e in KNOWN_EXCEPTIONS]
    assert len(keys) == len(set(keys))
    assert all(e.reason and len(e.reason.splitlines()) == 1 for e in KNOWN_EXCEPTIONS)


def test_pagerduty_cleanup_traffic_matches_spec(recorded: SandboxServer) -> None:
    pd = recorded.pagerduty_client()
    pd.list_all("incidents")
    pd.list_all("incidents", params={"statuses[]": ["triggered", "acknowledged"], "user_ids[]": ["PCAROL3"]})
    pd.list_all("incidents", params={"date_range": "all", "urgencies[]": ["high"]})
    pd.list_all("incidents", params={"since": "2025-05-01T00:00:00Z", "until": "2025-06-01T00:00:00Z"})
    assert (
        pd.get(
            "/incidents", params={"since": "2024-01-01T00:00:00Z", "until": "2025-01-01T00:00:00Z"}
        ).status_code
        == 400
    )
    pd.rget(
        "/schedules/PSPAYP1/users",
        params={"since": "2025-06-02T09:00:00+02:00", "until": "2025-06-09T09:00:00+02:00"},
    )
    pd.rget("/schedules/PSPAYP1/users")
    layer = pd.rget("/schedules/PSPAYS2")["schedule_layers"][0]
    users = [{"user": {"id": u["user"]["id"], "type": "user_reference"}} for u in layer["users"][1:]]
    pd.rput(
        "/schedules/PSPAYS2",
        json={
            "schedule": {
                "type": "schedule",  # required by the spec (and read-only: pd-type-required-read-only)
                "name": "Payments Secondary",
                "time_zone": "Europe/Berlin",
                "schedule_layers": [
                    {
                        "id": layer["id"],
                        "start": layer["start"],
                        "rotation_virtual_start": layer["rotation_virtual_start"],
                        "rotation_turn_length_seconds": layer["rotation_turn_length_seconds"],
                        "users": users,
                    }
                ],
            }
        },
    )
    refused = {
        "schedule": {
            "type": "schedule",
            "time_zone": "Europe/Berlin",
            "schedule_layers": [
                {
                    "id": layer["id"],
                    "start": layer["start"],
                    "rotation_virtual_start": layer["rotation_virtual_start"],
                    "rotation_turn_length_seconds": 86400,
                    "users": [],
                }
            ],
        }
    }
    assert pd.put("/schedules/PSPAYS2", json=refused).status_code == 400
    rules = [
        {
            "escalation_delay_in_minutes": 15,
            "targets": [{"id": "PSPAYP1", "type": "schedule_reference"}],
        },
        {"escalation_delay_in_minutes": 30, "targets": [{"id": "PBOB002", "type": "user_reference"}]},
    ]
    pd.rput(
        "/escalation_policies/PEPAY01",
        json={
            "escalation_policy": {"type": "escalation_policy", "name": "Payments", "escalation_rules": rules}
        },
    )
    # A schema-valid body PagerDuty still refuses: a target that does not exist.
    unknown = {
        "escalation_policy": {
            "type": "escalation_policy",
            "name": "Payments",
            "escalation_rules": [
                {"escalation_delay_in_minutes": 5, "targets": [{"id": "PNOBODY", "type": "user_reference"}]}
            ],
        }
    }
    assert pd.put("/escalation_policies/PEPAY01", json=unknown).status_code == 400
    list(pd.iter_all("teams/PTSRE02/members"))
    list(pd.iter_all("users", params={"team_ids[]": ["PTSRE02"], "query": "a"}))
    pd.list_all("incidents", params={"service_ids[]": ["PSBXSVC"], "date_range": "all"})
    assert pd.delete("/users/PMORG12").status_code == 400  # open incident (and last member of a layer)
    assert pd.delete("/users/PIVAN09").status_code == 204
    assert pd.delete("/users/PIVAN09").status_code == 404
    assert pd.get("/users", params={"offset": 9990, "limit": 25}).status_code == 400
    _check(recorded)


def test_slack_directory_traffic_matches_spec(recorded: SandboxServer, slack: WebClient, seed: Any) -> None:
    document = seed.model_dump(mode="json")
    document["slack"]["generated_users"] = {"count": 1200}
    recorded.control.load(document)
    with pytest.raises(SlackApiError):
        slack.users_list()  # limit_required
    slack.users_list(limit=1000)
    slack.users_info(user="U0SBX0I09")  # deactivated
    with pytest.raises(SlackApiError):
        slack.team_accessLogs()  # not_allowed_token_type
    admin = WebClient(token="xoxp-sandbox-admin", base_url=recorded.slack_url)
    admin.team_accessLogs(count=1000, page=2)
    with pytest.raises(SlackApiError):
        admin.team_accessLogs(count=100, page=101)  # over_pagination_limit
    slack.api_call(
        "usergroups.users.update", json={"usergroup": "S0SBXPAY1", "users": ["U0SBX0B02", "U90000001"]}
    )
    recorded.control.set_plan("free")
    with pytest.raises(SlackApiError):
        admin.team_accessLogs()  # paid_only
    _check(recorded)
