"""SIGTERM in the middle of a burst, and kube-apiserver going away while a handoff is due."""

from __future__ import annotations

import time
from typing import Any

import pytest

from support.kube import Kube, wait_for
from support.oncall import Sandbox, create_token_secrets, oncallsync, wait_condition
from support.reliability import (
    GROUPS,
    assert_burst_wrote_once,
    burst_converged,
    burst_writes,
    expected_members,
    group_state,
    handoff_messages,
    start_burst,
)

pytestmark = pytest.mark.cluster

# Kubernetes' default terminationGracePeriodSeconds (the chart keeps it): SIGKILL follows 30 s after SIGTERM.
GRACE_SECONDS = 30.0
# "The apiserver away for a minute", scaled down: long enough for every watch to break and retry.
OUTAGE_SECONDS = 20.0
# After the apiserver answers again, new work is handled within this many seconds.
RECOVERY_BOUND_SECONDS = 45.0


def test_sigterm_mid_burst_exits_within_the_grace_period_and_resumes_exactly_once(
    kube: Kube, namespace: str, sandbox: Sandbox, operators: Any, figures: dict[str, str]
) -> None:
    operator = start_burst(kube, namespace, sandbox, operators)
    before, messages_before = group_state(sandbox), handoff_messages(sandbox)
    sandbox.control("DELETE", "requests")
    sandbox.set_clock("2026-03-02T09:59:59+00:00")
    wait_for(lambda: burst_writes(sandbox) >= GROUPS // 2, timeout=60, interval=0.02, what="half the burst")
    exited_in = operator.terminate(GRACE_SECONDS)
    began = time.monotonic()
    operator.start()
    wait_for(
        lambda: burst_converged(kube, sandbox, namespace, 10, 1), timeout=120, what="every group handed off"
    )
    assert_burst_wrote_once(sandbox, before, messages_before)
    figures["SIGTERM mid-burst"] = (
        f"exited {exited_in:.1f}s after SIGTERM (grace {GRACE_SECONDS:.0f}s); "
        f"converged {time.monotonic() - began:.1f}s after the restart"
    )


def test_apiserver_restart_a_handoff_during_the_outage_and_work_created_after_it(
    kube: Kube, namespace: str, sandbox: Sandbox, operators: Any, figures: dict[str, str]
) -> None:
    if kube.plane is None:
        pytest.skip(
            "needs the tests' own control plane (ONCALL_TEST_KUBECONFIG clusters cannot be restarted)"
        )
    create_token_secrets(kube, namespace)
    env = {**sandbox.server.operator_env(), "ONCALL_LOOKAHEAD_INTERVAL": "2s"}
    operator = operators("-n", namespace, env=env).start()
    kube.apply(oncallsync("before", namespace))
    wait_condition(kube, "before", namespace, "Ready", "True")
    kube.plane.stop_apiserver()
    down = time.monotonic()
    # A handoff falls due while the apiserver is away: Slack is still reachable, so it is not late
    # by more than the outage (it needs no Kubernetes call but the status patch, which waits).
    sandbox.set_clock("2026-03-02T09:59:59+00:00")
    due = time.monotonic() + 1
    wait_for(lambda: time.monotonic() - down >= OUTAGE_SECONDS, timeout=OUTAGE_SECONDS + 5, interval=0.5)
    handed_off_during_outage = sandbox.members("before") == expected_members(10)
    kube.plane.start_apiserver()
    up = time.monotonic()
    wait_for(lambda: sandbox.members("before") == expected_members(10), timeout=RECOVERY_BOUND_SECONDS)
    handoff_late = max(0.0, time.monotonic() - due) if not handed_off_during_outage else 0.0
    kube.apply(oncallsync("after", namespace))
    wait_condition(kube, "after", namespace, "Ready", "True", timeout=RECOVERY_BOUND_SECONDS)
    new_work = time.monotonic() - up
    wait_for(
        lambda: kube.get("oncallsync", "before", namespace)["status"].get("members") == expected_members(10),
        timeout=RECOVERY_BOUND_SECONDS,
        what="the handoff's status written after the outage",
    )
    assert operator.alive(), operator.tail()
    # Late by the outage plus the watch and Secret reads reconnecting (measured ~4 s).
    assert handoff_late <= OUTAGE_SECONDS + 10, handoff_late
    figures["apiserver restart"] = (
        f"down {OUTAGE_SECONDS:.0f}s; handoff due during the outage applied "
        f"{'during it' if handed_off_during_outage else f'{handoff_late:.1f}s late'}; "
        f"an OnCallSync created after recovery Ready {new_work:.1f}s after the apiserver answered"
    )
