"""Who a rule matches: people joined across both services by email, exclusions, and the conditions.

A person is an email address (compared case-insensitively, as both services do) with a PagerDuty
user, a Slack account, or both. Bots and Slack accounts without a visible email are nobody: they
can be neither matched nor joined.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from oncall_operator.api.cleanup import CleanupAction, Exclude, Match, SlackAccountState
from oncall_operator.core.cleanup.directory import Directory, PagerDutyUser, SlackUser

ACTIVE = "active"
PAGERDUTY_ACTIONS = frozenset(
    {
        CleanupAction.REMOVE_FROM_PAGERDUTY_SCHEDULES,
        CleanupAction.REMOVE_FROM_PAGERDUTY_ESCALATION_POLICIES,
        CleanupAction.REMOVE_FROM_PAGERDUTY_TEAMS,
        CleanupAction.DELETE_PAGERDUTY_USER,
    }
)
# One letter per condition that held (see CleanupRunStatus.items).
REASON_LETTERS = {
    SlackAccountState.DEACTIVATED: "D",
    SlackAccountState.MISSING: "M",
    SlackAccountState.GUEST: "G",
    "emailDomains": "E",
    "inactiveForDays": "I",
    "notOnCallForDays": "O",
    "roles": "R",
    "teams": "T",
}
PROTECTED_LETTER = "p"


@dataclass(frozen=True)
class Person:
    email: str  # lower case
    pagerduty: PagerDutyUser | None
    slack: SlackUser | None


def join_people(pagerduty_users: Iterable[PagerDutyUser], slack_users: Iterable[SlackUser]) -> list[Person]:
    """Every PagerDuty user (with the Slack account of the same email), then Slack-only people."""
    by_email: dict[str, SlackUser] = {}
    for user in slack_users:
        if user.bot or not user.email:
            continue
        key = user.email.strip().lower()
        # Slack keeps an email unique among active accounts; an active one wins over a deactivated one.
        if key not in by_email or (by_email[key].deleted and not user.deleted):
            by_email[key] = user
    people: list[Person] = []
    joined: set[str] = set()
    for pd_user in pagerduty_users:
        email = pd_user.email.strip().lower()
        slack = by_email.get(email)
        if slack is not None:
            joined.add(slack.id)
        people.append(Person(email, pd_user, slack))
    people.extend(Person(email, None, s) for email, s in by_email.items() if s.id not in joined)
    return people


def slack_state(person: Person) -> str:
    if person.slack is None:
        return SlackAccountState.MISSING
    if person.slack.deleted:
        return SlackAccountState.DEACTIVATED
    if person.slack.guest:
        return SlackAccountState.GUEST
    return ACTIVE


def excluded(person: Person, exclude: Exclude, directory: Directory) -> bool:
    pd, slack = person.pagerduty, person.slack
    if pd is not None and (pd.id in exclude.pager_duty_users or pd.teams & set(exclude.pager_duty_teams)):
        return True
    if slack is not None:
        if slack.id in exclude.slack_users:
            return True
        for group in exclude.slack_user_groups:
            if slack.id in directory.slack_groups.get(group, frozenset()):
                return True
    return False


def considered(person: Person, actions: Sequence[CleanupAction]) -> bool:
    """In the population: an account one of the rule's actions could touch."""
    if person.pagerduty is not None and PAGERDUTY_ACTIONS.intersection(actions):
        return True
    return person.slack is not None and CleanupAction.REMOVE_FROM_SLACK_USER_GROUPS in actions


def domain_matches(email: str, domains: Iterable[str]) -> bool:
    """Whether the email's domain is one of `domains` or a subdomain of one."""
    domain = email.rpartition("@")[2].lower()
    return any(domain == d or domain.endswith("." + d) for d in domains)


def match_reasons(person: Person, match: Match, directory: Directory) -> str | None:
    """The letters of the conditions that held, or None when one did not (every condition must hold)."""
    reasons = ""
    if match.slack_account:
        state = slack_state(person)
        if state not in match.slack_account:
            return None
        reasons += REASON_LETTERS[state]
    if match.email_domains is not None:
        domains = match.email_domains
        if domains.in_ and not domain_matches(person.email, domains.in_):
            return None
        if domain_matches(person.email, domains.not_in):
            return None
        reasons += REASON_LETTERS["emailDomains"]
    if match.inactive_for_days is not None:
        if directory.last_login is None:
            raise ValueError("inactiveForDays needs the access logs in the directory")
        cutoff = directory.now - timedelta(days=match.inactive_for_days)
        last = directory.last_login.get(person.slack.id) if person.slack else None
        if last is not None and last >= cutoff:
            return None
        reasons += REASON_LETTERS["inactiveForDays"]
    if match.pager_duty is not None:
        pd_reasons = _pagerduty_reasons(person.pagerduty, match, directory)
        if pd_reasons is None:
            return None
        reasons += pd_reasons
    return reasons


def _pagerduty_reasons(pd: PagerDutyUser | None, match: Match, directory: Directory) -> str | None:
    conditions = match.pager_duty
    assert conditions is not None
    if pd is None:
        return None  # PagerDuty conditions hold only for PagerDuty users
    reasons = ""
    if conditions.not_on_call_for_days is not None:
        if directory.on_call_recently is None:
            raise ValueError("notOnCallForDays needs the on-call history in the directory")
        if pd.id in directory.on_call_recently:
            return None
        reasons += REASON_LETTERS["notOnCallForDays"]
    if conditions.roles:
        if pd.role not in conditions.roles:
            return None
        reasons += REASON_LETTERS["roles"]
    if conditions.teams:
        if not pd.teams & set(conditions.teams):
            return None
        reasons += REASON_LETTERS["teams"]
    return reasons
