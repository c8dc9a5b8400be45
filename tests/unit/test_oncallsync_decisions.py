"""OnCallSync decisions beyond membership: status, conditions, announcements (pure)."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from oncall_operator.api import RESOURCE_KINDS
from oncall_operator.api.oncallsync import OnCallSyncSpec, OnCallSyncStatus
from oncall_operator.api.reasons import ExternalReason
from oncall_operator.core import oncallsync as decide
from oncall_operator.core.errors import Misconfigured
from oncall_operator.core.membership import Plan, Resolution, Shift, SlackAccount, resolve_members
from oncall_operator.runtime import KINDS
from support.kube import REPO_ROOT

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)


def spec(**slack: Any) -> OnCallSyncSpec:
    return OnCallSyncSpec.model_validate(
        {
            "pagerDuty": {"tokenSecretRef": {"name": "pd", "key": "t"}, "schedules": ["PSCHED1"]},
            "slack": {
                "tokenSecretRef": {"name": "s", "key": "t"},
                "userGroup": {"handle": "oncall"},
                **slack,
            },
        }
    )


def on_call(*users: str) -> Resolution:
    current = [
        (Shift(f"P{u}", None, None, "PSCHED1", NOW - HOUR, NOW + HOUR), ("schedule", "PSCHED1", None))
        for u in users
    ]
    accounts: dict[str, Any] = {f"P{u}": SlackAccount(f"U{u}") for u in users}
    return resolve_members(current, accounts, always_include=[], fallback_users=[], use_fallback=False)  # type: ignore[arg-type]


def status_after(
    previous: OnCallSyncStatus, given: OnCallSyncSpec, resolution: Resolution, **kw: Any
) -> OnCallSyncStatus:
    plan = Plan(final_members=resolution.desired_members)
    return decide.synced_status(
        previous,
        given,
        resolution,
        plan,
        group_id="S1",
        now=NOW,
        boundary=NOW + HOUR,
        generation=1,
        topic_digest=kw.get("topic_digest"),
        handoff_message=kw.get("handoff_message"),
        announce_failure=kw.get("announce_failure"),
    )


MESSAGE = {"handoffMessage": {"channel": "C0OPS", "template": "{mentions} on call"}}
TOPIC = {"topic": {"channels": ["C0OPS"], "template": "On call: {mentions}"}}


def test_first_sync_sets_the_topic_but_posts_no_message() -> None:
    said = decide.plan_announcements(spec(**TOPIC, **MESSAGE), OnCallSyncStatus(), on_call("AAA"), "S1")
    assert said.topic == "On call: <@UAAA>" and said.topic_channels == ("C0OPS",)
    assert said.message is None


def test_a_handoff_is_announced_once() -> None:
    given = spec(**MESSAGE)
    before = status_after(OnCallSyncStatus(), given, on_call("AAA"))
    said = decide.plan_announcements(given, before, on_call("BBB"), "S1")
    assert said.message == "<@UBBB> on call" and said.message_channel == "C0OPS"
    # Once posted, or failed, or unknowable, the same handoff is not announced again.
    for state in ("Posted", "Failed", "Unknown"):
        record = decide.message_record(said, NOW).model_copy(update={"state": state})
        after = status_after(before, given, on_call("BBB"), handoff_message=record)
        assert decide.plan_announcements(given, after, on_call("BBB"), "S1").message is None
        # Nor when the sync stopped before the on-call list itself was written.
        interrupted = before.model_copy(update={"last_handoff_message": record})
        assert decide.plan_announcements(given, interrupted, on_call("BBB"), "S1").message is None


def test_the_topic_is_rewritten_only_when_its_text_changes() -> None:
    given = spec(**TOPIC)
    said = decide.plan_announcements(given, OnCallSyncStatus(), on_call("AAA"), "S1")
    assert said.topic is not None
    done = status_after(OnCallSyncStatus(), given, on_call("AAA"), topic_digest=decide.digest(said.topic))
    assert decide.plan_announcements(given, done, on_call("AAA"), "S1").topic is None
    assert decide.plan_announcements(given, done, on_call("BBB"), "S1").topic == "On call: <@UBBB>"


def test_a_failed_announcement_keeps_the_group_synced_and_says_why() -> None:
    failure = Misconfigured("conversations.setTopic: not in channel", reason=ExternalReason.NOT_IN_CHANNEL)
    status = status_after(OnCallSyncStatus(), spec(**TOPIC), on_call("AAA"), announce_failure=failure)
    conditions = {c.type: c for c in status.conditions}
    assert conditions["Synced"].status == "True" and conditions["Synced"].reason == "GroupMatchesOnCall"
    assert conditions["Ready"].status == "False" and conditions["Ready"].reason == "NotInChannel"
    assert conditions["Degraded"].status == "True" and status.members == ["UAAA"]
    assert decide.problem_of(status) == ("NotInChannel", conditions["Ready"].message)


def test_failure_keeps_the_last_good_facts() -> None:
    good = status_after(OnCallSyncStatus(), spec(), on_call("AAA"))
    failed = decide.failed_status(good, Misconfigured("Secret s not found", reason="SecretNotFound"), 2, NOW)
    assert (
        failed.members == ["UAAA"] and failed.slack_user_group_id == "S1" and failed.observed_generation == 2
    )
    assert {c.type: c.reason for c in failed.conditions} == {
        "Ready": "SecretNotFound",
        "Synced": "SecretNotFound",
        "Degraded": "SecretNotFound",
    }


def test_every_kind_the_api_declares_is_served() -> None:
    assert [kind.resource for kind in KINDS] == list(RESOURCE_KINDS)


def test_every_reason_an_adapter_raises_is_a_declared_reason() -> None:
    """Reasons are a contract: adapters may only use ExternalReason members, never ad-hoc strings."""
    for path in (Path(REPO_ROOT) / "operator/oncall_operator/clients").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.keyword)
                and node.arg == "reason"
                and isinstance(node.value, ast.Constant)
            ):
                assert node.value.value in set(ExternalReason), f"{path.name}: reason {node.value.value!r}"


def test_a_view_changes_only_with_who_is_on_call_or_an_earlier_boundary() -> None:
    from oncall_operator.core.membership import SourceSelection

    selection = SourceSelection(frozenset({"PSCHED1"}), {})
    wake = NOW + HOUR
    before = [Shift("PAAA", None, None, "PSCHED1", NOW - HOUR, NOW + HOUR)]
    applied = decide.view_of(before, selection, NOW, wake)
    assert applied.users == {"PAAA"} and applied.boundary == NOW + HOUR
    # A later read, nothing changed: no wake-up.
    assert not decide.view_changed(
        applied, decide.view_of(before, selection, NOW + timedelta(minutes=10), wake)
    )
    # An override in 20 minutes: an earlier boundary.
    override = [
        *before,
        Shift("PBBB", None, None, "PSCHED1", NOW + timedelta(minutes=20), NOW + timedelta(minutes=30)),
    ]
    assert decide.view_changed(applied, decide.view_of(override, selection, NOW, wake))
    # A boundary after the planned wake-up changes nothing yet.
    later = [*before, Shift("PBBB", None, None, "PSCHED1", NOW + 2 * HOUR, NOW + 3 * HOUR)]
    assert not decide.view_changed(applied, decide.view_of(later, selection, NOW, wake))
    # Someone else on call now (a schedule edit): a change.
    edited = [Shift("PCCC", None, None, "PSCHED1", NOW - HOUR, NOW + HOUR)]
    assert decide.view_changed(applied, decide.view_of(edited, selection, NOW, wake))


def test_the_lookahead_slows_down_to_stay_within_a_tenth_of_the_budget() -> None:
    assert decide.lookahead_interval(60.0, [1, 3], 900) == 60.0
    assert decide.lookahead_interval(60.0, [150], 900) == 100.0  # 150 reads = 1/6 of a minute's budget
    assert decide.lookahead_interval(60.0, [], 900) == 60.0


def test_only_what_the_spec_sets_about_the_group_is_managed() -> None:
    from oncall_operator.api.oncallsync import UserGroupRef

    adopted = UserGroupRef(handle="payments", create=False)
    assert decide.group_details_update(adopted, "Anything", "Whatever", ["C1"]) is None
    named = UserGroupRef(handle="payments", name="Payments", channels=["C0B", "C0A"])
    assert decide.group_details_update(named, "Payments", "x", ["C0A", "C0B"]) is None
    assert decide.group_details_update(named, "Old", "x", ["C0A"]) == {
        "name": "Payments",
        "channels": "C0B,C0A",
    }


def test_a_first_sync_of_many_users_shows_progress() -> None:
    status = decide.progress_status(OnCallSyncStatus(), 60, 1, NOW)
    synced = status.conditions[0]
    assert synced.status == "Unknown" and synced.reason == "Progressing" and "60 on-call" in synced.message


def test_an_interrupted_message_is_checked_not_forgotten() -> None:
    given = spec(**MESSAGE)
    before = status_after(OnCallSyncStatus(), given, on_call("AAA"))
    said = decide.plan_announcements(given, before, on_call("BBB"), "S1")
    pending = decide.message_record(said, NOW)
    assert (
        pending.state == "Pending"
        and pending.channel == "C0OPS"
        and pending.digest == decide.digest("<@UBBB> on call")
    )
    # The operator stopped after writing the intent: the next sync finds it and asks the history.
    stopped = status_after(before, given, on_call("BBB"), handoff_message=pending)
    again = decide.plan_announcements(given, stopped, on_call("BBB"), "S1")
    assert again.interrupted == pending and again.message == "<@UBBB> on call"
    # By the time someone else is on call, the old message is moot.
    assert decide.plan_announcements(given, stopped, on_call("CCC"), "S1").interrupted is None
