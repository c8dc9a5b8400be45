"""Helpers for the reliability tier: operator processes we kill, seeds with many groups, request-log checks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oncall_devkit.localcluster import local_operator_command
from oncall_operator.clients.slack_limits import METHOD_TIER, per_minute
from support import scenario
from support.kube import Kube
from support.oncall import Sandbox, oncallsync

GROUPS = 32  # a burst handoff: this many groups hand off at the same instant
FINALIZER = "oncall-operator.dev/finalizer"
# Budgets on both sides (the operator's pacing and the sandbox's limits) are multiplied by this, so a
# burst of 30+ handoffs takes seconds, not the minutes Slack's Tier 2 would give (30 writes at 20/min).
RATE_SCALE = 10.0
# A restarted operator checks a write its predecessor recorded only once the call deadline plus 5 s
# has passed since it started (core/resume.py): a short deadline keeps that wait short in crash tests.
CRASH_ENV = {"ONCALL_CALL_DEADLINE": "5s"}


def seeds(default: int) -> list[int]:
    """How many seeded crash points to try: ONCALL_RELIABILITY_SEEDS (make test-long sets 20)."""
    return list(range(int(os.environ.get("ONCALL_RELIABILITY_SEEDS", default))))


def scale_rate_limits(sandbox: Sandbox, scale: float = RATE_SCALE) -> dict[str, str]:
    """Slack's tiers and PagerDuty's account limit times `scale` in the sandbox; the operator's env to match."""
    for method in METHOD_TIER:
        sandbox.control(
            "POST",
            "rate_limits",
            {"api": "slack", "method": method, "per_minute": int(per_minute(method) * scale)},
        )
    sandbox.control("POST", "rate_limits", {"api": "pagerduty", "per_minute": int(960 * scale)})
    return {"ONCALL_RATE_LIMIT_SCALE": str(scale)}


def burst_channel(i: int) -> str:
    return f"C0BURST{i:02d}"


def burst_seed(groups: int) -> dict[str, Any]:
    """The scenario's workspace plus one channel per group, so each handoff message has its own channel."""
    seed = scenario.seed()
    seed["slack"]["channels"] += [
        {"id": burst_channel(i), "name": f"burst-{i}", "bot_is_member": True} for i in range(groups)
    ]
    return seed


def burst_group(i: int, namespace: str) -> dict[str, Any]:
    message = {"channel": burst_channel(i), "template": "{mentions} is now on call for {group}"}
    return oncallsync(f"burst-{i:02d}", namespace, slack={"handoffMessage": message})


def expected_members(hour: int) -> list[str]:
    return [scenario.PEOPLE[scenario.on_call_at(hour)]]


@dataclass
class OperatorProcess:
    """`oncall-operator run` as users start it, which a test may SIGKILL or SIGTERM at any moment."""

    kube: Kube
    args: tuple[str, ...]
    env: dict[str, str]
    log_dir: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    logs: list[Path] = field(default_factory=list)

    def start(self) -> OperatorProcess:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.starts += 1
        path = self.log_dir / f"operator-{self.starts}.log"
        self.logs.append(path)
        with path.open("wb") as log:
            command = local_operator_command("--verbose", *self.args)
            if "--peering" in self.args:  # a replica of an HA pair: peering instead of --standalone
                command.remove("--standalone")
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**self.kube.env(), **self.env},
                start_new_session=True,
            )
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group: no cleanup handler, no finalizer work, no status patch."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self, grace: float) -> float:
        """SIGTERM; the seconds until it exited (it is SIGKILLed past `grace`, and then this raises)."""
        assert self.process is not None
        began = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"still running {grace}s after SIGTERM: {self.tail()}") from None
        return time.monotonic() - began

    def stop(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, chars: int = 3000) -> str:
        return self.logs[-1].read_text(errors="replace")[-chars:] if self.logs else ""


def landed_writes(entries: list[dict[str, Any]], method: str) -> Counter[str]:
    """How many times each target took a successful `method` (Slack answers 200 to refusals too: ok is not
    in the log, so the caller compares with the sandbox's own write counters as well)."""
    return Counter(str(e["target"]) for e in entries if e["method"] == method and 200 <= e["status"] < 300)


def finalizers_kept(kube: Kube, kind: str, namespace: str) -> list[str]:
    """Names of `kind` objects in the namespace with work pending that lack our finalizer (should be
    none). A CleanupRun that finished before the kill has nothing pending: it releases its finalizer."""
    import json

    from oncall_operator.api.cleanuprun import FINISHED

    finished = {str(phase) for phase in FINISHED}
    items = json.loads(kube.kubectl("get", kind, "-n", namespace, "-o", "json").stdout)["items"]
    return [
        i["metadata"]["name"]
        for i in items
        if FINALIZER not in (i["metadata"].get("finalizers") or [])
        and not (kind == "cleanupruns" and (i.get("status") or {}).get("phase") in finished)
    ]


def group_state(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    return {g["handle"]: g for g in sandbox.control("GET", "slack/usergroups")}


def handoff_messages(sandbox: Sandbox) -> Counter[str]:
    return Counter(
        m["channel"] for m in sandbox.control("GET", "slack/messages") if "is now on call" in m["text"]
    )


def burst_converged(kube: Kube, sandbox: Sandbox, namespace: str, hour: int, handoffs: int) -> bool:
    want = expected_members(hour)
    groups = group_state(sandbox)
    if any(sorted(groups.get(f"burst-{i:02d}", {}).get("users", [])) != want for i in range(GROUPS)):
        return False
    items = json.loads(kube.kubectl("get", "oncallsyncs", "-n", namespace, "-o", "json").stdout)["items"]
    if len(items) != GROUPS:
        return False
    for item in items:
        status = item.get("status") or {}
        ready = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), {})
        if ready.get("status") != "True" or status.get("members") != want:
            return False
        record = status.get("lastHandoffMessage") or {}
        if handoffs and (record.get("state") != "Posted" or record.get("onCall") != want):
            return False
    return all(handoff_messages(sandbox)[burst_channel(i)] >= handoffs for i in range(GROUPS))


def start_burst(kube: Kube, namespace: str, sandbox: Sandbox, make: Any) -> OperatorProcess:
    """GROUPS OnCallSyncs handing off together, synced by a started operator (rate budgets scaled)."""
    import yaml

    from support.kube import wait_for
    from support.oncall import create_token_secrets

    sandbox.control("POST", "load", burst_seed(GROUPS))
    env = {
        **sandbox.server.operator_env(),
        **scale_rate_limits(sandbox),
        **CRASH_ENV,
        "ONCALL_LOOKAHEAD_INTERVAL": "2s",
    }
    create_token_secrets(kube, namespace)
    operator: OperatorProcess = make("-n", namespace, env=env).start()
    kube.apply(yaml.safe_dump_all([burst_group(i, namespace) for i in range(GROUPS)]))
    wait_for(
        lambda: burst_converged(kube, sandbox, namespace, 9, 0), timeout=120, what="first sync of every group"
    )
    return operator


def burst_writes(sandbox: Sandbox) -> int:
    """Group updates and messages the sandbox received since its request log was last cleared."""
    methods = ("usergroups.users.update", "chat.postMessage")
    return sum(1 for e in sandbox.requests("slack") if e["method"] in methods)


def assert_burst_wrote_once(
    sandbox: Sandbox, before: dict[str, dict[str, Any]], messages_before: Counter[str]
) -> None:
    """Since `before` (and the request log's last clearing): one update per group, one message per channel."""
    after = group_state(sandbox)
    entries = sandbox.requests("slack")
    updates = landed_writes(entries, "usergroups.users.update")
    for i in range(GROUPS):
        handle = f"burst-{i:02d}"
        assert after[handle]["updates"] == before[handle]["updates"] + 1, handle
        assert updates[after[handle]["id"]] == 1, (handle, updates[after[handle]["id"]])
    messages = handoff_messages(sandbox)
    assert all(messages[burst_channel(i)] == messages_before[burst_channel(i)] + 1 for i in range(GROUPS)), (
        messages - messages_before
    )
    posts = [e for e in entries if e["method"] == "chat.postMessage" and e["status"] == 200]
    assert len(posts) == GROUPS, len(posts)
