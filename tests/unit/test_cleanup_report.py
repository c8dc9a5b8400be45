"""`cleanup show` rendering: one row per change, people without changes once, three formats."""

from __future__ import annotations

import csv
import io
import json

from oncall_operator.core.cleanup.plan import Change, ChangeKind, PlanItem
from oncall_operator.core.cleanup.progress import Progress
from oncall_operator.core.cleanup.report import Person, render, rows

ITEMS = (
    PlanItem(
        "PGONE01",
        "UGONE01",
        "hmac-sha256:x",
        "DE",
        (Change(ChangeKind.TEAM, "PTEAM01"), Change(ChangeKind.DELETE_USER)),
    ),
    PlanItem("PONCALL", None, "hmac-sha256:y", "Mp", ()),
)
PEOPLE = {
    "PGONE01": Person(None, None),
    "UGONE01": Person("Gone One", "gone1@example.test"),
    "PONCALL": Person("On Call", "oc@example.test"),
}


def test_rows_resolve_people_and_targets_and_name_states_and_reasons() -> None:
    progress = Progress.from_status(ITEMS, {"0": "dn"})
    found = rows(ITEMS, progress, {"0.1": "OpenIncidents"}, PEOPLE, {"PTEAM01": "Payments"})
    assert [(r.action, r.target_name, r.state, r.reason) for r in found] == [
        ("removeFromPagerDutyTeam", "Payments", "done", ""),
        ("deletePagerDutyUser", "", "needs a person", "OpenIncidents"),
        ("", "", "protected (on call)", ""),
    ]
    # Deleted in PagerDuty: the name and email come from the Slack account that remains.
    assert (found[0].name, found[0].email, found[0].matched_because) == (
        "Gone One",
        "gone1@example.test",
        "deactivated, emailDomains",
    )
    assert found[2].matched_because == "missing"


def test_three_formats() -> None:
    found = rows(ITEMS, Progress({}), {}, PEOPLE, {})
    table = render(found, "table").splitlines()
    assert table[0].split()[:4] == ["PAGERDUTY", "USER", "SLACK", "USER"] and len(table) == 4
    assert json.loads(render(found, "json"))[1]["state"] == "pending"
    parsed = list(csv.DictReader(io.StringIO(render(found, "csv"))))
    assert parsed[0]["pagerduty_user"] == "PGONE01" and len(parsed) == 3
