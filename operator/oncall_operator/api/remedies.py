"""What each condition reason means and what to do about it: docs/troubleshooting.md is generated from
these tables (`make docs`), and a unit test fails when a reason enum of `oncall_operator.api` has a
member without an entry. A kind's new reason enum adds its table here and to `TABLES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from oncall_operator.api.cleanup import CleanupReason as C
from oncall_operator.api.deletion import DeletionReason as D
from oncall_operator.api.oncallsync import OnCallSyncReason as O
from oncall_operator.api.oncallsync import UnmappedReason as U
from oncall_operator.api.reasons import CommonReason as K
from oncall_operator.api.reasons import ExternalReason as E
from oncall_operator.api.retention import RetentionReason as R


@dataclass(frozen=True)
class Remedy:
    cause: str
    fix: str  # empty: nothing to fix, the reason reports a normal state


@dataclass(frozen=True)
class ReasonTable:
    enum: type[StrEnum]
    title: str
    where: str  # which resources report these, and where
    remedies: Mapping[StrEnum, Remedy]


SLACK_GUIDE = "[slack-setup.md](slack-setup.md)"
PAGERDUTY_GUIDE = "[pagerduty-setup.md](pagerduty-setup.md)"

EXTERNAL: dict[StrEnum, Remedy] = {
    E.SECRET_NOT_FOUND: Remedy(
        "The Secret a `*SecretRef` names, or the key in it, does not exist in the resource's namespace "
        "- or it lacks the label `oncall-operator.dev/credentials=true`, which the operator requires "
        "(`--secrets-require-label`).",
        "Create the Secret in the resource's namespace with that key and the label; check the key name "
        "(`kubectl get secret NAME -o jsonpath='{.data}'` shows the keys).",
    ),
    E.SECRET_FORBIDDEN: Remedy(
        "The operator's ServiceAccount may not `get` Secrets in this namespace.",
        "With `watchNamespaces` set, add the namespace there; in cluster-wide mode with "
        "`rbac.secretNamespaces`, add it to that list (`helm upgrade`).",
    ),
    E.AUTH_FAILED: Remedy(
        "Slack or PagerDuty refused the token: revoked, expired, mistyped, or the app was uninstalled.",
        "Put a valid token in the Secret; the operator re-reads it within seconds, no restart needed.",
    ),
    E.MISSING_SCOPE: Remedy(
        "The Slack token lacks the scope named in the message.",
        f"Add the scope to the app (or re-create it from deploy/slack-app-manifest.yaml), reinstall it to "
        f"the workspace and store the new token: {SLACK_GUIDE}.",
    ),
    E.PERMISSION_DENIED: Remedy(
        "The service refused this change for this token: for Slack user groups, usually the workspace "
        "setting that lets only admins manage user groups; for PagerDuty, a read-only key or a user "
        "token whose role may not make the change.",
        f"Slack: allow the app to manage user groups ({SLACK_GUIDE}). PagerDuty: use a full-access key "
        f"or a token of a role that may make the change ({PAGERDUTY_GUIDE}).",
    ),
    E.PLAN_UPGRADE_REQUIRED: Remedy(
        "The Slack workspace's plan lacks the feature: user groups need a paid plan; team.accessLogs "
        "needs a paid plan too.",
        "Use a paid Slack workspace, or drop the feature (inactiveForDays) from the spec.",
    ),
    E.SCHEDULE_NOT_FOUND: Remedy(
        "A PagerDuty schedule id in the spec does not exist, or the key's account cannot see it.",
        "Check the id (PagerDuty shows it in the schedule's URL) and that the key belongs to that account "
        "and region (EU accounts need `ONCALL_PAGERDUTY_URL=https://api.eu.pagerduty.com`).",
    ),
    E.ESCALATION_POLICY_NOT_FOUND: Remedy(
        "A PagerDuty escalation policy id in the spec does not exist, or the key cannot see it.",
        "Check the id and the account/region as for ScheduleNotFound.",
    ),
    E.GROUP_NOT_FOUND: Remedy(
        "The Slack user group does not exist: `userGroup.create` is false and no group has the handle, "
        "or the group was deleted.",
        "Create the group in Slack (or set `create: true`); check the handle has no leading `@`.",
    ),
    E.GROUP_CONFLICT: Remedy(
        "Another Slack user group already uses the name or handle this spec asks for (Slack requires both "
        "to be unique, disabled groups included).",
        "Rename or delete the other group, or adopt it: set `userGroup.handle` to its handle.",
    ),
    E.CHANNEL_NOT_FOUND: Remedy(
        "A channel id in the spec does not exist, or the bot cannot see it (private channels are visible "
        "only to members).",
        "Use the channel's id (C..., from its details), not its name; invite the bot to private channels.",
    ),
    E.NOT_IN_CHANNEL: Remedy(
        "The bot is not a member of a channel it must post in or set the topic of.",
        "In the channel: `/invite @oncall-operator` (the app's bot user).",
    ),
    E.TOPIC_TOO_LONG: Remedy(
        "The rendered topic is longer than Slack's 250 characters (many people on call, long names).",
        "Shorten `topic.template`; `{mentions}` is shorter than names.",
    ),
    E.SLACK_ERROR: Remedy(
        "Slack answered with an error code no other reason covers (the code is in the message).",
        "Look the code up on the method's page (https://docs.slack.dev/reference/methods/METHOD); the "
        "operator retries with backoff.",
    ),
    E.SLACK_UNAVAILABLE: Remedy(
        "Slack could not be reached or answered 5xx (outage, proxy, DNS, NetworkPolicy egress).",
        "Nothing if Slack has an outage (the operator retries with backoff); otherwise check egress to "
        "slack.com on 443 from the operator's namespace (`networkPolicy`, `HTTPS_PROXY` in `extraEnv`).",
    ),
    E.PAGERDUTY_ERROR: Remedy(
        "PagerDuty answered with an error no other reason covers (the status is in the message).",
        "Check the status on PagerDuty's API reference; the operator retries with backoff.",
    ),
    E.PAGERDUTY_UNAVAILABLE: Remedy(
        "PagerDuty could not be reached or answered 5xx.",
        "As for SlackUnavailable, for api.pagerduty.com (or api.eu.pagerduty.com).",
    ),
    E.KUBERNETES_UNAVAILABLE: Remedy(
        "The Kubernetes API server could not be reached or refused a request the operator needed.",
        "Check the API server's health and the operator's NetworkPolicy egress to it.",
    ),
    E.RATE_LIMITED: Remedy(
        "Slack or PagerDuty kept answering 429 past the operator's bounded waits.",
        "Nothing usually: the operator paces itself and resumes. If it persists, another app shares the "
        "token's budget: give the operator its own app or key.",
    ),
    E.INVALID_RESPONSE: Remedy(
        "An answer was not what the API documents (a proxy's HTML page, truncated JSON, a missing field).",
        "Check proxies between the operator and the service (`ONCALL_SLACK_URL`, `ONCALL_PAGERDUTY_URL`, "
        "`HTTPS_PROXY`); the operator treats it as transient and retries.",
    ),
    E.INCOMPLETE_LISTING: Remedy(
        "A listing (users, groups, schedules) could not be read to its end, so no decision was taken on a "
        "partial view.",
        "Usually transient (retried); if it persists see the cause in the message (rate limits, outages).",
    ),
    E.LISTING_TOO_LARGE: Remedy(
        "A listing is longer than paging can reach (PagerDuty stops at offset 10,000; Slack at the page cap).",
        "Narrow the rule (teams, roles) so fewer objects are listed.",
    ),
    E.WRONG_TOKEN_TYPE: Remedy(
        "A bot token (xoxb-) was used where Slack accepts only a person's token: team.accessLogs.",
        f"Set `spec.slack.accessLogsTokenSecretRef` to a Secret holding a workspace admin's user token "
        f"(xoxp-) with the `admin` scope ({SLACK_GUIDE}).",
    ),
    E.VERIFICATION_FAILED: Remedy(
        "A write did not read back as written: the group's members differ from what was set, usually "
        "because someone or another tool changed the group at the same moment.",
        "Find the other writer (a second OnCallSync, a polling tool, a person) and stop it; the next sync "
        "retries.",
    ),
    E.INTERNAL_ERROR: Remedy(
        "A bug in the operator (the exception type is in the message).",
        "Report it with the operator's log around the time (logs carry ids, no personal data).",
    ),
}

COMMON: dict[StrEnum, Remedy] = {
    K.INVALID_SPEC: Remedy(
        "The spec passed admission but cannot be used (a template that does not render, an unknown time "
        "zone, a combination the schema cannot express); the message says which field.",
        "Fix the field named in the message; the operator retries only when the spec changes.",
    ),
    K.SUSPENDED: Remedy(
        "`spec.suspend` is true: nothing is synced or run.", "Set `spec.suspend: false` to resume."
    ),
    K.AS_EXPECTED: Remedy("The resource is in the state its spec asks for.", ""),
    K.RECOVERED: Remedy("An Event: the resource works again after a problem reported earlier.", ""),
}

ONCALLSYNC: dict[StrEnum, Remedy] = {
    O.GROUP_MATCHES_ON_CALL: Remedy("The user group's members are the people on call.", ""),
    O.DRY_RUN: Remedy("`spec.dryRun` is true: the planned changes are in status, nothing is written.", ""),
    O.SAFETY_LIMIT: Remedy(
        "A sync would remove more members than `safety.maxRemovalsPerSync` allows, so it changed nothing.",
        "Check the plan in status (a wrong schedule id or mapping?); if it is right, raise the limit for one "
        "sync.",
    ),
    O.UNMAPPED_USERS: Remedy(
        "Some people on call have no Slack member (status.unmapped lists their PagerDuty ids and why).",
        "See the UnmappedReason rows below; `userMapping.overrides` maps a PagerDuty user to a Slack user "
        "by id when e-mails differ.",
    ),
    O.NOBODY_ON_CALL: Remedy(
        "Nobody is on call in the schedules/levels named; `whenNobodyOnCall` says what happened to the group.",
        "Check the schedule has coverage, or set `whenNobodyOnCall: fallback` with `fallbackUsers`.",
    ),
    O.PROGRESSING: Remedy("A first sync is mapping many users; it finishes on its own.", ""),
    O.GROUP_OWNED_ELSEWHERE: Remedy(
        "An older OnCallSync (named in the message) already manages this user group handle.",
        "Use another handle, or delete the other OnCallSync; this one takes over when it is gone.",
    ),
    O.USER_GROUP_NOT_ALLOWED: Remedy(
        "The namespace's annotation `oncall-operator.dev/user-groups` does not list this handle "
        "(`--require-group-allowlist`).",
        "A cluster admin adds the handle to the namespace's annotation.",
    ),
    O.MEMBERS_CHANGED: Remedy(
        "An Event at a handoff: the Slack ids added to and removed from the group.", ""
    ),
}

UNMAPPED: dict[StrEnum, Remedy] = {
    U.NO_SLACK_ACCOUNT: Remedy(
        "No Slack account has the PagerDuty user's e-mail.",
        "Align the e-mails, or add a `userMapping.overrides` entry (PagerDuty id → Slack id).",
    ),
    U.SLACK_USER_DEACTIVATED: Remedy(
        "The matching Slack account is deactivated.", "Fix the PagerDuty schedule."
    ),
    U.SLACK_USER_IS_BOT: Remedy("The matching Slack account is a bot; bots cannot be group members.", ""),
    U.SLACK_USER_IS_GUEST: Remedy(
        "The matching Slack account is a guest; Slack does not let guests join user groups.",
        "Make the person a full member, or take them off the schedule.",
    ),
    U.NO_EMAIL: Remedy(
        "The PagerDuty user has no e-mail to match on.", "Add a `userMapping.overrides` entry."
    ),
    U.LOOKUP_FAILED: Remedy(
        "Looking the person up failed (a transient Slack error); retried at the next sync.",
        "If it persists, check the Degraded condition's message for the Slack reason.",
    ),
}

CLEANUP: dict[StrEnum, Remedy] = {
    C.DRY_RUN: Remedy(
        "`spec.dryRun` (the default) is true: the run's plan is in status; nothing changes.", ""
    ),
    C.AWAITING_APPROVAL: Remedy(
        "The run planned changes and waits for a person to approve its plan.",
        "Review the plan (`oncall-operator cleanup show`), then set the run's `spec.approvedPlanHash` to "
        "`status.planHash` (the `-cleanup-approver` ClusterRole may).",
    ),
    C.APPROVED: Remedy("The plan is approved; the run applies it.", ""),
    C.APPLIED: Remedy("Every planned change is done, skipped or was already done.", ""),
    C.PARTIALLY_APPLIED: Remedy(
        "Some changes failed or need a person; status.failures lists them with a reason each.",
        "Handle the listed items (the per-change reasons are in this table); the next run plans again.",
    ),
    C.NOTHING_TO_DO: Remedy("Nobody matched the rule.", ""),
    C.STALE_PLAN_HASH: Remedy(
        "`spec.approvedPlanHash` is not the hash of this run's plan (approved from an older run or mistyped).",
        "Approve with the hash in this run's `status.planHash`.",
    ),
    C.MAX_AFFECTED: Remedy(
        "The run would affect more people than `safety.maxAffected`: aborted, nothing changed.",
        "Check the match conditions; if the number is right, raise the cap for one run.",
    ),
    C.MAX_AFFECTED_PERCENT: Remedy(
        "The run would affect a larger share of the directory than `safety.maxAffectedPercent`: aborted.",
        "As for MaxAffectedExceeded.",
    ),
    C.UNSUPPORTED: Remedy(
        "A condition of the rule cannot be evaluated in this workspace: `inactiveForDays` without "
        "access to team.accessLogs (free plan, or no admin user token).",
        f"Add `spec.slack.accessLogsTokenSecretRef` ({SLACK_GUIDE}) or drop `inactiveForDays`.",
    ),
    C.RULE_NOT_FOUND: Remedy(
        "A CleanupRun's CleanupRule no longer exists.",
        "Nothing: the run stops; delete it, or recreate the rule.",
    ),
    C.SCHEDULED: Remedy("The rule is ready; the message says when the next run starts.", ""),
    C.OPEN_INCIDENTS: Remedy(
        "PagerDuty refused a change (deleting the user) because the user has open incidents.",
        "Resolve or reassign the incidents; the next run retries.",
    ),
    C.LAST_LAYER_MEMBER: Remedy(
        "A change was skipped: the user is the last member of a schedule layer (removing them would leave "
        "a gap).",
        "Put someone else in the layer first.",
    ),
    C.LAST_ESCALATION_TARGET: Remedy(
        "A change was skipped: the user is the last target of an escalation rule.",
        "Add another target to the rule first.",
    ),
    C.LAST_GROUP_MEMBER: Remedy(
        "A change was skipped: the user is the last member of a Slack user group (Slack refuses an empty "
        "group).",
        "Add someone else, or disable the group.",
    ),
    C.PAGERDUTY_REFUSED: Remedy(
        "PagerDuty refused the change (its message is in status.failures): often a read-only key or a "
        "role that may not make it.",
        f"Use a key that may make the change ({PAGERDUTY_GUIDE}).",
    ),
}

PRIVACY_GUIDE = "[privacy.md](privacy.md)"

RETENTION: dict[StrEnum, Remedy] = {
    R.PRUNED: Remedy("A retention pass ran; `status.pruned` counts what it removed, per data class.", ""),
    R.PRUNE_FAILED: Remedy(
        "A retention pass could not finish: the message names the listing or deletion that failed "
        "(usually the API server, or RBAC after a chart change).",
        "Check the operator's RBAC (`events` list/delete, `cleanupruns` and `deletionrequests` delete); "
        f"the pass is retried at the next interval. {PRIVACY_GUIDE}.",
    ),
}

DELETION: dict[StrEnum, Remedy] = {
    D.ERASED: Remedy("The request erased every record it found and a re-scan found none left.", ""),
    D.PREVIEWED: Remedy(
        "A Preview: `status.counts` lists where data about the subject exists; nothing erased.", ""
    ),
    D.SUBJECT_NOT_FOUND: Remedy(
        "The subject Secret is missing, or has none of the keys email, slackUserId, pagerDutyUserId.",
        "Create the Secret in the request's namespace with at least one of those keys; the request retries.",
    ),
    D.RUN_IN_PROGRESS: Remedy(
        "A CleanupRun naming the subject is still under way; erasing under it would race its writes.",
        "Nothing: the request waits for the run to finish (approve or delete a run that waits for approval).",
    ),
    D.ON_CALL: Remedy(
        "The person is on call: OnCallSync would put them back into the Slack groups at its next sync.",
        "Take them off the PagerDuty rotation first, or add `pagerDuty` to `scope` so they are removed "
        "from PagerDuty too.",
    ),
    D.VERIFICATION_FAILED: Remedy(
        "The re-scan after erasure still found records about the subject (`status.verification`).",
        "Create a new request; if it fails again, the named class holds a record the operator cannot "
        f"erase - report it. {PRIVACY_GUIDE}.",
    ),
    D.EXTERNAL_FAILED: Remedy(
        "A Slack or PagerDuty removal failed (`status.external` has each action's outcome and reason).",
        "Fix the cause (token, scope, a PagerDuty refusal that needs a person) and create a new request "
        "for the same subject Secret.",
    ),
}

TABLES: tuple[ReasonTable, ...] = (
    ReasonTable(
        E,
        "Reaching Slack, PagerDuty and Kubernetes",
        "any kind: the `Ready`/`Synced` condition, Events",
        EXTERNAL,
    ),
    ReasonTable(K, "Every kind", "any kind's conditions", COMMON),
    ReasonTable(O, "OnCallSync", "OnCallSync conditions and Events", ONCALLSYNC),
    ReasonTable(U, "OnCallSync: unmapped people", "`status.unmapped[].reason` of an OnCallSync", UNMAPPED),
    ReasonTable(
        C, "CleanupRule and CleanupRun", "CleanupRule/CleanupRun conditions, `status.failures`", CLEANUP
    ),
    ReasonTable(R, "RetentionPolicy", "RetentionPolicy conditions", RETENTION),
    ReasonTable(D, "DeletionRequest", "DeletionRequest `status.reason` and conditions", DELETION),
)
