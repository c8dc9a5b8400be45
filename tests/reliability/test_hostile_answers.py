"""Hostile answers through the operator process: for each kind that talks to Slack and PagerDuty, a table
of answers a server can give on the methods it calls - a missing or null field, an unexpected field, a
wrong type, HTML, truncated JSON, a drip-feed, headers then silence, a huge body, a page loop, an error
string naming a person - each ends as a classified reason on the resource within a deadline, the process
alive, nothing partial reported as success, no name or address in a message; cleared, it recovers.

Then unicode people and directories at the paging limits (10,000 Slack users in pages of 1,000, exactly
the 10,000 PagerDuty users classic pagination reaches), matched right, named nowhere.

The quick subset (`make test-reliability`) runs the rows marked quick; `make test-long` all of them.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from support.cleanup import cleanup_seed, cleanuprule, run_now, writes
from support.hostile import (
    BIG_SCHEDULE,
    CLASSIFIED,
    CLEANUP_STALE,
    Hostile,
    big_roster_members,
    cleanup_words,
    events_text,
    personal_data_in,
    unicode_cleanup_seed,
    unicode_oncall_seed,
    unicode_words,
)
from support.kube import Kube, wait_for
from support.oncall import Sandbox, create_token_secrets, oncallsync, wait_condition
from support.privacy import deletion_request, subject_secret
from support.reliability import expected_members

pytestmark = pytest.mark.cluster

RECOVERY_SECONDS = 120.0  # from the fault cleared to Ready again (the backoff is still short then)
SEEDED_EMAILS = ["@example.test", "@vendor.test"]
PERSON_IN_ERROR = "user_not_found: Zoë Ångström <zoe@example.test>"
INVALID, INCOMPLETE = "InvalidResponse", "IncompleteListing"
SLACK_DOWN, PD_DOWN = "SlackUnavailable", "PagerDutyUnavailable"


def H(api: str, method: str, reasons: set[str], quick: bool = False, **fault: Any) -> Hostile:
    return Hostile(api, method, fault, frozenset(reasons), quick)


def rows(table: list[Hostile]) -> list[Any]:
    return [pytest.param(h, id=h.id, marks=() if h.quick else pytest.mark.long) for h in table]


def _start(kube: Kube, namespace: str, sandbox: Sandbox, operators: Any) -> Any:
    create_token_secrets(kube, namespace)
    env = {**sandbox.server.operator_env(), "ONCALL_OPERATOR_NAMESPACE": namespace}
    return operators("-n", namespace, env=env).start()


def _assert_clean(operator: Any, *texts: str, words: list[str] = SEEDED_EMAILS) -> None:
    assert operator.alive(), operator.tail()
    for text in texts:
        assert personal_data_in(text, [*words, "zoe@", "Zoë"]) == [], text


# --- OnCallSync -------------------------------------------------------------------------------------

ONCALLSYNC = [
    H("pagerduty", "GET /oncalls", {INVALID, INCOMPLETE}, True, kind="null_field", field="oncalls"),
    H("pagerduty", "GET /oncalls", {INVALID, INCOMPLETE}, kind="drop_field", field="oncalls"),
    H("pagerduty", "GET /oncalls", {INVALID, INCOMPLETE}, kind="drop_field", field="oncalls[].user"),
    H(
        "pagerduty",
        "GET /oncalls",
        {INVALID, INCOMPLETE},
        kind="set_field",
        field="oncalls[].user.id",
        body=42,
    ),
    H(
        "pagerduty",
        "GET /oncalls",
        {INVALID, INCOMPLETE},
        kind="set_field",
        field="oncalls[].start",
        body=[1],
    ),
    H("pagerduty", "GET /oncalls", {INVALID, INCOMPLETE}, kind="set_field", field="oncalls", body="PAAA"),
    H(
        "pagerduty",
        "GET /oncalls",
        set(),
        kind="set_field",
        field="oncalls[].user.x_unexpected",
        body={"ü": ["😀"]},
    ),
    H(
        "pagerduty",
        "GET /oncalls",
        {INVALID, INCOMPLETE},
        kind="json_body",
        body={"oncalls": {"PAAA": 1}, "more": "yes"},
    ),
    H("pagerduty", "GET /oncalls", {PD_DOWN, INVALID}, kind="html_error"),
    H("pagerduty", "GET /oncalls", {INVALID, PD_DOWN}, kind="malformed_json"),
    H("pagerduty", "GET /oncalls", {INVALID, PD_DOWN}, kind="plain_text"),
    H("pagerduty", "GET /oncalls", {PD_DOWN}, kind="drip_feed", interval_seconds=1.0),
    H("pagerduty", "GET /oncalls", {PD_DOWN}, kind="headers_then_silence", latency_seconds=120),
    H("pagerduty", "GET /oncalls", {PD_DOWN, INVALID}, kind="huge_body", size_bytes=64 * 1024 * 1024),
    H("pagerduty", "GET /oncalls", {INVALID, INCOMPLETE}, kind="paging_loop", mode="empty_more"),
    H("pagerduty", "GET /oncalls", {INVALID, INCOMPLETE}, kind="paging_loop", mode="same_page"),
    H("pagerduty", "GET /schedules/{id}", {INVALID}, kind="json_body", body=["PSCHEDA"]),
    H("slack", "usergroups.list", {INVALID}, kind="drop_field", field="usergroups"),
    # Finding the group needs no member list: a garbled one is not used, and the sync works.
    H("slack", "usergroups.list", set(), kind="set_field", field="usergroups[].users", body="UAAA,UBBB"),
    H("slack", "usergroups.list", {INVALID}, kind="plain_text"),
    H(
        "slack",
        "usergroups.list",
        {INVALID, SLACK_DOWN},
        True,
        kind="json_body",
        body={"ok": False, "error": PERSON_IN_ERROR},
    ),
    H("slack", "usergroups.list", {INVALID}, kind="json_body", body={"ok": False, "error": 42}),
    H("slack", "usergroups.list", {SLACK_DOWN}, kind="huge_body", size_bytes=64 * 1024 * 1024),
    H("slack", "usergroups.list", {SLACK_DOWN}, kind="headers_then_silence", latency_seconds=120),
    H("slack", "users.lookupByEmail", {INVALID}, kind="null_field", field="user"),
    H("slack", "users.lookupByEmail", {INVALID}, kind="set_field", field="user.id", body=["UAAA"]),
    H("slack", "users.lookupByEmail", set(), kind="set_field", field="user.profile.x_unexpected", body="ǅ"),
    H("slack", "users.lookupByEmail", {INVALID, SLACK_DOWN}, kind="malformed_json"),
    H("slack", "usergroups.create", {SLACK_DOWN, INVALID}, kind="html_error"),
    H("slack", "usergroups.create", {SLACK_DOWN, INVALID}, kind="drip_feed", interval_seconds=1.0),
]


@pytest.mark.parametrize("hostile", rows(ONCALLSYNC))
def test_oncallsync_hostile_answer_is_classified_then_recovers(
    kube: Kube, namespace: str, sandbox: Sandbox, operators: Any, hostile: Hostile, figures: dict[str, str]
) -> None:
    operator = _start(kube, namespace, sandbox, operators)
    hostile.inject(sandbox)
    began = time.monotonic()
    kube.apply(oncallsync("hostile", namespace))
    want = expected_members(9)
    lies: list[Any] = []
    held: list[bool] = []  # the group has held the right members once

    def ready() -> dict[str, Any] | None:
        status = kube.get("oncallsync", "hostile", namespace).get("status") or {}
        found = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), None)
        actual = sandbox.members("hostile")
        held.extend([True] if actual == want else [])
        # Nothing partial, ever: the group is absent, just created (Slack's usergroups.create takes no
        # members, so a group is empty until its members are set - for as long as a lost create answer
        # hides its id), or right; Ready=True only with the right members.
        partial = actual not in (None, want) and not (actual == [] and not held)
        if partial or (found and found["status"] == "True" and status.get("members") != want):
            lies.append((found, status.get("members"), actual))
        return found

    if not hostile.reasons:  # odd but usable: it just works
        wait_for(lambda: (r := ready()) and r["status"] == "True" and r, timeout=60, what="Ready")
        assert lies == [] and sandbox.members("hostile") == want
        _assert_clean(operator, json.dumps(kube.get("oncallsync", "hostile", namespace)["status"]))
        return
    failed = wait_for(
        lambda: (r := ready()) and r["status"] == "False" and r["reason"] in hostile.reasons and r,
        timeout=hostile.deadline(),
        interval=1,
        what=f"Ready=False with one of {sorted(hostile.reasons)}",
    )
    classified_after = time.monotonic() - began
    assert failed["reason"] in CLASSIFIED and failed["message"], failed
    sandbox.control("DELETE", "faults")
    cleared = time.monotonic()
    wait_for(
        lambda: (r := ready()) and r["status"] == "True" and r, timeout=RECOVERY_SECONDS, what="Ready again"
    )
    recovered_after = time.monotonic() - cleared
    assert lies == [], lies
    assert sandbox.members("hostile") == want
    status = kube.get("oncallsync", "hostile", namespace)["status"]
    _assert_clean(
        operator, failed["message"], json.dumps(status), events_text(kube, namespace), operator.tail(10**7)
    )
    figures[f"hostile OnCallSync {hostile.id}"] = (
        f"{failed['reason']} after {classified_after:.0f}s; Ready {recovered_after:.0f}s after clearing"
    )


# --- CleanupRule: a run reads complete listings or refuses -----------------------------------------

CLEANUP = [
    H("slack", "users.list", {INCOMPLETE, INVALID}, True, kind="drop_field", field="members"),
    H("slack", "users.list", {INCOMPLETE, INVALID}, kind="null_field", field="members"),
    H("slack", "users.list", {INCOMPLETE}, kind="set_field", field="members", body=[]),  # ok, nobody
    H("slack", "users.list", {INCOMPLETE, INVALID}, kind="set_field", field="members[].id", body=7),
    H(
        "slack",
        "users.list",
        {INCOMPLETE, INVALID},
        kind="set_field",
        field="response_metadata.next_cursor",
        body=["x"],
    ),
    H("slack", "users.list", {INCOMPLETE, INVALID}, kind="malformed_json"),
    H("slack", "users.list", {INCOMPLETE, INVALID}, kind="html_error"),
    H(
        "slack",
        "users.list",
        {INCOMPLETE, INVALID},
        kind="json_body",
        body={"ok": False, "error": PERSON_IN_ERROR},
    ),
    H("slack", "users.list", {INCOMPLETE}, kind="drip_feed", interval_seconds=1.0),
    H("slack", "users.list", {INCOMPLETE}, kind="huge_body", size_bytes=64 * 1024 * 1024),
    H(
        "slack",
        "usergroups.list",
        {INCOMPLETE, INVALID},
        kind="set_field",
        field="usergroups[].users",
        body=None,
    ),
    H("slack", "usergroups.list", {INCOMPLETE}, kind="headers_then_silence", latency_seconds=120),
    H("pagerduty", "GET /users", {INCOMPLETE, INVALID}, kind="drop_field", field="users[].email"),
    H("pagerduty", "GET /users", {INCOMPLETE, INVALID}, kind="set_field", field="users", body={"PAAA": {}}),
    H("pagerduty", "GET /users", {INCOMPLETE, INVALID}, kind="paging_loop", mode="empty_more"),
    H("pagerduty", "GET /users", {INCOMPLETE, INVALID}, kind="paging_loop", mode="same_page"),
    H("pagerduty", "GET /users", {INCOMPLETE, INVALID}, kind="plain_text"),
    H("pagerduty", "GET /oncalls", {INCOMPLETE, INVALID}, kind="null_field", field="oncalls[].user"),
    H("pagerduty", "GET /schedules", {INCOMPLETE, INVALID}, kind="malformed_json"),
    H(
        "pagerduty",
        "GET /escalation_policies",
        {INCOMPLETE, INVALID},
        kind="json_body",
        body={"escalation_policies": None, "more": False},
    ),
]
CLEANUP_REFUSED = ("Refused", "Failed")


def _runs(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(
        kube.kubectl("get", "cleanupruns", "-n", namespace, "-o", "json").stdout
    )["items"]
    return found


def _finished(kube: Kube, namespace: str, name: str, timeout: float) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        run = next((r for r in _runs(kube, namespace) if r["metadata"]["name"] == name), None)
        phase = ((run or {}).get("status") or {}).get("phase")
        return (
            run
            if phase in ("Planned", "Completed", "Failed", "Refused", "Aborted", "AwaitingApproval")
            else None
        )

    return wait_for(probe, timeout=timeout, interval=1, what=f"run {name} finished")


def _stale(run: dict[str, Any]) -> set[str]:
    return {line.split(" ")[0] for line in run["status"]["items"]}


@pytest.mark.parametrize("hostile", rows(CLEANUP))
def test_cleanup_run_refuses_on_a_hostile_listing_then_the_next_run_plans(
    kube: Kube, namespace: str, sandbox: Sandbox, operators: Any, hostile: Hostile, figures: dict[str, str]
) -> None:
    sandbox.control("POST", "load", cleanup_seed())
    operator = _start(kube, namespace, sandbox, operators)
    hostile.inject(sandbox)
    sandbox.control("DELETE", "requests")
    began = time.monotonic()
    # Dry-run by default, and allowed to act on the stale four: a truncated listing would show up as more.
    kube.apply(cleanuprule("hostile", namespace, annotations=run_now("1")))
    [first] = wait_for(lambda: [r["metadata"]["name"] for r in _runs(kube, namespace)], what="a run")
    run = _finished(kube, namespace, first, hostile.deadline() + 30)
    status = run["status"]
    refused_after = time.monotonic() - began
    assert status["phase"] in CLEANUP_REFUSED, status
    assert status["reason"] in hostile.reasons and status["reason"] in CLASSIFIED, status
    assert status.get("items", []) == [] and writes(sandbox.requests()) == []
    sandbox.control("DELETE", "faults")
    cleared = time.monotonic()
    kube.apply(cleanuprule("hostile", namespace, annotations=run_now("2")))
    second = wait_for(
        lambda: [n for r in _runs(kube, namespace) if (n := r["metadata"]["name"]) != first], what="run 2"
    )[0]
    planned = _finished(kube, namespace, second, RECOVERY_SECONDS)
    assert planned["status"]["phase"] == "Planned" and _stale(planned) == {
        "PGONE01",
        "PGONE02",
        "PNOSLK1",
        "PONCALL",
    }
    rule = kube.get("cleanuprule", "hostile", namespace)["status"]
    ready = next(c for c in rule["conditions"] if c["type"] == "Ready")
    assert ready["reason"] in CLASSIFIED, ready
    _assert_clean(
        operator, json.dumps(status), json.dumps(rule), events_text(kube, namespace), operator.tail(10**7),
        words=[*SEEDED_EMAILS, "Gone2@"],
    )  # fmt: skip
    figures[f"hostile CleanupRun {hostile.id}"] = (
        f"{status['phase']} {status['reason']} after {refused_after:.0f}s; next run Planned "
        f"{time.monotonic() - cleared:.0f}s after clearing"
    )


# --- DeletionRequest: external scopes retried with a reason, finished once the answers are sane -------

DELETION = [
    H("slack", "usergroups.users.update", {SLACK_DOWN, INVALID}, True, kind="html_error"),
    H("slack", "usergroups.users.update", {SLACK_DOWN, INVALID}, kind="malformed_json"),
    H("slack", "usergroups.users.list", {INVALID}, kind="set_field", field="users", body="UAAA"),
    H("slack", "users.lookupByEmail", {INVALID, SLACK_DOWN}, kind="plain_text"),
    H(
        "slack",
        "users.lookupByEmail",
        {INVALID},
        kind="json_body",
        body={"ok": False, "error": PERSON_IN_ERROR},
    ),
    H("pagerduty", "GET /users", {INVALID, INCOMPLETE}, kind="paging_loop", mode="same_page"),
    H("pagerduty", "GET /users", {INVALID, INCOMPLETE}, kind="null_field", field="users"),
    H("pagerduty", "GET /oncalls", {INVALID, INCOMPLETE}, kind="drop_field", field="oncalls[].user.id"),
    H("pagerduty", "DELETE /users/{id}", {PD_DOWN, INVALID}, kind="html_error", status=503),
    H("pagerduty", "DELETE /users/{id}", {PD_DOWN}, kind="headers_then_silence", latency_seconds=120),
]


@pytest.mark.parametrize("hostile", rows(DELETION))
def test_deletion_request_retries_with_a_reason_then_erases_once(
    kube: Kube, namespace: str, sandbox: Sandbox, operators: Any, hostile: Hostile, figures: dict[str, str]
) -> None:
    operator = _start(kube, namespace, sandbox, operators)
    kube.apply(oncallsync("oncall", namespace, slack={"alwaysInclude": ["ULEAD"]}))
    wait_condition(kube, "oncall", namespace, "Ready", "True")
    # Suspended: every group write below is the request's (a sync would re-derive the group).
    kube.kubectl(
        "patch", "oncallsync", "oncall", "-n", namespace, "--type=merge", "-p", '{"spec":{"suspend":true}}'
    )
    wait_condition(kube, "oncall", namespace, "Ready", "False", "Suspended")
    # A fresh process: the sync's user lookups (cached for an hour) would otherwise answer the
    # request's, and a hostile users.lookupByEmail row would never be asked at all.
    operator.stop()
    operator.start()
    subject_secret(kube, namespace, "subject", "paaa@example.test")
    updates_before = (sandbox.group("oncall") or {})["updates"]
    hostile.inject(sandbox)
    began = time.monotonic()
    kube.apply(
        deletion_request(
            "hostile", namespace, "subject", mode="Erase", scope=["slackUserGroups", "pagerDuty"]
        )
    )

    def receipt() -> dict[str, Any]:
        found: dict[str, Any] = kube.get("deletionrequest", "hostile", namespace).get("status") or {}
        return found

    def classified() -> dict[str, Any] | None:
        status = receipt()
        assert status.get("phase") != "Completed", status  # never done while the answers are broken
        ready = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), None)
        return status if ready and ready["status"] == "False" and ready["reason"] in hostile.reasons else None

    failing = wait_for(
        classified, timeout=hostile.deadline(), interval=1, what=f"one of {sorted(hostile.reasons)}"
    )
    classified_after = time.monotonic() - began
    assert failing["phase"] == "Running" and failing["reason"] in CLASSIFIED, failing
    sandbox.control("DELETE", "faults")
    cleared = time.monotonic()
    done = wait_for(
        lambda: (s := receipt()).get("phase") in ("Completed", "Failed") and s,
        timeout=RECOVERY_SECONDS,
        what="finished",
    )
    assert done["phase"] == "Completed" and done["reason"] == "Erased", done
    assert sandbox.members("oncall") == ["ULEAD"]
    # Each removal made once: one group write landed, the PagerDuty user deleted.
    assert (sandbox.group("oncall") or {})["updates"] == updates_before + 1
    assert {u["id"] for u in sandbox.control("GET", "pagerduty/deleted_users")} == {"PAAA"}
    _assert_clean(
        operator, json.dumps(failing), json.dumps(done), events_text(kube, namespace), operator.tail(10**7)
    )
    figures[f"hostile DeletionRequest {hostile.id}"] = (
        f"{failing['reason']} after {classified_after:.0f}s; Completed {time.monotonic() - cleared:.0f}s after clearing"
    )


# --- unicode people, directories at the paging limits ------------------------------------------------


def test_unicode_people_and_a_ten_thousand_user_directory_sync_and_are_named_nowhere(
    kube: Kube, namespace: str, sandbox: Sandbox, operators: Any, figures: dict[str, str]
) -> None:
    sandbox.control("POST", "load", unicode_oncall_seed())
    sandbox.control("DELETE", "requests")
    operator = _start(kube, namespace, sandbox, operators)
    began = time.monotonic()
    kube.apply(oncallsync("unicode", namespace))  # PAAA on call: Zoë, matched across case and umlauts
    big = {"schedules": [BIG_SCHEDULE], "scope": "everyoneInRotation"}
    kube.apply(oncallsync("roster", namespace, pagerDuty=big))
    wait_condition(kube, "unicode", namespace, "Ready", "True", timeout=120)
    wait_condition(kube, "roster", namespace, "Ready", "True", timeout=180)
    took = time.monotonic() - began
    assert sandbox.members("unicode") == ["UAAA"]
    assert sandbox.members("roster") == big_roster_members()
    # Everyone handed off through the day: each unicode person is matched in turn.
    for hour, slack in ((10, "UBBB"), (11, "UCCC")):
        sandbox.set_clock(f"2026-03-02T{hour - 1:02d}:59:58+00:00")
        wait_for(lambda s=slack: sandbox.members("unicode") == [s], timeout=60, what=f"{slack} on call")
    methods = [r["method"] for r in sandbox.requests()]
    pd_pages, slack_pages = methods.count("GET /users"), methods.count("users.list")
    assert pd_pages == 100 and slack_pages == 10, (pd_pages, slack_pages)
    text = "\n".join(
        json.dumps(kube.get("oncallsync", n, namespace)["status"]) for n in ("unicode", "roster")
    ) + events_text(kube, namespace)
    assert personal_data_in(text, unicode_words()) == [], text
    assert personal_data_in(operator.tail(10**8), unicode_words()) == []
    assert operator.alive()
    figures["unicode + 10,000-user directories (OnCallSync)"] = (
        f"both Ready in {took:.0f}s: {pd_pages} GET /users pages, {slack_pages} users.list pages; no name in status/log"
    )


def test_unicode_people_in_a_cleanup_of_ten_thousand_are_matched_by_address_and_named_nowhere(
    kube: Kube, namespace: str, sandbox: Sandbox, operators: Any, figures: dict[str, str]
) -> None:
    sandbox.control("POST", "load", unicode_cleanup_seed())
    sandbox.control("DELETE", "requests")
    operator = _start(kube, namespace, sandbox, operators)
    began = time.monotonic()
    kube.apply(cleanuprule("unicode", namespace, annotations=run_now()))
    [name] = wait_for(lambda: [r["metadata"]["name"] for r in _runs(kube, namespace)], what="a run")
    run = _finished(kube, namespace, name, 180)
    took = time.monotonic() - began
    status = run["status"]
    assert status["phase"] == "Planned", status
    # Deactivated across case and diacritics, or without any account: matched; capitals only: kept.
    assert _stale(run) == CLEANUP_STALE, status["items"]
    assert status["counts"]["population"] >= 10_000, status["counts"]
    methods = [r["method"] for r in sandbox.requests()]
    assert methods.count("users.list") == 10 and methods.count("GET /users") == 100
    assert writes(sandbox.requests()) == []
    text = json.dumps(status) + events_text(kube, namespace) + operator.tail(10**8)
    assert personal_data_in(text, cleanup_words()) == []
    assert operator.alive()
    figures["unicode + 10,000-user directories (CleanupRun)"] = (
        f"Planned in {took:.0f}s over {status['counts']['population']} people, {len(CLEANUP_STALE)} matched"
    )
