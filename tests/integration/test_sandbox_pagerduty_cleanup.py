"""What removing people from PagerDuty needs: incidents, deletion refusals, teams, schedule and policy edits."""

from __future__ import annotations

from typing import Any

from oncall_sandbox import SandboxSeed, SandboxServer


def _refs(*user_ids: str) -> list[dict[str, Any]]:
    return [{"user": {"id": u, "type": "user_reference"}} for u in user_ids]


def test_delete_refused_while_incidents_are_open(sandbox: SandboxServer) -> None:
    pd = sandbox.pagerduty_client()
    refused = pd.delete("/users/PCAROL3")
    assert refused.status_code == 400
    assert refused.json()["error"] == {
        "message": "Invalid Input Provided",
        "code": 2001,
        "errors": ["User cannot be deleted as they have 2 open incidents."],
    }
    for incident in pd.list_all("incidents", params={"user_ids[]": ["PCAROL3"]}):
        sandbox.control.set_incident_status(incident["id"], "resolved")
    assert pd.delete("/users/PCAROL3").status_code == 204
    # Deleted: gone from the directory, a second delete is a 404 with PD's envelope.
    second = pd.delete("/users/PCAROL3")
    assert second.status_code == 404 and second.json()["error"]["code"] == 2100
    assert "PCAROL3" not in [u["id"] for u in pd.iter_all("users")]


def test_delete_refused_for_the_last_member_of_a_layer_or_rule(sandbox: SandboxServer) -> None:
    pd = sandbox.pagerduty_client()
    refused = pd.delete("/users/PMORG12")
    assert refused.status_code == 400
    assert refused.json()["error"]["errors"] == [
        "User cannot be deleted as they have 1 open incidents.",
        "User cannot be deleted as they are the only user on layer 'Layer' of schedule PSSHADO.",
        "User cannot be deleted as they are the only target of escalation rule 3 of escalation policy PEPAY01.",
    ]
    # The clean-up an admin does first: replace them, resolve their incident; then deletion works.
    rules = pd.rget("/escalation_policies/PEPAY01")["escalation_rules"]
    body = {
        "escalation_policy": {
            "escalation_rules": [
                *[
                    {"id": r["id"], "targets": [{"id": t["id"], "type": t["type"]} for t in r["targets"]]}
                    for r in rules[:2]
                ],
                {"id": rules[2]["id"], "targets": [{"id": "PALICE1", "type": "user_reference"}]},
            ]
        }
    }
    assert (
        pd.rput("/escalation_policies/PEPAY01", json=body)["escalation_rules"][2]["targets"][0]["id"]
        == "PALICE1"
    )
    layer = pd.rget("/schedules/PSSHADO")["schedule_layers"][0]
    pd.rput(
        "/schedules/PSSHADO",
        json={"schedule": {"schedule_layers": [{"id": layer["id"], "users": _refs("PALICE1")}]}},
    )
    sandbox.control.set_incident_status("PIN0002", "resolved")
    assert pd.delete("/users/PMORG12").status_code == 204


def test_delete_takes_a_user_out_of_shared_layers_and_teams(sandbox: SandboxServer) -> None:
    pd = sandbox.pagerduty_client()
    assert pd.delete("/users/PDAVE04").status_code == 204  # on three shared layers
    layers = [
        [u["user"]["id"] for u in layer["users"]]
        for s in ("PSPAYP1", "PSPAYS2", "PSFTSEU")
        for layer in pd.rget(f"/schedules/{s}")["schedule_layers"]
    ]
    assert all("PDAVE04" not in users for users in layers)
    assert "PDAVE04" not in [m["user"]["id"] for m in pd.iter_all("teams/PTPAY01/members")]


def test_stricter_deletion_policy(sandbox: SandboxServer, seed: SandboxSeed) -> None:
    document = seed.model_dump(mode="json")
    document["pagerduty"]["user_deletion_refuses"] = "any_membership"
    sandbox.control.load(document)
    refused = sandbox.pagerduty_client().delete("/users/PIVAN09")
    assert refused.status_code == 400
    assert refused.json()["error"]["errors"] == [
        "User cannot be deleted as they are a user on layer 'Weekend cover' of schedule PSPAYP1."
    ]


def test_incidents_filters(sandbox: SandboxServer) -> None:
    pd = sandbox.pagerduty_client()
    listed = pd.list_all("incidents")  # default: created in the last 30 days
    # Oldest first: Bob's resolved one (Friday), Carol's two (hours ago), Morgan's (this morning).
    assert [i["id"] for i in listed] == ["PIN0001", "PICAROL32", "PICAROL31", "PIN0002"]
    by_id = {i["id"]: i for i in listed}
    assert set(by_id) == {"PIN0001", "PIN0002", "PICAROL31", "PICAROL32"}
    assert by_id["PIN0001"]["assignments"] == [] and by_id["PIN0001"]["resolved_at"]
    assert by_id["PIN0002"]["assignments"][0]["assignee"]["id"] == "PMORG12"
    assert by_id["PIN0002"]["escalation_policy"]["id"] == "PEPAY01"
    assert by_id["PIN0002"]["summary"].startswith("[#") and by_id["PIN0002"]["urgency"] == "high"

    def ids(**params: Any) -> list[str]:
        return sorted(i["id"] for i in pd.list_all("incidents", params=params))

    assert ids(**{"statuses[]": ["resolved"]}) == ["PIN0001"]
    assert ids(**{"statuses[]": ["triggered", "acknowledged"]}) == ["PICAROL31", "PICAROL32", "PIN0002"]
    # Resolved incidents have no assignees, so user_ids[] only finds open ones (as PD documents).
    assert ids(**{"user_ids[]": ["PBOB002"]}) == []
    assert ids(**{"user_ids[]": ["PCAROL3", "PMORG12"]}) == ["PICAROL31", "PICAROL32", "PIN0002"]
    assert ids(since="2025-05-01T00:00:00Z", until="2025-05-31T00:00:00Z") == ["PIN0001"]
    sandbox.control.advance(40 * 86400)
    assert ids() == [] and len(ids(date_range="all")) == 4
    bad = pd.get("/incidents", params={"since": "2024-01-01T00:00:00Z", "until": "2025-01-01T00:00:00Z"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == 2005


def test_team_roles_and_user_teams(sandbox: SandboxServer) -> None:
    pd = sandbox.pagerduty_client()
    roles = {m["user"]["id"]: m["role"] for m in pd.iter_all("teams/PTSRE02/members")}
    assert roles == {
        "PHEIDI8": "manager",
        "PFRANK6": "responder",
        "PGRACE7": "responder",
        "PLEO010": "responder",
        "PNIKO11": "observer",
    }
    niko = pd.rget("/users/PNIKO11")
    assert [t["id"] for t in niko["teams"]] == ["PTSRE02"] and niko["role"] == "user"
    assert pd.rget("/users/PCAROL3")["role"] == "admin"
    members = sorted(u["id"] for u in pd.iter_all("users", params={"team_ids[]": ["PTSRE02"]}))
    assert members == sorted(roles)
    assert pd.delete("/teams/PTSRE02/users/PNIKO11").status_code == 204
    assert pd.rget("/users/PNIKO11")["teams"] == []


def test_schedule_edit_removes_a_user_and_refuses_an_empty_layer(sandbox: SandboxServer) -> None:
    pd = sandbox.pagerduty_client()
    schedule = pd.rget("/schedules/PSPAYS2")
    layer = schedule["schedule_layers"][0]
    keep = [u["user"]["id"] for u in layer["users"] if u["user"]["id"] != "PCAROL3"]
    empty = pd.put(
        "/schedules/PSPAYS2", json={"schedule": {"schedule_layers": [{"id": layer["id"], "users": []}]}}
    )
    assert empty.status_code == 400
    assert empty.json()["error"]["errors"] == ["Schedule layer 1 must have at least one user."]
    updated = pd.rput(
        "/schedules/PSPAYS2",
        json={
            "schedule": {
                "time_zone": "Europe/Berlin",
                "schedule_layers": [{"id": layer["id"], "users": _refs(*keep)}],
            }
        },
    )
    assert [u["user"]["id"] for u in updated["schedule_layers"][0]["users"]] == keep
    assert updated["schedule_layers"][0]["rotation_turn_length_seconds"] == 86400  # untouched fields kept
    week = {"since": "2025-06-02T09:00:00+02:00", "until": "2025-06-09T09:00:00+02:00"}
    on_call = {
        o["user"]["id"] for o in pd.list_all("oncalls", params={"schedule_ids[]": ["PSPAYS2"], **week})
    }
    assert "PCAROL3" not in on_call and on_call == set(keep)
    # A new layer needs its rotation; a missing one is refused and nothing changes.
    refused = pd.put(
        "/schedules/PSPAYS2",
        json={"schedule": {"schedule_layers": [{"id": layer["id"]}, {"users": _refs("PALICE1")}]}},
    )
    assert refused.status_code == 400 and any("start" in e for e in refused.json()["error"]["errors"])
    assert len(pd.rget("/schedules/PSPAYS2")["schedule_layers"]) == 1


def test_escalation_policy_edit_refuses_an_empty_rule(sandbox: SandboxServer) -> None:
    pd = sandbox.pagerduty_client()
    empty = pd.put(
        "/escalation_policies/PEPAY01",
        json={
            "escalation_policy": {
                "escalation_rules": [
                    {"targets": [{"id": "PSPAYP1", "type": "schedule_reference"}]},
                    {"targets": []},
                ]
            }
        },
    )
    assert empty.status_code == 400
    assert empty.json()["error"]["errors"] == ["Escalation rule 2 must have at least one target."]
    assert len(pd.rget("/escalation_policies/PEPAY01")["escalation_rules"]) == 3
    two = pd.rput(
        "/escalation_policies/PEPAY01",
        json={
            "escalation_policy": {
                "escalation_rules": [
                    {"id": "PRPAY01", "targets": [{"id": "PSPAYP1", "type": "schedule_reference"}]},
                    {
                        "escalation_delay_in_minutes": 10,
                        "targets": [{"id": "PBOB002", "type": "user_reference"}],
                    },
                ]
            }
        },
    )
    assert two["escalation_rules"][0]["id"] == "PRPAY01"
    assert two["escalation_rules"][1]["targets"][0]["id"] == "PBOB002"
    levels = {
        o["escalation_level"] for o in pd.list_all("oncalls", params={"escalation_policy_ids[]": ["PEPAY01"]})
    }
    assert levels == {1, 2}


def test_users_on_call_in_a_schedule(sandbox: SandboxServer) -> None:
    pd = sandbox.pagerduty_client()
    # 08:30 Monday in Berlin: the weekend layer (Ivan's turn) still covers until 09:00.
    assert [u["id"] for u in pd.rget("/schedules/PSPAYP1/users")] == ["PIVAN09"]
    week = pd.rget(
        "/schedules/PSPAYP1/users",
        params={"since": "2025-06-02T09:00:00+02:00", "until": "2025-06-07T00:00:00+02:00"},
    )
    assert [u["id"] for u in week] == ["PBOB002", "PERIN05"]  # Bob's week; Erin by Wednesday's override
    assert week[0]["type"] == "user" and week[0]["email"] == "bob@acme.example"
    assert pd.get("/schedules/PNOPE/users").status_code == 404
