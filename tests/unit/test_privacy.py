"""The data inventory, retention decisions and subject redaction (pure logic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from oncall_operator.api.deletion import DeletionRequestSpec
from oncall_operator.api.inventory import BY_CLASS, INVENTORY, DataClass, RetainedData
from oncall_operator.api.retention import RetentionPolicySpec
from oncall_operator.core.privacy.retention import Limit, PolicyRules, Record, effective, to_prune
from oncall_operator.core.privacy.subject import (
    Subject,
    items_naming,
    message_names,
    redact_items,
    run_tokens,
    when_account_not_found,
)

NOW = datetime(2026, 1, 31, tzinfo=UTC)
DAY = timedelta(days=1)


def test_every_class_is_declared_once_with_a_finite_retention() -> None:
    assert [r.data for r in INVENTORY] == list(DataClass)
    for record in INVENTORY:
        assert record.where and record.purpose and record.retention and record.erasure
        assert "forever" not in record.retention.lower()
    assert {DataClass(d.value) for d in RetainedData} <= set(BY_CLASS)


def test_the_strictest_rule_wins_and_defaults_fill_the_rest() -> None:
    defaults = {
        d: Limit(timedelta(days=30), 100 if d is RetainedData.CLEANUP_RUNS else None) for d in RetainedData
    }
    local = PolicyRules("team-a", False, {RetainedData.CLEANUP_RUNS: Limit(timedelta(days=7), None)})
    wide = PolicyRules(
        "ops",
        True,
        {RetainedData.CLEANUP_RUNS: Limit(timedelta(days=14), 3), RetainedData.EVENTS: Limit(DAY)},
    )
    other = PolicyRules("team-b", False, {RetainedData.EVENTS: Limit(timedelta(minutes=5))})
    team_a = effective([local, wide, other], "team-a", defaults)
    assert team_a[RetainedData.CLEANUP_RUNS] == Limit(timedelta(days=7), 3)
    assert team_a[RetainedData.EVENTS] == Limit(DAY)
    assert team_a[RetainedData.DELETION_RECEIPTS] == defaults[RetainedData.DELETION_RECEIPTS]
    assert effective([local, wide, other], "team-c", defaults)[RetainedData.CLEANUP_RUNS] == Limit(
        timedelta(days=14), 3
    )
    # Process-wide data (caches): every policy counts.
    assert effective([local, wide, other], None, defaults)[RetainedData.EVENTS] == Limit(timedelta(minutes=5))


def test_prune_by_age_then_count_never_an_unfinished_record() -> None:
    records = [
        Record("old", NOW - 10 * DAY, True),
        Record("running-old", NOW - 20 * DAY, False),
        *(Record(f"r{i}", NOW - i * timedelta(hours=1), True) for i in range(5)),
    ]
    assert to_prune(records, Limit(timedelta(days=7), None), NOW) == ["old"]
    assert to_prune(records, Limit(None, 3), NOW) == ["r3", "r4", "old"]
    assert to_prune(records, Limit(None, None), NOW) == []


def test_redaction_keeps_reasons_and_changes_and_names_nobody() -> None:
    items = ["PJANE01 UJANE01 abcSUBJ D g0", "PBOB001 UBOB001 bobSUBJ M g0,x", "- UJANE01 - G g1"]
    subject = Subject(frozenset({"hmac-sha256:abcSUBJ"}), "UJANE01", "PJANE01")
    assert items_naming(items, subject.tokens) == [0, 2]
    redacted, count = redact_items(items, subject.tokens)
    assert count == 2
    assert redacted == ["- - redacted D g0", items[1], "- - redacted G g1"]
    assert not items_naming(redacted, subject.tokens)
    assert run_tokens({"items": redacted}) == {"PBOB001", "UBOB001", "bobSUBJ"}


def test_event_messages_match_whole_ids_only() -> None:
    assert message_names("removed UJANE01 from S123", {"UJANE01"})
    assert not message_names("removed UJANE012 from S123", {"UJANE01"})


def test_policy_admission_shapes() -> None:
    RetentionPolicySpec.model_validate({"rules": [{"data": "cleanupRuns", "maxAge": "30d", "maxCount": 5}]})
    with pytest.raises(ValidationError):
        RetentionPolicySpec.model_validate({"rules": [{"data": "emails", "maxAge": "1h"}]})
    with pytest.raises(ValidationError):
        RetentionPolicySpec.model_validate({"rules": [{"data": "events", "maxAge": "soon"}]})
    spec = DeletionRequestSpec.model_validate({"subjectSecretRef": {"name": "erase-jane"}})
    assert spec.mode == "Preview" and spec.scope == ["operatorData"]


def test_the_examples_are_valid_specs() -> None:
    import yaml

    from support.kube import REPO_ROOT

    models = {"RetentionPolicy": RetentionPolicySpec, "DeletionRequest": DeletionRequestSpec}
    seen = set()
    for path in ("examples/retentionpolicy.yaml", "examples/deletionrequest.yaml"):
        for document in yaml.safe_load_all((REPO_ROOT / path).read_text()):
            if document["kind"] in models:
                models[document["kind"]].model_validate(document["spec"])
                seen.add(document["kind"])
    assert seen == set(models)


def test_an_account_gone_after_its_deletion_intent_was_recorded_is_done_not_refused() -> None:
    """A request killed after the PagerDuty delete landed resumes to find no user: its own write."""
    assert when_account_not_found(None, "PagerDuty user") == (
        "refused",
        "no PagerDuty user found for the subject",
    )
    assert when_account_not_found("intent", "PagerDuty user") == ("done", None)
    for recorded in ("done", "alreadyDone", "refused", "failed"):
        assert when_account_not_found(recorded, "PagerDuty user") is None  # the recorded outcome stands


def test_a_record_being_deleted_is_not_pruned_again_nor_holds_a_place() -> None:
    """A pass killed after its delete: the record waits for its finalizer; the next pass skips it."""
    records = [
        Record("going", NOW - 40 * DAY, finished=True, deleting=True),
        Record("old", NOW - 3 * DAY, finished=True),
        Record("new", NOW - DAY, finished=True),
    ]
    assert to_prune(records, Limit(timedelta(days=30), None), NOW) == []
    assert to_prune(records, Limit(None, 1), NOW) == ["old"]
    assert to_prune(records, Limit(None, 2), NOW) == []
