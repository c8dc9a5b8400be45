"""Readiness from the watches' freshness (pure), and the /healthz and /readyz answers it gives."""

from __future__ import annotations

import json

from oncall_operator.core.readiness import Freshness, WatchKey

SYNCS = WatchKey("oncallsyncs")
RULES = WatchKey("cleanuprules")


def test_not_ready_until_every_watch_was_heard() -> None:
    freshness = Freshness([SYNCS, RULES], started=100.0)
    waiting = freshness.readiness(101.0, stale_after=30)
    assert not waiting.ready and {a.watch for a in waiting.stale} == {SYNCS, RULES}
    freshness.heard(SYNCS, 101.0)
    assert [a.watch for a in freshness.readiness(102.0, 30).stale] == [RULES]
    freshness.heard(RULES, 102.0)
    assert freshness.readiness(102.5, 30).ready


def test_a_watch_unheard_past_the_limit_is_named_with_its_age_and_last_failure() -> None:
    freshness = Freshness([SYNCS, RULES], started=0.0)
    freshness.heard(SYNCS, 10.0)
    freshness.heard(RULES, 40.0)
    freshness.failed(SYNCS, "KubernetesUnavailable")
    assert freshness.readiness(40.0, 30).ready  # 30 s is still fresh: stale is strictly past the limit
    readiness = freshness.readiness(45.0, 30)
    assert not readiness.ready
    assert readiness.body() == {
        "ready": False,
        "staleAfterSeconds": 30,
        "staleWatches": [
            {
                "kind": "oncallsyncs",
                "staleSeconds": 35.0,
                "everHeard": True,
                "lastFailure": "KubernetesUnavailable",
            }
        ],
    }
    json.dumps(readiness.body())


def test_a_watch_heard_again_is_ready_again_and_an_older_answer_never_rewinds_it() -> None:
    freshness = Freshness([SYNCS], started=0.0)
    freshness.heard(SYNCS, 50.0)
    freshness.failed(SYNCS, "KubernetesUnavailable")
    assert not freshness.readiness(100.0, 30).ready
    freshness.heard(SYNCS, 99.0)
    freshness.heard(SYNCS, 60.0)  # a slow check that began earlier ends later
    readiness = freshness.readiness(100.0, 30)
    assert readiness.ready and freshness.ages(100.0)[0].seconds == 1.0
    assert freshness.ages(100.0)[0].failure is None


def test_a_watch_is_labelled_by_its_kind() -> None:
    assert SYNCS.label == "the oncallsyncs watch"
