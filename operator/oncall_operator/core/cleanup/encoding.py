"""The compact form of a plan in a CleanupRun's status, so 10,000 people fit well under 1.5 MiB.

One string per person: `<pagerDutyUser> <slackUser> <subject> <reasons> <changes>`, "-" for an
empty field. Changes are `<kind letter><target index>` separated by commas (`x` alone deletes the
PagerDuty user); targets are listed once in `status.targets`, sorted. The subject is the person's
subject reference without its constant `hmac-sha256:` prefix.
"""

from __future__ import annotations

from collections.abc import Sequence

from oncall_operator.core.cleanup.plan import Change, ChangeKind, PlanItem
from oncall_operator.core.subjects import PREFIX as SUBJECT_PREFIX

EMPTY = "-"


class EncodingError(ValueError):
    """A status item this operator cannot read (written by hand, or by an incompatible version)."""


def encode(items: Sequence[PlanItem]) -> tuple[list[str], list[str]]:
    """(targets, item strings)."""
    targets = sorted({c.target for item in items for c in item.changes if c.target is not None})
    index = {target: position for position, target in enumerate(targets)}
    lines = []
    for item in items:
        changes = ",".join(
            c.kind.value + (str(index[c.target]) if c.target is not None else "") for c in item.changes
        )
        lines.append(
            " ".join(
                (
                    item.pagerduty_user or EMPTY,
                    item.slack_user or EMPTY,
                    item.subject.removeprefix(SUBJECT_PREFIX),
                    item.reasons or EMPTY,
                    changes or EMPTY,
                )
            )
        )
    return targets, lines


def decode(targets: Sequence[str], lines: Sequence[str]) -> tuple[PlanItem, ...]:
    return tuple(_decode_one(targets, line, position) for position, line in enumerate(lines))


def _decode_one(targets: Sequence[str], line: str, position: int) -> PlanItem:
    fields = line.split(" ")
    if len(fields) != 5:
        raise EncodingError(f"status.items[{position}] has {len(fields)} fields, not 5")
    pagerduty, slack, subject, reasons, changes = fields
    decoded: list[Change] = []
    for code in changes.split(",") if changes != EMPTY else ():
        try:
            kind = ChangeKind(code[:1])
            target = targets[int(code[1:])] if kind is not ChangeKind.DELETE_USER else None
        except (ValueError, IndexError):
            raise EncodingError(f"status.items[{position}]: unknown change {code!r}") from None
        if kind is ChangeKind.DELETE_USER and code != kind.value:
            raise EncodingError(f"status.items[{position}]: unknown change {code!r}")
        decoded.append(Change(kind, target))
    return PlanItem(
        pagerduty_user=None if pagerduty == EMPTY else pagerduty,
        slack_user=None if slack == EMPTY else slack,
        subject=SUBJECT_PREFIX + subject,
        reasons="" if reasons == EMPTY else reasons,
        changes=tuple(decoded),
    )
