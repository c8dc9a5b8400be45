"""CleanupRun: one run of a CleanupRule - its plan, its approval and the outcome of every change, by id.

The operator creates runs (owned by their rule, so deleting the rule deletes them); a person approves
one by setting spec.approvedPlanHash. The run object is the cleanup log: it holds PagerDuty and Slack
ids and subject references, never names or emails (`oncall-operator cleanup show` resolves them live).

`status.items` is compact so that 10,000 people fit well under the API server's 1.5 MiB object limit:
one string per person, `<pagerDutyUser> <slackUser> <subject> <reasons> <changes>` ("-" when absent);
`status.progress` maps an item's index to one state letter per change (see docs/cleanup.md).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field

from oncall_operator.api.cleanup import CleanupRuleSpec
from oncall_operator.api.common import DNS_SUBDOMAIN, CamelModel, Condition
from oncall_operator.api.crd import PrinterColumn, ResourceKind

PLAN_HASH = r"^sha256:[0-9a-f]{64}$"
# Labels on every run: its rule's uid (always), and its rule's name (when it fits a label value).
RULE_UID_LABEL = "oncall-operator.dev/rule-uid"
RULE_NAME_LABEL = "oncall-operator.dev/rule"


class RunPhase(StrEnum):
    PENDING = "Pending"
    PLANNING = "Planning"
    PLANNED = "Planned"  # dry run: the plan is the result
    AWAITING_APPROVAL = "AwaitingApproval"
    APPLYING = "Applying"
    COMPLETED = "Completed"
    FAILED = "Failed"  # the run could not go on (a token refused, a Secret missing, a bug)
    REFUSED = "Refused"  # an incomplete listing, an unsupported condition, or a stale approval
    ABORTED = "Aborted"  # a safety cap: nothing was changed

    @property
    def finished(self) -> bool:
        return self in FINISHED


FINISHED = frozenset(
    {RunPhase.PLANNED, RunPhase.COMPLETED, RunPhase.FAILED, RunPhase.REFUSED, RunPhase.ABORTED}
)


class RunTrigger(StrEnum):
    SCHEDULE = "schedule"
    CATCH_UP = "catchUp"  # the one run for slots missed while the operator was down
    ON_DEMAND = "onDemand"


class CleanupRunSpec(CamelModel):
    """Written by the operator; a person only sets approvedPlanHash (the CleanupRule's approvers may)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.ruleName == oldSelf.ruleName && self.trigger == oldSelf.trigger "
                    "&& self.rule == oldSelf.rule && has(self.scheduledTime) == has(oldSelf.scheduledTime) "
                    "&& (!has(self.scheduledTime) || self.scheduledTime == oldSelf.scheduledTime)",
                    "message": "only spec.approvedPlanHash can be set on a run",
                    "reason": "FieldValueForbidden",
                },
                {
                    "rule": "!has(oldSelf.approvedPlanHash) || "
                    "(has(self.approvedPlanHash) && self.approvedPlanHash == oldSelf.approvedPlanHash)",
                    "message": "an approval cannot be changed or withdrawn: start a new run",
                    "fieldPath": ".approvedPlanHash",
                    "reason": "FieldValueForbidden",
                },
            ]
        }
    )

    rule_name: str = Field(
        min_length=1, max_length=253, pattern=DNS_SUBDOMAIN, description="The CleanupRule that started it."
    )
    trigger: RunTrigger = Field(description="schedule, catchUp (a missed slot) or onDemand.")
    scheduled_time: str | None = Field(
        default=None, max_length=32, description="The cron slot it runs for (RFC 3339); absent on demand."
    )
    rule: CleanupRuleSpec = Field(description="The rule's spec when the run was created: what it plans by.")
    approved_plan_hash: str | None = Field(
        default=None,
        pattern=PLAN_HASH,
        description="Set by an approver to status.planHash to apply that exact plan (approval: manual). "
        "Any other hash refuses the run (StalePlanHash); nothing is changed.",
    )


class RunCounts(CamelModel):
    population: int = Field(
        default=0, description="People considered (an account the actions touch, not excluded)."
    )
    matched: int = Field(default=0, description="People matching every condition.")
    protected: int = Field(default=0, description="Matched but on call now or soon: left alone.")
    affected: int = Field(default=0, description="People with at least one change planned.")
    changes: int = Field(default=0, description="Changes planned (one person, one action, one target).")
    applied: int = Field(default=0, description="Changes made.")
    skipped: int = Field(
        default=0, description="Changes not needed any more (already done, or the person no longer matches)."
    )
    failed: int = Field(default=0, description="Changes that failed, including those needing a person.")
    needs_person: int = Field(
        default=0, description="Failed changes only a person can resolve (status.failures)."
    )


class CleanupRunStatus(CamelModel):
    phase: RunPhase = Field(default=RunPhase.PENDING, description="Where the run is.")
    reason: str | None = Field(
        default=None, description="Why it is in this phase (a CleanupReason or ExternalReason)."
    )
    message: str | None = Field(default=None, description="What happened, with counts and ids only.")
    start_time: str | None = Field(default=None, description="When planning started (RFC 3339).")
    plan_time: str | None = Field(default=None, description="When the plan was made (RFC 3339).")
    completion_time: str | None = Field(default=None, description="When the run finished (RFC 3339).")
    plan_hash: str | None = Field(
        default=None,
        description="sha256 of the plan's changes: approve by copying it to spec.approvedPlanHash.",
    )
    counts: RunCounts = Field(default=RunCounts(), description="People and changes.")
    targets: list[str] = Field(
        default_factory=list,
        description="Slack user groups and PagerDuty schedules, escalation policies and teams the changes "
        "name, by id; changes refer to them by index.",
    )
    items: list[str] = Field(
        default_factory=list,
        description="One per matched person: '<pagerDutyUser> <slackUser> <subject> <reasons> <changes>'. "
        "Reasons: D deactivated, M missing, G guest (Slack), E email domain, I inactive, O not on call, "
        "R role, T team; p protected (on call). Changes: g/s/e/t + target index (group, schedule, "
        "escalation policy, team), x delete the PagerDuty user. Subject: the person's keyed email hash.",
    )
    progress: dict[str, str] = Field(
        default_factory=dict,
        description="Item index -> one letter per change: i intent recorded (in flight), d done, "
        "a already done, s skipped (no longer matches), n needs a person, f failed; absent: pending.",
    )
    failures: dict[str, str] = Field(
        default_factory=dict, description="'<item>.<change>' -> the reason a change failed."
    )
    notified: list[str] = Field(
        default_factory=list, description="Phases whose Slack summary was sent (recorded before sending)."
    )
    observed_generation: int | None = Field(default=None, description="The generation this status reflects.")
    conditions: list[Condition] = Field(default_factory=list, description="Planned, Approved and Applied.")


CLEANUP_RUN = ResourceKind(
    kind="CleanupRun",
    plural="cleanupruns",
    spec_model=CleanupRunSpec,
    status_model=CleanupRunStatus,
    short_names=("cleanuprun",),
    description="One run of a CleanupRule: its plan, approval and per-person outcomes, by id.",
    printer_columns=(
        PrinterColumn("Rule", ".spec.ruleName"),
        PrinterColumn("Phase", ".status.phase"),
        PrinterColumn("Matched", ".status.counts.matched", type="integer"),
        PrinterColumn("Affected", ".status.counts.affected", type="integer"),
        PrinterColumn("Failed", ".status.counts.failed", type="integer"),
        PrinterColumn("Reason", ".status.reason", priority=1),
        PrinterColumn("Plan Hash", ".status.planHash", priority=1),
    ),
)
