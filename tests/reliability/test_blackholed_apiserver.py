"""The kube-apiserver black-holed for a minute (and restarted inside it): readiness names the stale
watch while it lasts, liveness stays up, work created meanwhile and a handoff due meanwhile are
handled within stated bounds after the path comes back.

The operator reaches the apiserver through support.blackhole's TCP proxy; the test itself talks to
the apiserver directly, so it can create work while the operator hears nothing.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from oncall_devkit.localcluster import free_port
from support.blackhole import BlackholeProxy
from support.kube import Kube, wait_for
from support.oncall import Sandbox, create_token_secrets, oncallsync, wait_condition
from support.reliability import expected_members

pytestmark = pytest.mark.cluster

OUTAGE_SECONDS = 60.0  # "black-holed for a minute"
STALE_AFTER = 15.0  # --watch-stale-after, shortened so the outage shows well inside a minute
CHECK_INTERVAL = 3.0  # --watch-check-interval
CHECK_TIMEOUT = 8.0  # clients.kube.PROBE_TIMEOUT: connect 3 s + read 5 s
# The test samples /readyz in a loop that also asks /healthz and the sandbox: on a loaded machine an
# iteration takes seconds, so the bounds on what it sees carry this much slack.
SAMPLING_SLACK = 6.0
# Kopf drops a stream silent for 70 s (runtime.configure_kopf) and reconnects: after a minute's
# black hole, within ~10 s of the path coming back; new work is then handled in seconds.
RECOVERY_BOUND_SECONDS = 45.0
# A handoff needs the token Secrets and the namespace's policy: read at every use, but while the API
# server does not answer, what was read in the last 10 minutes serves after 2 s (clients.kube), so
# the group's write lands during the outage, a few seconds after the boundary, not after the outage.
HANDOFF_LATE_SECONDS = 15.0


def health(port: int, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def names_stale_syncs(body: dict[str, Any]) -> bool:
    return any(w["kind"] == "oncallsyncs" for w in body.get("staleWatches", []))


def test_blackholed_and_restarted_apiserver_readiness_new_work_and_a_handoff(
    kube: Kube,
    namespace: str,
    sandbox: Sandbox,
    operators: Any,
    figures: dict[str, str],
    tmp_path: Path,
) -> None:
    if kube.plane is None:
        pytest.skip("needs the tests' own control plane (its apiserver is restarted)")
    proxy = BlackholeProxy("127.0.0.1", kube.plane.api_port).start()
    try:
        create_token_secrets(kube, namespace)
        port = free_port()
        operator = operators(
            "-n",
            namespace,
            "--kubeconfig",
            str(proxy.kubeconfig(kube.kubeconfig, tmp_path / "proxied-kubeconfig")),
            "--health-port",
            str(port),
            "--health-host",
            "127.0.0.1",
            "--watch-stale-after",
            f"{STALE_AFTER:.0f}s",
            "--watch-check-interval",
            f"{CHECK_INTERVAL:.0f}s",
            env={**sandbox.server.operator_env(), "ONCALL_LOOKAHEAD_INTERVAL": "2s"},
        ).start()
        kube.apply(oncallsync("before", namespace))
        wait_condition(kube, "before", namespace, "Ready", "True")
        wait_for(lambda: health(port, "/readyz")[0] == 200, timeout=30, what="ready before the outage")

        proxy.blackhole()
        down = time.monotonic()
        sandbox.set_clock("2026-03-02T09:59:59+00:00")  # a handoff falls due a second into the outage
        due = time.time() + 1  # wall time, as the sandbox's request log stamps requests
        # The apiserver restarts inside the black hole: the connections the operator held were to a
        # process that is gone, and it hears no reset for them. (In this thread: the control plane's
        # processes die with the thread that started them.)
        kube.plane.stop_apiserver()
        kube.plane.start_apiserver()
        kube.apply(oncallsync("during", namespace))  # straight to the apiserver, not through the proxy
        stale_at: float | None = None
        stale_body: dict[str, Any] = {}
        liveness_failures: list[int] = []
        while time.monotonic() - down < OUTAGE_SECONDS:
            status, body = health(port, "/readyz")
            if stale_at is None and status == 503 and names_stale_syncs(body):
                stale_at, stale_body = time.monotonic(), body
            live, _ = health(port, "/healthz")
            if live != 200:
                liveness_failures.append(live)
            time.sleep(0.5)

        proxy.restore()
        up = time.monotonic()
        wait_for(lambda: health(port, "/readyz")[0] == 200, timeout=60, what="ready after the outage")
        ready_again = time.monotonic() - up
        wait_condition(kube, "during", namespace, "Ready", "True", timeout=120)
        new_work = time.monotonic() - up
        wait_for(lambda: sandbox.members("before") == expected_members(10), timeout=120, interval=0.5)
        # When the group's write reached Slack (the loop above starts after the apiserver restart,
        # so it cannot time it): the first membership write since the outage began is the handoff's.
        handoff_late = (
            min(
                datetime.fromisoformat(e["time"]).timestamp()
                for e in sandbox.requests("slack")
                if e["method"] == "usergroups.users.update"
                and datetime.fromisoformat(e["time"]).timestamp() > due - 1
            )
            - due
        )
        wait_for(
            lambda: (
                kube.get("oncallsync", "before", namespace)["status"].get("members") == expected_members(10)
            ),
            timeout=60,
            what="the handoff's status written after the outage",
        )
        assert operator.alive(), operator.tail()
        assert health(port, "/healthz")[0] == 200 and not liveness_failures, liveness_failures
    finally:
        proxy.stop()

    assert stale_at is not None, "readiness never named the stale OnCallSync watch"
    stale_after_outage = stale_at - down
    # Stale once no check succeeded for STALE_AFTER; the last success was at most one check before.
    assert stale_after_outage <= STALE_AFTER + CHECK_INTERVAL + SAMPLING_SLACK, stale_after_outage
    stale = next(w for w in stale_body["staleWatches"] if w["kind"] == "oncallsyncs")
    assert stale["staleSeconds"] > STALE_AFTER and stale["lastFailure"] == "KubernetesUnavailable", stale
    assert ready_again <= CHECK_INTERVAL + CHECK_TIMEOUT + SAMPLING_SLACK, ready_again
    assert new_work <= RECOVERY_BOUND_SECONDS, new_work
    assert handoff_late <= HANDOFF_LATE_SECONDS, handoff_late
    figures["apiserver black-holed"] = (
        f"{OUTAGE_SECONDS:.0f}s, restarted inside it: /readyz 503 naming the stale watch after "
        f"{stale_after_outage:.1f}s (stale after {STALE_AFTER:.0f}s), 200 again {ready_again:.1f}s after "
        f"the path came back; /healthz 200 throughout; an OnCallSync created during it Ready "
        f"{new_work:.1f}s after; the handoff due during it {handoff_late:.1f}s late"
    )
