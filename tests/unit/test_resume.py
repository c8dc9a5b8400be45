"""When a restarted operator may check a write its predecessor recorded (core/resume.py)."""

from __future__ import annotations

import pytest

from oncall_operator.core.resume import WRITE_MARGIN_SECONDS, settle_delay
from oncall_operator.settings import Settings


def test_a_fresh_process_waits_out_the_deadline_and_margin() -> None:
    assert settle_delay(0.0, 30.0) == 30.0 + WRITE_MARGIN_SECONDS


@pytest.mark.parametrize(("age", "expected"), [(2.0, 8.0), (9.5, 0.5), (10.0, 0.0), (3600.0, 0.0)])
def test_the_wait_counts_from_the_process_start(age: float, expected: float) -> None:
    assert settle_delay(age, 5.0) == pytest.approx(expected)


def test_the_default_deadline_is_the_adapters() -> None:
    from oncall_operator.clients.http_limits import CALL_DEADLINE_SECONDS

    assert Settings().call_deadline == CALL_DEADLINE_SECONDS
