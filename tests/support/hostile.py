"""Helpers for the hostile-answers reliability tests: the table's row, classified reasons, a person-data
scan, and seeds with unicode people and directories at the services' paging limits."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from oncall_operator.api.cleanup import CleanupReason
from oncall_operator.api.deletion import DeletionReason
from oncall_operator.api.oncallsync import OnCallSyncReason
from oncall_operator.api.reasons import CommonReason, ExternalReason
from support import scenario
from support.cleanup import cleanup_seed
from support.kube import Kube

CLASSIFIED = {
    str(r)
    for enum in (ExternalReason, CommonReason, CleanupReason, DeletionReason, OnCallSyncReason)
    for r in enum
}
# Answers that take long by design: the operator waits out its 30 s call deadline or 15 s read timeout
# (three attempts for a read) before it can say anything.
SLOW_KINDS = frozenset({"drip_feed", "headers_then_silence"})


@dataclass(frozen=True)
class Hostile:
    """One row: a hostile answer on one method, and the reasons the resource may then show.

    No reasons: the answer is odd but usable (an unexpected extra field) and the resource must simply
    work, with the right members."""

    api: str
    method: str
    fault: dict[str, Any]
    reasons: frozenset[str] = frozenset()
    quick: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        detail = self.fault.get("field") or self.fault.get("mode") or ""
        return "-".join(
            p for p in (self.method.replace(" ", "").replace("/", "_"), self.fault["kind"], detail) if p
        )

    def inject(self, sandbox: Any) -> None:
        body = {"api": self.api, "method": self.method, **self.fault}
        sandbox.control("POST", "faults", body)

    def deadline(self) -> float:
        return 170.0 if self.fault["kind"] in SLOW_KINDS else 75.0


def personal_data_in(text: str, words: list[str]) -> list[str]:
    """The seeded names and addresses (any case) that appear in `text`."""
    lowered = text.casefold()
    return [w for w in words if w.casefold() in lowered]


def events_text(kube: Kube, namespace: str) -> str:
    items = json.loads(kube.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    return "\n".join(f"{e.get('reason')} {e.get('message')}" for e in items)


# --- unicode people: non-ASCII, right-to-left and emoji names; IDN, upper- and mixed-case addresses ---

# PagerDuty id, Slack id, name, PagerDuty's address, Slack's address (None: no Slack account)
UNICODE_PEOPLE: list[tuple[str, str | None, str, str, str | None]] = [
    ("PAAA", "UAAA", "Zoë Ångström-Øre", "Zoë.Ångström@Exämple.test", "zoë.ångström@exämple.test"),
    ("PBBB", "UBBB", "محمد الأحمد", "MUHAMMAD.ALAHMAD@EXAMPLE.TEST", "muhammad.alahmad@example.test"),
    (
        "PCCC",
        "UCCC",
        "😀 Ŝtéphane \u202eRTL\u202c 李小龍",
        "Stéphane.Li@xn--exmple-cua.test",
        "stéphane.li@xn--exmple-cua.test",
    ),
    ("PDDD", "UDDD", "Đorđe Petrović", "DJORDJE@Example.Test", "djordje@example.test"),
    ("PEEE", "UEEE", "Ελένη Παπαδοπούλου", "eleni@ελλάδα.test", "ELENI@ελλάδα.test"),
    ("PFFF", "UFFF", "Søren Kierkegård", "soren@example.test", "soren@example.test"),
]
BIG_SCHEDULE = "PSCHEDBIG"
SLACK_DIRECTORY = 10_000  # ten users.list pages at Slack's maximum limit of 1,000
PAGERDUTY_DIRECTORY = 10_000  # exactly what classic pagination reaches (offset + limit <= 10,000)
ROSTER_GENERATED = 60  # past the adapters' thresholds: the directories are listed, not looked up one by one


def unicode_words() -> list[str]:
    words: list[str] = []
    for _, _, name, pd_email, slack_email in UNICODE_PEOPLE:
        words += [name, pd_email, *([slack_email] if slack_email else [])]
        words += [part for part in name.split() if len(part) > 3]
    return words


def unicode_oncall_seed() -> dict[str, Any]:
    """The scenario with its six people renamed in unicode, plus directories at the paging limits: 10,000
    Slack users (the scenario's 8 and generated ones) and exactly 10,000 PagerDuty users."""
    seed = scenario.seed()
    people = {
        pd: (slack, name, pd_email, slack_email) for pd, slack, name, pd_email, slack_email in UNICODE_PEOPLE
    }
    for user in seed["pagerduty"]["users"]:
        _, user["name"], user["email"], _ = people[user["id"]]
    for user in seed["slack"]["users"]:
        match = next((p for p in people.values() if p[0] == user["id"]), None)
        if match:
            user["name"] = user["id"].lower()
            user["real_name"] = user["display_name"] = match[1]
            user["email"] = match[3]
    seed["slack"]["generated_users"] = {
        "count": SLACK_DIRECTORY - len(seed["slack"]["users"]),
        "email_domain": "bulk.example",
    }
    seed["pagerduty"]["generated_users"] = {
        "count": PAGERDUTY_DIRECTORY - len(seed["pagerduty"]["users"]),
        "email_domain": "bulk.example",
    }
    roster = ["PAAA", "PBBB", "PCCC"] + [f"PU{n:07d}" for n in range(1, ROSTER_GENERATED + 1)]
    seed["pagerduty"]["schedules"].append(scenario.hourly(BIG_SCHEDULE, roster))
    return seed


def big_roster_members() -> list[str]:
    return sorted(["UAAA", "UBBB", "UCCC"] + [f"U9{n:07d}" for n in range(1, ROSTER_GENERATED + 1)])


# CleanupRule: unicode people among the stale ones, a Slack directory of 10,000 and PagerDuty's 10,000.
UNICODE_STALE = [
    # deactivated in Slack, the address differs in case and is non-ASCII: matched (deactivated)
    (
        "PUNI001",
        "UUNI001",
        "Ђорђе Петровић",
        "Đorđe.Petrović@Exämple.test",
        "đorđe.petrović@exämple.test",
        True,
    ),
    # no Slack account at all: matched (missing)
    ("PUNI002", None, "🦄 عائشة", "aisha.🦄@example.test", None, False),
]
UNICODE_KEPT = [
    # active in Slack; PagerDuty has the address in capitals: never matched
    ("PUNI003", "UUNI003", "ÉMILIE DU CHÂTELET", "EMILIE@EXAMPLE.TEST", "emilie@example.test", False),
    ("PUNI004", "UUNI004", "שרה כהן", "Sarah.Cohen@Example.test", "sarah.cohen@example.TEST", False),
]
CLEANUP_STALE = {"PGONE01", "PGONE02", "PNOSLK1", "PONCALL", "PUNI001", "PUNI002"}


def unicode_cleanup_seed() -> dict[str, Any]:
    rows = UNICODE_STALE + UNICODE_KEPT
    seed = cleanup_seed(
        extra_pagerduty_users=[{"id": pd, "name": name, "email": email} for pd, _, name, email, _, _ in rows],
    )
    for _, slack_id, name, _, slack_email, deleted in rows:
        if slack_id:
            seed["slack"]["users"].append(
                {"id": slack_id, "name": slack_id.lower(), "real_name": name, "display_name": name,
                 "email": slack_email, "deleted": deleted}
            )  # fmt: skip
    seed["slack"]["generated_users"] = {
        "count": SLACK_DIRECTORY - len(seed["slack"]["users"]),
        "email_domain": "bulk.test",
    }
    seed["pagerduty"]["generated_users"] = {
        "count": PAGERDUTY_DIRECTORY - len(seed["pagerduty"]["users"]),
        "email_domain": "bulk.test",
    }
    return seed


def cleanup_words() -> list[str]:
    words: list[str] = []
    for _, _, name, pd_email, slack_email, _ in UNICODE_STALE + UNICODE_KEPT:
        words += [name, pd_email, *([slack_email] if slack_email else [])]
    return words
