"""On-call computation through the real pagerduty client: handoffs, layers, restrictions, overrides."""

from __future__ import annotations

from typing import Any

from oncall_sandbox import SandboxServer

BERLIN = {"time_zone": "Europe/Berlin"}


def _rows(sandbox: SandboxServer, **params: Any) -> list[tuple[Any, ...]]:
    pd = sandbox.pagerduty_client()
    return [
        (
            o["escalation_policy"]["id"],
            o["escalation_level"],
            o["schedule"]["id"] if o["schedule"] else None,
            o["user"]["id"],
            o["start"],
            o["end"],
        )
        for o in pd.list_all("oncalls", params=params)
    ]


def _level(rows: list[tuple[Any, ...]], policy: str, level: int) -> list[tuple[Any, ...]]:
    return [r for r in rows if r[0] == policy and r[1] == level]


def test_current_oncall_at_seed_start(sandbox: SandboxServer) -> None:
    rows = _rows(sandbox, **BERLIN)
    assert _level(rows, "PEPAY01", 1) == [
        ("PEPAY01", 1, "PSPAYP1", "PIVAN09", "2025-05-31T09:00:00+02:00", "2025-06-02T09:00:00+02:00")
    ]
    assert _level(rows, "PEPAY01", 2) == [
        ("PEPAY01", 2, "PSPAYS2", "PCAROL3", "2025-06-01T09:00:00+02:00", "2025-06-02T09:00:00+02:00")
    ]
    # A user targeted directly is on call permanently: no schedule, no bounds.
    assert _level(rows, "PEPAY01", 3) == [("PEPAY01", 3, None, "PMORG12", None, None)]


def test_handoff_happens_when_the_clock_advances(sandbox: SandboxServer) -> None:
    sandbox.control.advance(31 * 60)
    rows = _rows(sandbox, **BERLIN)
    # Bob's week is cut short by the seeded override (Erin, Wednesday 18:00 - Thursday 09:00).
    assert _level(rows, "PEPAY01", 1) == [
        ("PEPAY01", 1, "PSPAYP1", "PBOB002", "2025-06-02T09:00:00+02:00", "2025-06-04T18:00:00+02:00")
    ]
    assert _level(rows, "PEPAY01", 2)[0][3] == "PDAVE04"
    sandbox.control.set_clock("2025-06-04T20:00:00+02:00")
    level1 = _level(_rows(sandbox, **BERLIN), "PEPAY01", 1)
    assert level1 == [
        ("PEPAY01", 1, "PSPAYP1", "PERIN05", "2025-06-04T18:00:00+02:00", "2025-06-05T09:00:00+02:00")
    ]
    # The engine behind the control API agrees with /oncalls.
    assert sandbox.control.oncall()["escalation_policies"]["PEPAY01"]["1"] == ["PERIN05"]


def test_later_layer_wins_where_it_has_coverage(sandbox: SandboxServer) -> None:
    sandbox.control.set_clock("2025-06-07T12:00:00+02:00")  # Saturday: the weekend layer
    assert _level(_rows(sandbox), "PEPAY01", 1)[0][3] == "PERIN05"
    sandbox.control.set_clock("2025-06-09T09:30:00+02:00")  # Monday after: weekly layer, Carol's turn
    assert _level(_rows(sandbox), "PEPAY01", 1)[0][3] == "PCAROL3"


def test_follow_the_sun(sandbox: SandboxServer) -> None:
    expected = {
        "2025-06-02T03:00:00Z": ["PLEO010"],  # Tokyo 12:00
        "2025-06-02T07:30:00Z": ["PLEO010", "PDAVE04"],  # Tokyo and London overlap in summer time
        "2025-06-02T10:00:00Z": ["PDAVE04"],  # London 11:00 BST
        "2025-06-02T18:00:00Z": ["PNIKO11"],  # Los Angeles 11:00 PDT
        "2025-06-02T23:30:00Z": [],  # the gap between California and Tokyo
        "2025-06-03T03:00:00Z": ["PFRANK6"],  # next day, next in the Tokyo rotation
    }
    for at, users in expected.items():
        sandbox.control.set_clock(at)
        rows = _level(_rows(sandbox), "PEFTS02", 1)
        assert [r[3] for r in rows] == users, at
        flat = sandbox.control.oncall()["escalation_policies"]["PEFTS02"]["1"]
        assert flat == users, at
    sandbox.control.set_clock("2025-06-02T03:00:00Z")
    (row,) = _level(_rows(sandbox, time_zone="Asia/Tokyo"), "PEFTS02", 1)
    assert row[2:] == ("PSFTSAP", "PLEO010", "2025-06-02T09:00:00+09:00", "2025-06-02T17:00:00+09:00")


def test_time_zone_rendering(sandbox: SandboxServer) -> None:
    (utc,) = _level(_rows(sandbox), "PEPAY01", 2)
    assert utc[4:] == ("2025-06-01T07:00:00Z", "2025-06-02T07:00:00Z")
    (tokyo,) = _level(_rows(sandbox, time_zone="Asia/Tokyo"), "PEPAY01", 2)
    assert tokyo[4:] == ("2025-06-01T16:00:00+09:00", "2025-06-02T16:00:00+09:00")


def test_range_and_earliest(sandbox: SandboxServer) -> None:
    window = {"since": "2025-06-02T00:00:00Z", "until": "2025-06-06T00:00:00Z", "schedule_ids[]": ["PSPAYP1"]}
    rows = _rows(sandbox, **window)
    assert [r[3] for r in rows] == ["PIVAN09", "PBOB002", "PERIN05", "PBOB002"]
    # Real shift bounds, not clipped to the window.
    assert rows[0][4] == "2025-05-31T07:00:00Z" and rows[-1][5] == "2025-06-07T07:00:00Z"
    earliest = _rows(sandbox, earliest="true", **window)
    assert [r[3] for r in earliest] == ["PIVAN09", "PBOB002", "PERIN05"]


def test_filters(sandbox: SandboxServer) -> None:
    assert {r[2] for r in _rows(sandbox, **{"schedule_ids[]": ["PSPAYS2"]})} == {"PSPAYS2"}
    assert _rows(sandbox, **{"schedule_ids[]": ["PSPAYP1"], "escalation_policy_ids[]": ["PEFTS02"]}) == []
    assert [r[1] for r in _rows(sandbox, **{"user_ids[]": ["PMORG12"]})] == [3]
    assert {r[0] for r in _rows(sandbox, **{"escalation_policy_ids[]": ["PEFTS02"]})} == {"PEFTS02"}


def test_schedule_without_policy_is_not_in_oncalls(sandbox: SandboxServer) -> None:
    assert _rows(sandbox, **{"schedule_ids[]": ["PSSHADO"]}) == []
    assert sandbox.control.oncall()["schedules"]["PSSHADO"] == ["PMORG12"]


def test_include_users_embeds_full_users(sandbox: SandboxServer) -> None:
    pd = sandbox.pagerduty_client()
    rows = pd.list_all("oncalls", params={"include[]": ["users"], "escalation_policy_ids[]": ["PEPAY01"]})
    users = {o["user"]["id"]: o["user"] for o in rows}
    assert users["PCAROL3"]["email"] == "carol@acme.example" and users["PCAROL3"]["type"] == "user"
    plain = pd.list_all("oncalls", params={"escalation_policy_ids[]": ["PEPAY01"]})
    assert all(o["user"]["type"] == "user_reference" and "email" not in o["user"] for o in plain)


def test_rendered_final_schedule(sandbox: SandboxServer) -> None:
    pd = sandbox.pagerduty_client()
    schedule = pd.rget(
        "/schedules/PSPAYP1",
        params={"since": "2025-06-02T00:00:00+02:00", "until": "2025-06-06T00:00:00+02:00", **BERLIN},
    )
    entries = [
        (e["start"], e["end"], e["user"]["id"])
        for e in schedule["final_schedule"]["rendered_schedule_entries"]
    ]
    assert entries == [
        ("2025-06-02T00:00:00+02:00", "2025-06-02T09:00:00+02:00", "PIVAN09"),
        ("2025-06-02T09:00:00+02:00", "2025-06-04T18:00:00+02:00", "PBOB002"),
        ("2025-06-04T18:00:00+02:00", "2025-06-05T09:00:00+02:00", "PERIN05"),
        ("2025-06-05T09:00:00+02:00", "2025-06-06T00:00:00+02:00", "PBOB002"),
    ]
    assert schedule["final_schedule"]["rendered_coverage_percentage"] == 100.0
    layers = schedule["schedule_layers"]
    assert layers[1]["restrictions"][0] == {
        "type": "weekly_restriction",
        "start_time_of_day": "09:00:00",
        "duration_seconds": 172800,
        "start_day_of_week": 6,
    }


def _mini_seed(seed: Any, layers: list[dict[str, Any]], overrides: list[dict[str, Any]] | None = None) -> Any:
    document = seed.model_dump(mode="json")
    document["pagerduty"]["schedules"] = [
        {
            "id": "PSTEST1",
            "name": "Test",
            "time_zone": "Europe/Berlin",
            "layers": layers,
            "overrides": overrides or [],
        }
    ]
    document["pagerduty"]["escalation_policies"] = [
        {
            "id": "PETEST1",
            "name": "Test",
            "rules": [{"id": "PRTEST1", "targets": [{"type": "schedule_reference", "id": "PSTEST1"}]}],
        }
    ]
    return document


def test_daily_restriction_layer_over_base_layer(sandbox: SandboxServer, seed: Any) -> None:
    base = {
        "id": "PLBASE1",
        "start": "2025-03-01T00:00:00+01:00",
        "rotation_virtual_start": "2025-03-01T00:00:00+01:00",
        "rotation_turn_length_seconds": 86400,
        "users": ["PALICE1"],
    }
    lunch = {
        "id": "PLLUNCH",
        "start": "2025-03-01T00:00:00+01:00",
        "rotation_virtual_start": "2025-03-01T12:00:00+01:00",
        "rotation_turn_length_seconds": 86400,
        "users": ["PBOB002", "PCAROL3"],
        "restrictions": [
            {"type": "daily_restriction", "start_time_of_day": "12:00:00", "duration_seconds": 7200}
        ],
    }
    override = {
        "id": "POTEST1",
        "start": "2025-03-03T12:30:00+01:00",
        "end": "2025-03-03T13:00:00+01:00",
        "user": "PDAVE04",
    }
    sandbox.control.load(_mini_seed(seed, [base, lunch], [override]))
    pd = sandbox.pagerduty_client()
    final = pd.rget(
        "/schedules/PSTEST1",
        params={"since": "2025-03-02T00:00:00+01:00", "until": "2025-03-04T00:00:00+01:00", **BERLIN},
    )["final_schedule"]["rendered_schedule_entries"]
    assert [(e["start"][8:16], e["end"][8:16], e["user"]["id"]) for e in final] == [
        ("02T00:00", "02T12:00", "PALICE1"),
        ("02T12:00", "02T14:00", "PCAROL3"),
        ("02T14:00", "03T12:00", "PALICE1"),
        ("03T12:00", "03T12:30", "PBOB002"),
        ("03T12:30", "03T13:00", "PDAVE04"),
        ("03T13:00", "03T14:00", "PBOB002"),
        ("03T14:00", "04T00:00", "PALICE1"),
    ]


def test_daily_handoff_keeps_wall_clock_across_dst(sandbox: SandboxServer, seed: Any) -> None:
    daily = {
        "id": "PLDAILY",
        "start": "2025-03-20T09:00:00+01:00",
        "rotation_virtual_start": "2025-03-20T09:00:00+01:00",
        "rotation_turn_length_seconds": 86400,
        "users": ["PALICE1", "PBOB002"],
    }
    sandbox.control.load(_mini_seed(seed, [daily]))
    rows = _rows(sandbox, since="2025-03-29T12:00:00Z", until="2025-03-31T12:00:00Z", **BERLIN)
    assert [(r[4], r[5]) for r in rows] == [
        ("2025-03-29T09:00:00+01:00", "2025-03-30T09:00:00+02:00"),
        ("2025-03-30T09:00:00+02:00", "2025-03-31T09:00:00+02:00"),
        ("2025-03-31T09:00:00+02:00", "2025-04-01T09:00:00+02:00"),
    ]
