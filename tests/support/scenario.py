"""Seeds for OnCallSync tests: a small Slack workspace and PagerDuty account whose
on-call rotates hourly, built as plain dicts in the sandbox's seed schema."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)  # a Monday; the rotation changes on the hour
SLACK_TOKEN = "xoxb-test-bot"
SLACK_TOKEN_ROTATED = "xoxb-test-bot-rotated"
SLACK_TOKEN_NO_WRITE = "xoxb-test-readonly"
PD_TOKEN = "pd-test-token"
PD_TOKEN_ROTATED = "pd-test-token-rotated"

ALL_SCOPES = [
    "usergroups:read",
    "usergroups:write",
    "users:read",
    "users:read.email",
    "channels:read",
    "channels:manage",
    "groups:read",
    "chat:write",
    "channels:history",  # lets an interrupted handoff message be checked, so it is posted exactly once
    "admin",
]
# PagerDuty user -> Slack user; the rotation is PAAA -> PBBB -> PCCC, an hour each.
PEOPLE = {
    "PAAA": "UAAA",
    "PBBB": "UBBB",
    "PCCC": "UCCC",
    "PDDD": "UDDD",
    "PEEE": "UEEE",
    "PFFF": "UFFF",
}


def seed(
    *,
    start: datetime = START,
    plan: str = "pro",
    extra_usergroups: list[dict[str, Any]] | None = None,
    deactivated: tuple[str, ...] = (),
    pd_only: tuple[str, ...] = (),
    rotation: tuple[str, ...] = ("PAAA", "PBBB", "PCCC"),
) -> dict[str, Any]:
    slack_users = [
        {"id": "UBOT", "name": "oncall-bot", "is_bot": True},
        {"id": "ULEAD", "name": "lead", "email": "lead@example.test"},
    ] + [
        {
            "id": slack,
            "name": pd.lower(),
            "email": f"{pd.lower()}@example.test",
            "deleted": slack in deactivated,
        }
        for pd, slack in PEOPLE.items()
        if pd not in pd_only
    ]
    return {
        "start_time": start.isoformat(),
        "slack": {
            "team_id": "T0TEST0001",
            "team_name": "Test",
            "domain": "test",
            "plan": plan,
            "bot_user_id": "UBOT",
            "tokens": [
                {"token": SLACK_TOKEN, "scopes": ALL_SCOPES},
                {"token": SLACK_TOKEN_ROTATED, "scopes": ALL_SCOPES},
                {"token": SLACK_TOKEN_NO_WRITE, "scopes": [s for s in ALL_SCOPES if s != "usergroups:write"]},
            ],
            "users": slack_users,
            "channels": [
                {"id": "C0ONCALL1", "name": "oncall", "bot_is_member": True},
                {"id": "C0OUTSID1", "name": "outside", "bot_is_member": False},
            ],
            "usergroups": extra_usergroups or [],
        },
        "pagerduty": {
            "tokens": [PD_TOKEN, PD_TOKEN_ROTATED],
            "users": [{"id": pd, "name": pd.lower(), "email": f"{pd.lower()}@example.test"} for pd in PEOPLE],
            "schedules": [
                hourly("PSCHEDA", list(rotation)),
                hourly("PSCHEDB", ["PDDD", "PEEE"]),
                hourly("PSCHEDFAR", ["PFFF"], start="2030-01-01T00:00:00+00:00"),
                # No escalation policy uses it, so /oncalls leaves it out (as the real API does).
                hourly("PSCHEDSOLO", ["PEEE", "PDDD"]),
            ],
            "escalation_policies": [
                {
                    "id": "PPOLICY",
                    "name": "Test policy",
                    "rules": [
                        {"id": "PRULE1", "targets": [{"type": "schedule_reference", "id": "PSCHEDA"}]},
                        {"id": "PRULE2", "targets": [{"type": "schedule_reference", "id": "PSCHEDB"}]},
                        {"id": "PRULE3", "targets": [{"type": "schedule_reference", "id": "PSCHEDFAR"}]},
                    ],
                }
            ],
        },
    }


def hourly(schedule_id: str, users: list[str], start: str = "2026-03-01T00:00:00+00:00") -> dict[str, Any]:
    return {
        "id": schedule_id,
        "name": schedule_id.lower(),
        "time_zone": "UTC",
        "layers": [
            {
                "id": schedule_id.replace("PSCHED", "PLAYER"),
                "start": start,
                "rotation_virtual_start": start,
                "rotation_turn_length_seconds": 3600,
                "users": users,
            }
        ],
    }


def on_call_at(hour: int, rotation: tuple[str, ...] = ("PAAA", "PBBB", "PCCC")) -> str:
    """Who PSCHEDA has on call at START's day, `hour` o'clock UTC (rotation began 2026-03-01 00:00)."""
    return rotation[(24 + hour) % len(rotation)]
