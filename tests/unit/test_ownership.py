"""One owner per Slack group; namespaces may be limited to handle patterns (pure decisions)."""

from __future__ import annotations

from oncall_operator.core.ownership import Claim, handle_allowed, owner

OLD = Claim("2026-01-01T00:00:00Z", "team-a", "payments", "uid-old")
NEW = Claim("2026-02-01T00:00:00Z", "team-b", "payments", "uid-new")
SAME_SECOND = Claim("2026-01-01T00:00:00Z", "team-0", "payments", "uid-tie")


def test_the_oldest_claim_owns_the_group() -> None:
    assert owner([NEW, OLD], NEW, "T1", {}) == OLD
    assert owner([NEW, OLD], OLD, "T1", {}) == OLD
    assert owner([OLD, SAME_SECOND], OLD, "T1", {}) == SAME_SECOND  # ties: namespace/name order


def test_a_claim_in_another_workspace_is_no_rival() -> None:
    assert owner([NEW, OLD], NEW, "T2", {"uid-old": "T1", "uid-new": "T2"}) == NEW
    # Until the older one's workspace is known, it is assumed to be the same one: nobody writes twice.
    assert owner([NEW, OLD], NEW, "T2", {"uid-new": "T2"}) == OLD


def test_alone_means_owner() -> None:
    assert owner([], NEW, "T1", {}) == NEW


def test_namespace_patterns() -> None:
    assert handle_allowed("payments-oncall", "payments-*, sre", required=True)
    assert not handle_allowed("sre-oncall", "payments-*, sre", required=True)
    assert handle_allowed("sre", "payments-*, sre", required=False)
    assert handle_allowed("anything", None, required=False)
    assert not handle_allowed("anything", None, required=True)
    assert not handle_allowed("anything", "", required=False)  # an empty annotation allows nothing
