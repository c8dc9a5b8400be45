"""`oncall-operator cleanup show`: a run's plan and outcomes as rows, with names and emails the command
looked up at display time (they are never stored), rendered as a table, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from oncall_operator.core.cleanup.matching import PROTECTED_LETTER, REASON_LETTERS
from oncall_operator.core.cleanup.plan import KIND_NAMES, PlanItem
from oncall_operator.core.cleanup.progress import ChangeState, Progress

REASON_WORDS = {letter: str(condition) for condition, letter in REASON_LETTERS.items()}
STATE_WORDS = {
    ChangeState.PENDING: "pending",
    ChangeState.INTENT: "in flight",
    ChangeState.DONE: "done",
    ChangeState.ALREADY_DONE: "already done",
    ChangeState.SKIPPED: "skipped (no longer matches)",
    ChangeState.NEEDS_PERSON: "needs a person",
    ChangeState.FAILED: "failed",
}
FORMATS = ("table", "json", "csv")


@dataclass(frozen=True)
class Person:
    """What the command found live for an id (None: not found, e.g. deleted)."""

    name: str | None
    email: str | None


@dataclass(frozen=True)
class Row:
    pagerduty_user: str
    slack_user: str
    name: str
    email: str
    matched_because: str
    action: str
    target: str
    target_name: str
    state: str
    reason: str


def rows(
    items: Sequence[PlanItem],
    progress: Progress,
    failures: Mapping[str, str],
    people: Mapping[str, Person],
    target_names: Mapping[str, str],
) -> list[Row]:
    """One row per change; people without changes (protected, or nothing left to remove) get one."""
    out: list[Row] = []
    for index, item in enumerate(items):
        found = [people.get(i) for i in (item.pagerduty_user, item.slack_user) if i]
        name = next((p.name for p in found if p and p.name), "(not found: deleted?)")
        email = next((p.email for p in found if p and p.email), "")
        because = ", ".join(
            REASON_WORDS.get(letter, letter) for letter in item.reasons if letter != PROTECTED_LETTER
        )
        base = dict(
            pagerduty_user=item.pagerduty_user or "",
            slack_user=item.slack_user or "",
            name=name,
            email=email,
            matched_because=because,
        )
        if not item.changes:
            state = "protected (on call)" if item.protected else "nothing to change"
            out.append(Row(**base, action="", target="", target_name="", state=state, reason=""))
            continue
        for position, change in enumerate(item.changes):
            target = change.target or ""
            out.append(
                Row(
                    **base,
                    action=KIND_NAMES[change.kind],
                    target=target,
                    target_name=target_names.get(target, ""),
                    state=STATE_WORDS[progress.state((index, position))],
                    reason=failures.get(f"{index}.{position}", ""),
                )
            )
    return out


def render(found: Sequence[Row], form: str) -> str:
    if form == "json":
        return json.dumps([asdict(row) for row in found], indent=2) + "\n"
    fields = list(Row.__dataclass_fields__)
    if form == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(asdict(row) for row in found)
        return buffer.getvalue()
    headers = [field.upper().replace("_", " ") for field in fields]
    table = [headers] + [[str(getattr(row, field)) for field in fields] for row in found]
    widths = [max(len(line[column]) for line in table) for column in range(len(fields))]
    return "".join(
        "   ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() + "\n"
        for line in table
    )
