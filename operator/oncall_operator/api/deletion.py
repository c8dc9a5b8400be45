"""DeletionRequest: erase (or report) what the operator and, per scope, Slack and PagerDuty hold
about one person. The subject is named in a Secret, never in the spec; the status is the receipt -
counts, outcomes and the subject's HMAC reference, nothing that repeats the personal data once it is
finished (while an Erase runs, status.resolved keeps the subject's ids, never the email)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field

from oncall_operator.api.cleanup import SlackTokens, TokenRef
from oncall_operator.api.common import DNS_SUBDOMAIN, CamelModel, Condition, no_duplicates
from oncall_operator.api.crd import PrinterColumn, ResourceKind

# Keys of the subject Secret.
EMAIL_KEY = "email"
SLACK_USER_KEY = "slackUserId"
PAGERDUTY_USER_KEY = "pagerDutyUserId"
# Holds the request while it runs: a Running request cannot be deleted.
FINALIZER = "oncall-operator.dev/erasure"
DUE_DAYS = 30  # GDPR art. 12(3): one month


class DeletionMode(StrEnum):
    ERASE = "Erase"
    PREVIEW = "Preview"  # an access report: where data about the subject is; nothing is erased


class DeletionScope(StrEnum):
    OPERATOR_DATA = "operatorData"
    SLACK_USER_GROUPS = "slackUserGroups"
    PAGERDUTY = "pagerDuty"


class DeletionPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"


class DeletionReason(StrEnum):
    ERASED = "Erased"  # done and verified
    PREVIEWED = "Previewed"
    SUBJECT_NOT_FOUND = "SubjectNotFound"  # the Secret is missing or has no usable key
    RUN_IN_PROGRESS = "RunInProgress"  # a CleanupRun naming the subject is under way: retried
    ON_CALL = "OnCall"  # Slack groups refused: PagerDuty would put them back
    VERIFICATION_FAILED = "VerificationFailed"
    EXTERNAL_FAILED = "ExternalFailed"


class SubjectSecretRef(CamelModel):
    name: str = Field(
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN,
        description="A Secret in the request's namespace with keys email, slackUserId and/or pagerDutyUserId.",
    )


class DeletionCredentials(CamelModel):
    slack: SlackTokens | None = Field(
        default=None, description="To resolve the Slack id from the email, and for scope slackUserGroups."
    )
    pager_duty: TokenRef | None = Field(
        default=None, description="To resolve the PagerDuty id from the email, and for scope pagerDuty."
    )


class DeletionRequestSpec(CamelModel):
    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "a DeletionRequest cannot be changed: create another"},
                {
                    "rule": "!has(self.scope) || !self.scope.exists(s, s == 'slackUserGroups') "
                    "|| (has(self.credentials) && has(self.credentials.slack))",
                    "message": "scope slackUserGroups needs credentials.slack",
                    "reason": "FieldValueRequired",
                },
                {
                    "rule": "!has(self.scope) || !self.scope.exists(s, s == 'pagerDuty') "
                    "|| (has(self.credentials) && has(self.credentials.pagerDuty))",
                    "message": "scope pagerDuty needs credentials.pagerDuty",
                    "reason": "FieldValueRequired",
                },
            ]
        }
    )

    subject_secret_ref: SubjectSecretRef = Field(description="Where the subject's identifiers are.")
    mode: DeletionMode = Field(
        default=DeletionMode.PREVIEW, description="Erase, or Preview: report where data is, erase nothing."
    )
    scope: Annotated[list[DeletionScope], AfterValidator(no_duplicates)] = Field(
        default=[DeletionScope.OPERATOR_DATA],
        min_length=1,
        max_length=3,
        description="operatorData (everything in the inventory), slackUserGroups (the Slack user groups "
        "OnCallSyncs manage), pagerDuty (take the person off schedule layers and escalation rules, then "
        "delete the PagerDuty user).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    credentials: DeletionCredentials = Field(
        default=DeletionCredentials(), description="Tokens to resolve ids and for external removal."
    )
    delete_subject_secret: bool = Field(
        default=True,
        description="Delete the subject Secret when an Erase completes (a Preview, or a failed Erase, keeps it for the next request).",
    )


class Counts(CamelModel):
    found: int = Field(default=0, description="Records naming the subject before erasure.")
    erased: int = Field(default=0, description="Records redacted, deleted or evicted.")
    remaining: int | None = Field(
        default=None,
        description="Records of this class the verifying re-scan still found among those that existed "
        "when the erasure began (set only when some remain).",
    )


class ExternalAction(CamelModel):
    target: str = Field(description="slackUserGroup/<group id>, pagerDutyUser, ...")
    state: str = Field(description="intent (recorded before the write), done, alreadyDone, refused, failed.")
    reason: str | None = Field(default=None, description="Why it was refused or failed.")


class SpecReference(CamelModel):
    kind: str = Field(description="OnCallSync or CleanupRule.")
    namespace: str = Field(description="Its namespace.")
    name: str = Field(description="Its name.")
    field: str = Field(description="The spec field naming the subject (the owner edits it).")


class ResolvedIds(CamelModel):
    slack_user: str | None = Field(default=None, description="The subject's Slack user id, if any.")
    pager_duty_user: str | None = Field(default=None, description="The subject's PagerDuty user id, if any.")


class DeletionRequestStatus(CamelModel):
    phase: DeletionPhase = Field(default=DeletionPhase.PENDING, description="Where the request is.")
    reason: str | None = Field(default=None, description="Why it is in this phase (a DeletionReason).")
    message: str | None = Field(default=None, description="What happened, with counts only.")
    subject: str | None = Field(
        default=None,
        description="The subject's HMAC reference (core/subjects): links this receipt, not the person.",
    )
    resolved: ResolvedIds | None = Field(
        default=None,
        description="The subject's ids as first resolved (from the Secret, or looked up by its email), "
        "kept while the request runs so that a resumed erasure still knows an account it has deleted; "
        "cleared when the request finishes. Ids only, never the email.",
    )
    due_by: str | None = Field(default=None, description="One month after creation (GDPR art. 12(3)).")
    start_time: str | None = Field(default=None, description="When it started running (RFC 3339).")
    completed_at: str | None = Field(default=None, description="When it finished (RFC 3339).")
    counts: dict[str, Counts] = Field(
        default_factory=dict, description="Data class -> records found and erased."
    )
    locations: list[str] = Field(
        default_factory=list,
        description="Where data about the subject is (class: namespace/name), found before erasure.",
    )
    on_call: bool | None = Field(
        default=None,
        description="On call in PagerDuty now: OnCallSync re-derives them at its next sync unless scope "
        "pagerDuty removes them.",
    )
    external: list[ExternalAction] = Field(default_factory=list, description="Slack and PagerDuty actions.")
    spec_references: list[SpecReference] = Field(
        default_factory=list, description="Resource specs naming the subject: their owners edit them."
    )
    verified: bool | None = Field(
        default=None, description="True when a re-scan after erasure found nothing left (Erase only)."
    )
    remaining: int | None = Field(
        default=None,
        description="Records the verifying re-scan still found among those that existed when the erasure "
        "began (data re-learned afterwards from Slack or PagerDuty, which still hold the person, is new).",
    )
    subject_secret_deleted: bool | None = Field(default=None, description="The subject Secret was deleted.")
    observed_generation: int | None = Field(default=None, description="The generation this status reflects.")
    conditions: list[Condition] = Field(default_factory=list, description="Ready.")


DELETION_REQUEST = ResourceKind(
    kind="DeletionRequest",
    plural="deletionrequests",
    spec_model=DeletionRequestSpec,
    status_model=DeletionRequestStatus,
    short_names=("deletion",),
    description="Erase, or report, what the operator, Slack groups and PagerDuty hold about one person.",
    printer_columns=(
        PrinterColumn("Mode", ".spec.mode"),
        PrinterColumn("Phase", ".status.phase"),
        PrinterColumn("Verified", ".status.verified", type="boolean"),
        PrinterColumn("Due By", ".status.dueBy"),
        PrinterColumn("Reason", ".status.reason", priority=1),
    ),
)
