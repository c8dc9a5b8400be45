"""CleanupRule at scale: 10,000 PagerDuty users and 12,000 Slack users. Prints figures.

One sandbox (generated directories: every 50th Slack account deactivated, 2,000 schedules of three
users, 50 escalation policies over them, everyone in one team) and one operator process on the
local control plane, at the APIs' real rate limits:
  A. plan: a dry run matching the deactivated - plan time, API calls against the fewest pages the
     complete listings need, the operator's peak RSS;
  B. size: a dry run matching all 12,000 people (every action) - the largest CleanupRun object;
  C. apply: case A applied (approval automatic) - changes per minute against the bound PagerDuty's
     account budget puts on the calls the apply needs.

Usage: make bench   (or ONCALL_CONTROLPLANE_BIN=... python benchmarks/cleanup_scale.py)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from measure import MALLOC_ENV, install_crds, memory_mib
from oncall_devkit.localcluster import LocalControlPlane, local_operator_command
from oncall_operator.clients.kube import CREDENTIALS_LABEL
from oncall_operator.clients.pagerduty import ACCOUNT_LIMIT_PER_MINUTE
from oncall_operator.clients.slack_limits import METHOD_TIER, per_minute
from oncall_sandbox.seed import SandboxSeed
from oncall_sandbox.server import SandboxServer

SLACK_TOKEN, PD_TOKEN = "xoxb-bench", "pd-bench"
SCOPES = ["users:read", "users:read.email", "usergroups:read", "usergroups:write", "chat:write"]
POLICIES = 50
APPLY_SCALE = 0.25  # case C: every budget a quarter, so the apply is bound by them (not by latency)


def build_seed(pd_users: int, slack_users: int, schedules: int) -> SandboxSeed:
    return SandboxSeed.model_validate(
        {
            "start_time": datetime.now(UTC).isoformat(),
            "slack": {
                "team_id": "T0BENCH01",
                "team_name": "Bench",
                "domain": "bench",
                "bot_user_id": "U0BOT0001",
                "tokens": [{"token": SLACK_TOKEN, "scopes": SCOPES}],
                "users": [{"id": "U0BOT0001", "name": "bot", "is_bot": True}],
                "generated_users": {"count": slack_users, "deactivated_every": 50, "access_logs": False},
            },
            "pagerduty": {
                "tokens": [PD_TOKEN],
                "teams": [{"id": "PTBULK1", "name": "Everyone"}],
                "generated_users": {"count": pd_users, "team": "PTBULK1"},
                "generated_schedules": {"count": schedules},
                "escalation_policies": [
                    {
                        "id": f"PE{n:06d}",
                        "name": f"policy {n}",
                        "rules": [
                            {
                                "id": f"PR{n:06d}",
                                "targets": [{"type": "schedule_reference", "id": f"PS{n:06d}"}],
                            }
                        ],
                    }
                    for n in range(POLICIES)
                ],
            },
        }
    )


ALL_ACTIONS = [
    "removeFromSlackUserGroups",
    "removeFromPagerDutySchedules",
    "removeFromPagerDutyEscalationPolicies",
    "removeFromPagerDutyTeams",
    "deletePagerDutyUser",
]


def rule(name: str, namespace: str, match: dict[str, Any], *, apply: bool) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "oncall-operator.dev/v1alpha1",
            "kind": "CleanupRule",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "annotations": {"cleanup.oncall-operator.dev/run-now": "1"},
            },
            "spec": {
                "pagerDuty": {"tokenSecretRef": {"name": "pagerduty", "key": "token"}},
                "slack": {"tokenSecretRef": {"name": "slack", "key": "bot-token"}},
                "match": match,
                "actions": ALL_ACTIONS,
                "dryRun": not apply,
                "approval": "automatic",
                "safety": {"maxAffected": 100_000, "maxAffectedPercent": 100},
            },
        }
    )


class Bench:
    """A sandbox and an operator process watching one namespace; budgets scaled by `scale`."""

    def __init__(
        self, plane: LocalControlPlane, seed: SandboxSeed, log_dir: Path, namespace: str, scale: float
    ) -> None:
        self.plane, self.namespace = plane, namespace
        started = time.monotonic()
        self.sandbox = SandboxServer(seed).start()
        self.seed_seconds = time.monotonic() - started
        if scale != 1.0:  # both sides alike: the load relative to the limits is the real one
            control = self.sandbox.control
            for method in METHOD_TIER:
                control.rate_limit(
                    api="slack", method=method, per_minute=max(1, int(per_minute(method) * scale))
                )
            control.rate_limit(api="pagerduty", per_minute=int(960 * scale))
        self.kubectl("create", "namespace", namespace)
        for name, key, token in (("pagerduty", "token", PD_TOKEN), ("slack", "bot-token", SLACK_TOKEN)):
            self.kubectl(
                "create", "secret", "generic", name, "-n", namespace, f"--from-literal={key}={token}"
            )
            self.kubectl("label", "secret", name, "-n", namespace, f"{CREDENTIALS_LABEL}=true")
        env = {
            **os.environ,
            "KUBECONFIG": str(plane.kubeconfig),
            **self.sandbox.operator_env(),
            "ONCALL_RATE_LIMIT_SCALE": str(scale),
            **MALLOC_ENV,
        }
        self.log = (log_dir / f"operator-{namespace}.log").open("wb")
        self.process = subprocess.Popen(
            local_operator_command("-n", namespace), stdout=self.log, stderr=subprocess.STDOUT, env=env
        )
        time.sleep(3)  # the operator's start-up, before anything is measured

    def kubectl(self, *args: str, input: str | None = None) -> str:
        return subprocess.run(
            [str(self.plane.kubectl), *args],
            input=input,
            capture_output=True,
            text=True,
            env={**os.environ, "KUBECONFIG": str(self.plane.kubeconfig)},
            check=True,
        ).stdout

    def memory_mib(self, field: str) -> float:
        return memory_mib(self.process.pid, field)

    def last_seq(self) -> int:
        return max((e["seq"] for e in self.sandbox.control.requests()), default=0)

    def calls(self, since: int) -> Counter[str]:
        return Counter(f"{e['api']} {e['method']}" for e in self.sandbox.control.requests(since=since))

    def run_of(self, rule_name: str, phases: tuple[str, ...], timeout: float) -> tuple[dict[str, Any], float]:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            items = json.loads(self.kubectl("get", "cleanupruns", "-n", self.namespace, "-o", "json"))[
                "items"
            ]
            for run in items:
                if run["spec"]["ruleName"] == rule_name and (run.get("status") or {}).get("phase") in phases:
                    return run, time.monotonic() - started
            time.sleep(0.25)
        raise SystemExit(f"bench: no run of {rule_name} in {phases} within {timeout:.0f}s")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()
        self.sandbox.stop()


def fewest_pages(bench: Bench, pd_users: int, slack_users: int, schedules: int) -> dict[str, int]:
    """The least requests the listings of case A need: every item once, at the APIs' largest pages."""
    client = bench.sandbox.pagerduty_client(PD_TOKEN)
    now = bench.sandbox.control.now()
    window = {"since": now.isoformat(), "until": (now + timedelta(hours=24)).isoformat(), "earliest": "true"}
    rows = client.get("/oncalls", params={**window, "total": "true", "limit": 1}).json()["total"]
    return {
        "pagerduty GET /users": math.ceil(pd_users / 100),
        "pagerduty GET /schedules": math.ceil(schedules / 100),
        "pagerduty GET /escalation_policies": math.ceil(POLICIES / 100),
        "pagerduty GET /oncalls": max(1, math.ceil(int(rows or 0) / 100)),
        "slack users.list": math.ceil((slack_users + 1) / 1000),
        "slack usergroups.list": 1,
    }


def plan_and_size(bench: Bench, args: argparse.Namespace, figures: dict[str, Any]) -> None:
    figures["operator RSS at rest (MiB)"] = round(bench.memory_mib("VmRSS"), 1)
    since = bench.last_seq()
    bench.kubectl(
        "apply",
        "-f",
        "-",
        input=rule("stale", bench.namespace, {"slackAccount": ["deactivated"]}, apply=False),
    )
    planned, seconds = bench.run_of("stale", ("Planned", "Refused", "Failed"), 600)
    calls = bench.calls(since)
    minimum = fewest_pages(bench, args.pagerduty_users, args.slack_users, args.schedules)
    used = {method: calls.get(method, 0) for method in minimum}
    counts = planned["status"]["counts"]
    figures["A. plan: phase"] = planned["status"]["phase"]
    figures["A. plan: matched / affected / changes"] = (
        f"{counts['matched']} / {counts['affected']} / {counts['changes']}"
    )
    figures["A. plan: seconds from apply to Planned"] = round(seconds, 1)
    ratio = sum(used.values()) / sum(minimum.values())
    figures["A. plan: listing calls / fewest pages"] = (
        f"{sum(used.values())} / {sum(minimum.values())} ({ratio:.3f}x)"
    )
    figures["A. plan: calls by method"] = {m: f"{used[m]} / {minimum[m]}" for m in minimum}
    figures["A. plan: other calls"] = {m: n for m, n in calls.items() if m not in minimum}
    figures["A. operator peak RSS after planning (MiB)"] = round(bench.memory_mib("VmHWM"), 1)
    everyone = {"emailDomains": {"in": ["bulk.example"]}}
    bench.kubectl("apply", "-f", "-", input=rule("everyone", bench.namespace, everyone, apply=False))
    largest, _ = bench.run_of("everyone", ("Planned", "Refused", "Failed"), 600)
    stored = bench.kubectl(
        "get", "cleanuprun", largest["metadata"]["name"], "-n", bench.namespace, "-o", "json"
    )
    counts = largest["status"]["counts"]
    figures["B. size: matched / changes"] = f"{counts['matched']} / {counts['changes']}"
    figures["B. size: CleanupRun object (KiB, JSON as served)"] = round(len(stored.encode()) / 1024, 1)
    figures["B. size: of the 1.5 MiB limit"] = f"{len(stored.encode()) / (1.5 * 1024 * 1024):.0%}"
    figures["B. operator peak RSS (MiB)"] = round(bench.memory_mib("VmHWM"), 1)


def apply_throughput(bench: Bench, figures: dict[str, Any]) -> None:
    bench.kubectl(
        "apply",
        "-f",
        "-",
        input=rule("apply", bench.namespace, {"slackAccount": ["deactivated"]}, apply=True),
    )
    bench.run_of("apply", ("Applying", "Completed", "Failed", "Aborted", "Refused"), 900)
    since, start = bench.last_seq(), time.monotonic()  # the plan is made: from here on, applying
    done, _ = bench.run_of("apply", ("Completed", "Failed"), 1800)
    seconds = time.monotonic() - start
    calls = bench.calls(since)
    status = done["status"]
    pd_calls = sum(n for m, n in calls.items() if m.startswith("pagerduty"))
    # A sliding window of L requests a minute passes L at once, then L more each minute: N requests
    # need at least 60 * floor((N - 1) / L) seconds (the last batch's start), whatever the latency.
    limit = int(ACCOUNT_LIMIT_PER_MINUTE * APPLY_SCALE)
    bound = 60.0 * ((pd_calls - 1) // limit)
    figures["C. apply: budgets scaled by"] = APPLY_SCALE
    figures["C. apply: phase / reason"] = f"{status['phase']} / {status['reason']}"
    figures["C. apply: changes made / failed"] = (
        f"{status['counts']['applied']} / {status['counts']['failed']}"
    )
    figures["C. apply: seconds (after the plan)"] = round(seconds, 1)
    figures["C. apply: PagerDuty calls (reads before writes, and the writes)"] = pd_calls
    figures[f"C. apply: least seconds a budget of {limit}/min allows for them"] = round(bound, 1)
    figures["C. apply: seconds / bound"] = round(seconds / bound, 2) if bound else None
    figures["C. apply: changes per minute"] = round(status["counts"]["applied"] / seconds * 60, 1)
    figures["C. apply: changes per minute at the real budgets (x4)"] = round(
        status["counts"]["applied"] / seconds * 60 / APPLY_SCALE, 1
    )
    figures["C. apply: calls by method"] = dict(sorted(calls.items()))
    figures["C. operator peak RSS (MiB)"] = round(bench.memory_mib("VmHWM"), 1)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pagerduty-users", type=int, default=10_000)
    parser.add_argument("--slack-users", type=int, default=12_000)
    parser.add_argument("--schedules", type=int, default=2_000)
    args = parser.parse_args()
    bin_dir = os.environ.get("ONCALL_CONTROLPLANE_BIN") or sys.exit("bench: run it with `make bench`")
    work = Path(tempfile.mkdtemp(prefix="oncall-cleanup-bench-"))
    figures: dict[str, Any] = {}
    with LocalControlPlane(Path(bin_dir), work_dir=work / "controlplane") as plane:
        install_crds(plane)
        seed = build_seed(args.pagerduty_users, args.slack_users, args.schedules)
        for namespace, scale, scenario in (("plan", 1.0, plan_and_size), ("apply", APPLY_SCALE, None)):
            bench = Bench(plane, seed, work, namespace, scale)
            figures.setdefault("sandbox: seed built (s)", round(bench.seed_seconds, 1))
            try:
                if scenario is not None:
                    scenario(bench, args, figures)
                else:
                    apply_throughput(bench, figures)
            finally:
                bench.stop()
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
