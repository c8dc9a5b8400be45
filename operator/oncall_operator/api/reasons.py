"""Condition reasons: a contract users alert on, so each is named once here.

`ExternalReason` covers failures reaching Slack, PagerDuty or Kubernetes, which any kind can
report; each kind adds an enum of its own outcomes beside its models.
"""

from __future__ import annotations

from enum import StrEnum


class ExternalReason(StrEnum):
    # Credentials and access
    SECRET_NOT_FOUND = "SecretNotFound"  # the Secret, or its key, does not exist
    SECRET_FORBIDDEN = "SecretForbidden"  # the operator's RBAC may not read it
    AUTH_FAILED = "AuthFailed"  # the token was refused
    MISSING_SCOPE = "MissingScope"  # the Slack token lacks a scope (named in the message)
    PERMISSION_DENIED = "PermissionDenied"  # the API refused this change for this token
    PLAN_UPGRADE_REQUIRED = "PlanUpgradeRequired"  # the Slack plan lacks the feature
    # Objects named in the spec
    SCHEDULE_NOT_FOUND = "ScheduleNotFound"
    ESCALATION_POLICY_NOT_FOUND = "EscalationPolicyNotFound"
    GROUP_NOT_FOUND = "GroupNotFound"
    GROUP_CONFLICT = "GroupConflict"
    CHANNEL_NOT_FOUND = "ChannelNotFound"
    NOT_IN_CHANNEL = "NotInChannel"
    TOPIC_TOO_LONG = "TopicTooLong"
    # The services themselves
    SLACK_ERROR = "SlackError"  # an error code no reason above covers (named in the message)
    SLACK_UNAVAILABLE = "SlackUnavailable"
    PAGERDUTY_ERROR = "PagerDutyError"
    PAGERDUTY_UNAVAILABLE = "PagerDutyUnavailable"
    KUBERNETES_UNAVAILABLE = "KubernetesUnavailable"
    RATE_LIMITED = "RateLimited"
    INVALID_RESPONSE = "InvalidResponse"  # an answer that is not what the API documents
    INCOMPLETE_LISTING = "IncompleteListing"  # a listing that could not be read to its end
    LISTING_TOO_LARGE = "ListingTooLarge"  # longer than paging can reach (PagerDuty's 10,000 offset cap)
    WRONG_TOKEN_TYPE = "WrongTokenType"  # a bot token where Slack wants a person's token (team.accessLogs)
    VERIFICATION_FAILED = "VerificationFailed"  # a write did not read back as written
    INTERNAL_ERROR = "InternalError"  # a bug of ours: the exception type is named, nothing else


class CommonReason(StrEnum):
    """Outcomes every kind shares."""

    INVALID_SPEC = "InvalidSpec"
    SUSPENDED = "Suspended"
    AS_EXPECTED = "AsExpected"
    RECOVERED = "Recovered"  # an Event: working again after a problem
