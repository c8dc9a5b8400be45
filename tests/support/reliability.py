"""Helpers for the reliability tier: operator processes we kill, seeds with many groups, request-log checks."""

from __future__ import annotations

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

FINALIZER = "oncall-operator.dev/finalizer"
# Budgets on both sides (the operator's pacing and the sandbox's limits) are multiplied by this, so a
# burst of 30+ handoffs takes seconds, not the minutes Slack's Tier 2 would give (30 writes at 20/min).
RATE_SCALE = 10.0


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
            self.process = subprocess.Popen(
                local_operator_command("--verbose", *self.args),
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
    """Names of `kind` objects in the namespace that lack our finalizer (should be none)."""
    import json

    items = json.loads(kube.kubectl("get", kind, "-n", namespace, "-o", "json").stdout)["items"]
    return [i["metadata"]["name"] for i in items if FINALIZER not in (i["metadata"].get("finalizers") or [])]
