"""The user directory caches as an inventory class: found and evicted per person, pruned by age."""

from __future__ import annotations

from oncall_operator.clients.pagerduty import PagerDuty
from oncall_operator.clients.slack import Slack, email_key
from oncall_operator.core.membership import SlackAccount


async def test_slack_cache_entries_are_found_evicted_and_aged_out() -> None:
    now = [1000.0]
    slack = Slack("http://127.0.0.1:9/api/", clock=lambda: now[0])
    try:
        workspace = slack.workspace("xoxb-a")
        # Looked up by email (900 s ago) and found; her id entry from a users.info 10 s ago.
        workspace.users_by_email[email_key("Jane@Example.com")] = (900.0, SlackAccount(id="UJANE01"))
        workspace.users_by_id["UJANE01"] = (990.0, SlackAccount(id="UJANE01"))
        workspace.users_by_id["UBOB001"] = (100.0, None)
        assert slack.cached_users(email="jane@example.com", user_id="UJANE01", evict=False) == 2
        assert slack.cached_users(email=None, user_id="UJANE01", evict=False) == 2  # by the account's id
        assert slack.prune_users(max_age=500.0) == (1, 100.0)  # Bob's entry was 900 s old
        assert slack.cached_users(email="jane@example.com", user_id="UJANE01", evict=True) == 2
        assert slack.cached_users(email="jane@example.com", user_id="UJANE01", evict=False) == 0
    finally:
        await slack.close()


def test_pagerduty_email_cache_is_found_evicted_and_aged_out() -> None:
    now = [1000.0]
    pagerduty = PagerDuty("https://127.0.0.1:9", clock=lambda: now[0])
    try:
        account = pagerduty.account("pd-token")
        account.emails["PJANE01"] = (990.0, "jane@example.com")
        account.emails["PBOB001"] = (10.0, "bob@example.com")
        assert pagerduty.cached_emails(email="JANE@example.com", user_id=None, evict=False) == 1
        assert pagerduty.prune_emails(max_age=3600.0) == (0, 990.0)
        assert pagerduty.prune_emails(max_age=60.0) == (1, 10.0)
        assert pagerduty.cached_emails(email=None, user_id="PJANE01", evict=True) == 1
        assert not account.emails
    finally:
        pagerduty.close()
