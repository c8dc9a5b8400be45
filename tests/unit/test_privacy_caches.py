"""The user directory caches as an inventory class: found and evicted per person, pruned by age."""

from __future__ import annotations

from datetime import UTC, datetime

from oncall_operator.clients.pagerduty import PagerDuty
from oncall_operator.clients.slack import Slack, email_key
from oncall_operator.core.membership import SlackAccount
from oncall_operator.kinds.deletionrequest.scan import Instant


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


async def test_a_verifying_rescan_counts_only_entries_learned_before_the_erasure() -> None:
    """She is still on call: a sync re-learns her after the erasure; that entry is new, not left over."""
    now = [1000.0]
    slack = Slack("http://127.0.0.1:9/api/", clock=lambda: now[0])
    pagerduty = PagerDuty("https://127.0.0.1:9", clock=lambda: now[0])
    try:
        began = slack.cache_clock()
        slack.workspace("xoxb-a").users_by_email[email_key("jane@example.com")] = (990.0, None)
        slack.workspace("xoxb-a").users_by_id["UJANE01"] = (1000.5, SlackAccount(id="UJANE01"))
        pagerduty.account("pd-token").emails["PJANE01"] = (1001.0, "jane@example.com")
        assert (
            slack.cached_users(email="jane@example.com", user_id="UJANE01", evict=False, learned_before=began)
            == 1
        )
        assert pagerduty.cached_emails(email=None, user_id="PJANE01", evict=False, learned_before=began) == 0
        assert pagerduty.cached_emails(email=None, user_id="PJANE01", evict=False) == 1
    finally:
        await slack.close()
        pagerduty.close()


def test_records_created_in_the_second_the_erasure_began_are_left_to_the_erasing_pass() -> None:
    began = Instant(datetime(2026, 11, 23, 15, 41, 44, 600_000, tzinfo=UTC), 0.0, 0.0)
    assert began.existed("2026-11-23T15:41:43Z")
    assert not began.existed("2026-11-23T15:41:44Z")
    assert not began.existed(datetime(2026, 11, 23, 15, 41, 45, tzinfo=UTC))
    assert began.existed(None)  # no stamp: counted rather than missed


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
