"""The data inventory: every class of data the operator keeps or emits, where it lives, which of its
fields are personal data, why it is needed, how long it is kept and how it is erased.

Pure data. `docs/privacy.md` is generated from it (`make docs`; a test fails on drift), the
RetentionPolicy's `data` enum is `RetainedData`, and a DeletionRequest erases and re-scans class by
class. Nothing is stored that this module does not declare, and no class is kept forever by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DataClass(StrEnum):
    """Every class of data in the inventory."""

    CLEANUP_RUNS = "cleanupRuns"
    DELETION_RECEIPTS = "deletionReceipts"
    EVENTS = "events"
    USER_DIRECTORY_CACHE = "userDirectoryCache"
    ERASURE_INDEX = "erasureIndex"
    RESOURCE_STATUSES = "resourceStatuses"
    RESOURCE_SPECS = "resourceSpecs"
    KOPF_ANNOTATIONS = "kopfAnnotations"
    SUBJECT_KEY = "subjectKey"
    SUBJECT_SECRETS = "subjectSecrets"
    LOGS_AND_METRICS = "logsAndMetrics"


class RetainedData(StrEnum):
    """The classes a RetentionPolicy prunes (the others are current state, or the user's own)."""

    CLEANUP_RUNS = DataClass.CLEANUP_RUNS.value
    DELETION_RECEIPTS = DataClass.DELETION_RECEIPTS.value
    EVENTS = DataClass.EVENTS.value
    USER_DIRECTORY_CACHE = DataClass.USER_DIRECTORY_CACHE.value


@dataclass(frozen=True)
class PersonalField:
    field: str
    holds: str


@dataclass(frozen=True)
class DataRecord:
    data: DataClass
    where: str
    personal: tuple[PersonalField, ...]
    purpose: str
    retention: str  # the default, in words; settings give the figures where configurable
    erasure: str
    setting: str = ""  # the ONCALL_* variable(s) setting the default, when configurable


INVENTORY: tuple[DataRecord, ...] = (
    DataRecord(
        DataClass.CLEANUP_RUNS,
        "CleanupRun objects (namespaced, owned by their CleanupRule)",
        (
            PersonalField("status.items[] <pagerDutyUser>", "a PagerDuty user id"),
            PersonalField("status.items[] <slackUser>", "a Slack user id"),
            PersonalField("status.items[] <subject>", "the keyed HMAC of the person's email"),
            PersonalField("status.progress, status.failures", "per-item outcomes, keyed by item index"),
        ),
        "The cleanup log: who was matched, what was changed, what failed - so a person can review "
        "and approve a plan, and an auditor can see what was done.",
        "30 days after they finish, and at most 100 finished runs per namespace; deleted with their rule.",
        "The person's items are redacted (`- - redacted <reasons> <changes>`); counts stay.",
        "ONCALL_RETENTION_CLEANUP_RUNS_MAX_AGE, ONCALL_RETENTION_CLEANUP_RUNS_MAX_COUNT",
    ),
    DataRecord(
        DataClass.DELETION_RECEIPTS,
        "DeletionRequest objects (their status is the receipt)",
        (
            PersonalField("status.subject", "the keyed HMAC of the subject's email or id"),
            PersonalField(
                "status.resolved",
                "the subject's Slack and PagerDuty user ids while an Erase runs (never the email), so a "
                "resumed erasure still knows an account it deleted",
            ),
        ),
        "Proof that an erasure was asked for, done and verified (GDPR art. 5(2) accountability).",
        "365 days after completion; status.resolved only while the request runs (cleared when it "
        "completes or fails).",
        "A later request for the same subject replaces status.subject with `erased`.",
        "ONCALL_RETENTION_RECEIPTS_MAX_AGE",
    ),
    DataRecord(
        DataClass.EVENTS,
        "Kubernetes Events the operator posts (reportingComponent oncall-operator)",
        (PersonalField("message", "Slack or PagerDuty user ids, when an Event is about a person"),),
        "Tell the resource's owner what happened (kubectl describe), ids only.",
        "1 hour (the API server's own event TTL is usually 1 hour as well).",
        "Events whose message names the subject's ids are deleted.",
        "ONCALL_RETENTION_EVENTS_MAX_AGE",
    ),
    DataRecord(
        DataClass.USER_DIRECTORY_CACHE,
        "Operator memory: Slack email->user and id->user caches, PagerDuty id->email cache",
        (
            PersonalField("Slack users_by_email", "sha256 of an email -> Slack user id, name flags"),
            PersonalField("Slack users_by_id", "Slack user id -> account flags"),
            PersonalField("PagerDuty emails", "PagerDuty user id -> email"),
        ),
        "Map PagerDuty users to Slack users without one lookup per person per sync (rate limits).",
        "1 hour (misses 10 minutes); gone when the process stops.",
        "The subject's entries are evicted from every workspace and account; a person still on call is "
        "looked up again by the next sync (a new entry, which the verifying re-scan does not count).",
        "ONCALL_RETENTION_CACHE_MAX_AGE",
    ),
    DataRecord(
        DataClass.ERASURE_INDEX,
        "Operator memory: the erasure index (subject HMAC, Slack id, PagerDuty id -> CleanupRuns)",
        (PersonalField("keys", "HMAC subject refs and user ids already in CleanupRun statuses"),),
        "Find a subject's records without scanning every CleanupRun (cost grows with the subject's "
        "records, not the store).",
        "As long as the CleanupRuns it indexes (primed by one listing at the first request, then kept by the "
        "watch; gone when the process stops).",
        "Follows the CleanupRuns: a redacted item leaves the index with the next watch event.",
    ),
    DataRecord(
        DataClass.RESOURCE_STATUSES,
        "OnCallSync status (onCall, members, unmapped, plannedChanges, lastHandoffMessage); "
        "CleanupRule status (counts and run names only)",
        (
            PersonalField("onCall[], members[], unmapped[]", "Slack and PagerDuty user ids on call now"),
            PersonalField("lastHandoffMessage.onCall[]", "Slack user ids the last handoff announced"),
        ),
        "Show who is on call and what the operator did at the last sync.",
        "Current state only: replaced at every sync (a person off call leaves it at the next one).",
        "Re-derived from PagerDuty: removing the person from PagerDuty (scope pagerDuty) removes them "
        "here at the next sync; a DeletionRequest lists where they are.",
    ),
    DataRecord(
        DataClass.RESOURCE_SPECS,
        "Specs users write: OnCallSync overrides / alwaysInclude / fallbackUsers, CleanupRule exclude",
        (PersonalField("user ids", "Slack and PagerDuty user ids chosen by the resource's owner"),),
        "The owner's configuration.",
        "The owner's: kept until they edit it.",
        "Never rewritten by the operator: a DeletionRequest lists namespace/name/field for the owner.",
    ),
    DataRecord(
        DataClass.KOPF_ANNOTATIONS,
        "Annotations oncall-operator.dev/last-handled-configuration and Kopf progress annotations",
        (PersonalField("last-handled-configuration", "a copy of the spec (the ids above, if any)"),),
        "Kopf compares it to the spec to see what changed.",
        "Replaced at each spec change; gone with the object.",
        "Follows the spec: listed with the spec references.",
    ),
    DataRecord(
        DataClass.SUBJECT_KEY,
        "Secret oncall-operator-subject-key in the operator's namespace",
        (),
        "The HMAC key behind subject references: without it a reference cannot be linked to anyone.",
        "Kept while the operator is installed (it holds no personal data).",
        "Not personal data; deleting it makes every stored reference unlinkable.",
        "ONCALL_SUBJECT_KEY_SECRET",
    ),
    DataRecord(
        DataClass.SUBJECT_SECRETS,
        "The Secret a DeletionRequest names (spec.subjectSecretRef), written by the requester",
        (PersonalField("email, slackUserId, pagerDutyUserId", "the subject's identifiers, in clear"),),
        "Tell the operator whom to erase without putting the email in the request's spec.",
        "Until the request finishes: deleted then when spec.deleteSubjectSecret (the default).",
        "Deleted by the request itself.",
    ),
    DataRecord(
        DataClass.LOGS_AND_METRICS,
        "Operator logs (every level; the SDKs' loggers are held at WARNING) and the /metrics page",
        (
            PersonalField(
                "log lines at DEBUG (-v)", "Slack and PagerDuty user ids in the status patches Kopf logs"
            ),
        ),
        "Operate the operator.",
        "Logs: your log pipeline's retention. Metrics: current values only.",
        "Not erasable by the operator (log lines are already shipped): run without -v to keep user ids "
        "out. Neither carries emails, names or tokens at any level, and metric labels carry no ids "
        "(a test scans them).",
    ),
)

BY_CLASS: dict[DataClass, DataRecord] = {record.data: record for record in INVENTORY}
