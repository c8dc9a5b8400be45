"""Removing people from PagerDuty layers and rules and from Slack groups without emptying any, and
reading PagerDuty's deletion refusals."""

from __future__ import annotations

from typing import Any

from oncall_operator.api.cleanup import CleanupReason
from oncall_operator.core.cleanup.edits import (
    deletion_refusal,
    remove_from_layers,
    remove_from_members,
    remove_from_rules,
)


def layer(layer_id: str, *users: str) -> dict[str, Any]:
    return {
        "id": layer_id,
        "start": "2026-03-01T00:00:00Z",
        "rotation_turn_length_seconds": 86400,
        "users": [{"user": {"id": u, "type": "user_reference", "summary": u.lower()}} for u in users],
        "rendered_schedule_entries": [{"user": {"id": users[0]}}],
    }


def test_layers_lose_the_leavers_but_never_their_last_user() -> None:
    layers = [layer("L1", "PA", "PB", "PD"), layer("L2", "PB"), layer("L3", "PC", "PD")]
    removal = remove_from_layers(layers, {"PB", "PD", "PX"})
    # PB is the only user of L2: PB stays everywhere (no half-done removal) and needs a person; PD goes.
    assert removal.removed == {"PD"} and removal.blocked == {"PB": CleanupReason.LAST_LAYER_MEMBER}
    assert removal.absent == {"PX"}
    assert removal.body is not None
    assert [[u["user"]["id"] for u in new["users"]] for new in removal.body] == [["PA", "PB"], ["PB"], ["PC"]]
    assert all("rendered_schedule_entries" not in new for new in removal.body)
    assert remove_from_layers([layer("L2", "PB")], {"PB"}).body is None
    clean = remove_from_layers([layer("L1", "PA", "PB")], {"PA"})
    assert clean.removed == {"PA"} and clean.blocked == {}
    nothing = remove_from_layers([layer("L1", "PA")], {"PZ"})
    assert nothing.body is None and nothing.absent == {"PZ"}


def test_rules_lose_direct_user_targets_but_keep_schedules_and_are_never_emptied() -> None:
    rules = [
        {
            "id": "R1",
            "escalation_delay_in_minutes": 30,
            "targets": [{"id": "PS", "type": "schedule_reference"}, {"id": "PA", "type": "user_reference"}],
        },
        {"id": "R2", "escalation_delay_in_minutes": 10, "targets": [{"id": "PB", "type": "user_reference"}]},
    ]
    removal = remove_from_rules(rules, {"PA", "PB"})
    assert removal.removed == {"PA"} and removal.blocked == {"PB": CleanupReason.LAST_ESCALATION_TARGET}
    assert removal.body is not None
    assert [t["id"] for t in removal.body[0]["targets"]] == ["PS"] and [
        t["id"] for t in removal.body[1]["targets"]
    ] == ["PB"]


def test_groups_keep_their_last_members_and_report_them() -> None:
    removal = remove_from_members(["U1", "U2", "U3"], {"U2", "U9"})
    assert removal.body == ["U1", "U3"] and removal.removed == {"U2"} and removal.absent == {"U9"}
    last = remove_from_members(["U1"], {"U1"})
    assert last.body is None and last.blocked == {"U1": CleanupReason.LAST_GROUP_MEMBER}


def test_deletion_refusals_are_read_from_pagerdutys_lines() -> None:
    assert (
        deletion_refusal(["User cannot be deleted as they have 2 open incidents."])
        == CleanupReason.OPEN_INCIDENTS
    )
    assert (
        deletion_refusal(["User cannot be deleted as they are the only user on layer 'L' of schedule PX."])
        == CleanupReason.LAST_LAYER_MEMBER
    )
    assert (
        deletion_refusal(["... the only target of escalation rule 2 of escalation policy PP."])
        == CleanupReason.LAST_ESCALATION_TARGET
    )
    assert deletion_refusal(["something new"]) == CleanupReason.PAGERDUTY_REFUSED
    assert deletion_refusal([]) == CleanupReason.PAGERDUTY_REFUSED
