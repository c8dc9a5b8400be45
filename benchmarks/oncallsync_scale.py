"""OnCallSync at scale: N resources on the local control plane + sandbox. Prints figures.

Two runs, each with its own sandbox and operator process:
  A. N resources whose handoffs are spread evenly over an hour (at --time-scale, with every
     rate limit scaled by the same factor on both sides, so the load is what N resources
     put on real Slack/PagerDuty): initial sync, steady state, handoff lag p50/p99, RSS, CPU;
     then PagerDuty overrides created between handoffs: with notice (starting three look-ahead
     intervals later) and at short notice (10 s later): "notice to applied" lag, and the
     PagerDuty calls per hour the look-ahead costs.
  B. --burst resources handing off at the same instant in one workspace: makespan divided by
     the least time Slack's usergroups.users.update limit (Tier 2) allows for that many writes.
Lag is measured from the sandbox's own record of each group's last update (date_update, on
the sandbox clock) minus the shift boundary, converted to real seconds.

Usage: make bench   (or ONCALL_CONTROLPLANE_BIN=... python benchmarks/oncallsync_scale.py)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from measure import MALLOC_ENV, cpu_seconds, install_crds, memory_mib
from oncall_devkit.localcluster import LocalControlPlane, local_operator_command
from oncall_operator.clients.kube import CREDENTIALS_LABEL
from oncall_operator.clients.slack_limits import METHOD_TIER, per_minute
from oncall_sandbox.seed import SandboxSeed
from oncall_sandbox.server import SandboxServer

T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
PEOPLE = 200
SLACK_TOKEN = "xoxb-bench"
PD_TOKEN = "pd-bench"


def group_id(i: int) -> str:
    return f"SG{i:06d}"


def build_seed(count: int, boundaries: list[datetime]) -> SandboxSeed:
    """Resource i: schedule rotating two people hourly with a boundary at boundaries[i]."""
    people = [f"P{n:06d}" for n in range(PEOPLE)]
    slack_ids = [f"U{n:06d}" for n in range(PEOPLE)]
    schedules, policies, groups = [], [], []
    for i in range(count):
        a, b = people[i % PEOPLE], people[(i + 1) % PEOPLE]
        # Rotation [a, b] in daily turns: `a` is on call for the day before boundaries[i],
        # so each resource has exactly one handoff in the run.
        virtual_start = boundaries[i] - timedelta(days=1)
        schedules.append(
            {
                "id": f"PS{i:06d}",
                "name": f"s{i}",
                "time_zone": "UTC",
                "layers": [
                    {
                        "id": f"PL{i:06d}",
                        "start": virtual_start.isoformat(),
                        "rotation_virtual_start": virtual_start.isoformat(),
                        "rotation_turn_length_seconds": 86400,
                        "users": [a, b],
                    }
                ],
            }
        )
        policies.append(
            {
                "id": f"PE{i:06d}",
                "name": f"e{i}",
                "rules": [
                    {"id": f"PR{i:06d}", "targets": [{"type": "schedule_reference", "id": f"PS{i:06d}"}]}
                ],
            }
        )
        # The group already holds whoever is on call, so the initial sync writes nothing.
        groups.append(
            {"id": group_id(i), "handle": f"g{i}", "name": f"g{i}", "users": [slack_ids[i % PEOPLE]]}
        )
    document = {
        "start_time": T0.isoformat(),
        "slack": {
            "team_id": "TBENCH1",
            "team_name": "Bench",
            "domain": "bench",
            "plan": "enterprise",
            "bot_user_id": "UBOT0001",
            "tokens": [
                {
                    "token": SLACK_TOKEN,
                    "scopes": [
                        "usergroups:read",
                        "usergroups:write",
                        "users:read",
                        "users:read.email",
                        "chat:write",
                    ],
                }
            ],
            "users": [{"id": "UBOT0001", "name": "bot", "is_bot": True}]
            + [
                {"id": s, "name": s.lower(), "email": f"{p.lower()}@bench.example"}
                for p, s in zip(people, slack_ids, strict=False)
            ],
            "usergroups": groups,
        },
        "pagerduty": {
            "tokens": [PD_TOKEN],
            "users": [{"id": p, "name": p.lower(), "email": f"{p.lower()}@bench.example"} for p in people],
            "schedules": schedules,
            "escalation_policies": policies,
        },
    }
    return SandboxSeed.model_validate(document)


def manifests(count: int, namespace: str) -> str:
    docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}]
    docs += [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "pagerduty", "namespace": namespace, "labels": {CREDENTIALS_LABEL: "true"}},
            "stringData": {"token": PD_TOKEN},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "slack", "namespace": namespace, "labels": {CREDENTIALS_LABEL: "true"}},
            "stringData": {"bot-token": SLACK_TOKEN},
        },
    ]
    docs += [oncallsync_manifest(i, namespace) for i in range(count)]
    return yaml.safe_dump_all(docs)


def oncallsync_manifest(i: int, namespace: str) -> dict[str, Any]:
    """Resource i syncs schedule PS{i} into the existing group g{i}."""
    return {
        "apiVersion": "oncall-operator.dev/v1alpha1",
        "kind": "OnCallSync",
        "metadata": {"name": f"sync-{i}", "namespace": namespace},
        "spec": {
            "pagerDuty": {
                "tokenSecretRef": {"name": "pagerduty", "key": "token"},
                "schedules": [f"PS{i:06d}"],
            },
            "slack": {
                "tokenSecretRef": {"name": "slack", "key": "bot-token"},
                "userGroup": {"handle": f"g{i}", "create": False},
            },
            "resyncInterval": "24h",
        },
    }


class Run:
    """A sandbox + operator process for one scenario."""

    def __init__(
        self, plane: LocalControlPlane, seed: SandboxSeed, scale: float, log_dir: Path, namespace: str
    ):
        # No kube-controller-manager runs, so namespaces never finish deleting: one per scenario.
        self.plane, self.scale, self.namespace = plane, scale, namespace
        self.sandbox = SandboxServer(seed, time_scale=scale).start()
        control = self.sandbox.control
        for method in METHOD_TIER:
            control.rate_limit(api="slack", method=method, per_minute=int(per_minute(method) * scale))
        control.rate_limit(api="pagerduty", per_minute=int(960 * scale))
        env = {
            **os.environ,
            "KUBECONFIG": str(plane.kubeconfig),
            **self.sandbox.operator_env(),
            "ONCALL_RATE_LIMIT_SCALE": str(scale),
            # The production cadence (60 s) on the accelerated clock.
            "ONCALL_LOOKAHEAD_INTERVAL": f"{max(1.0, 60.0 / scale):.3f}s",
            **MALLOC_ENV,
        }
        self.log = (log_dir / f"operator-{int(time.time())}.log").open("wb")
        self.process = subprocess.Popen(
            local_operator_command("-n", namespace, "--workers", "64"),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def kubectl(self, *args: str, input: str | None = None) -> str:
        result = subprocess.run(
            [str(self.plane.kubectl), *args],
            input=input,
            capture_output=True,
            text=True,
            env={**os.environ, "KUBECONFIG": str(self.plane.kubeconfig)},
            check=True,
        )
        return result.stdout

    def ready_count(self) -> int:
        items = json.loads(self.kubectl("get", "oncallsyncs", "-n", self.namespace, "-o", "json"))["items"]
        return sum(
            1
            for i in items
            for c in i.get("status", {}).get("conditions", [])
            if c["type"] == "Ready" and c["status"] == "True"
        )

    def rss_mib(self) -> float:
        return memory_mib(self.process.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)

    def sandbox_now(self) -> datetime:
        return self.sandbox.control.now()

    def calls(self, since: int) -> tuple[Counter[str], int]:
        entries = self.sandbox.control.requests(since=since)
        counts = Counter(f"{e['api']} {e['method']}" for e in entries)
        return counts, max((e["seq"] for e in entries), default=since)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()
        self.sandbox.stop()


def wait_ready(run: Run, count: int, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        ready = run.ready_count()
        print(f"  {time.monotonic() - started:5.1f}s: {ready}/{count} Ready", file=sys.stderr, flush=True)
        if ready >= count:
            return time.monotonic() - started
        time.sleep(2)
    raise SystemExit(f"only {run.ready_count()}/{count} Ready after {timeout:.0f}s")


def writes(counts: Counter[str]) -> int:
    return sum(v for k, v in counts.items() if k.startswith("slack usergroups.") and not k.endswith(".list"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def scenario_spread(
    plane: LocalControlPlane, count: int, scale: float, quiet_minutes: int, log_dir: Path
) -> dict[str, Any]:
    quiet = timedelta(minutes=quiet_minutes)
    boundaries = [T0 + quiet + timedelta(seconds=3600 * i / count) for i in range(count)]
    run = Run(plane, build_seed(count, boundaries), scale, log_dir, namespace="bench-spread")
    try:
        time.sleep(2)
        idle_rss = run.rss_mib()
        applying = time.monotonic()
        run.kubectl("apply", "-f", "-", input=manifests(count, run.namespace))
        apply_seconds = time.monotonic() - applying
        ready_after = wait_ready(run, count, timeout=900)
        initial, seq = run.calls(0)
        cpu_initial = run.cpu_seconds()
        # kubectl takes a while to create N objects; restart the quiet period once all are synced.
        run.sandbox.control.set_clock(T0)
        now = run.sandbox_now()
        first_boundary = boundaries[0]
        if now >= first_boundary:
            raise SystemExit(
                f"initial sync outlasted the quiet period ({now} >= {first_boundary}); raise --quiet-minutes"
            )
        # Steady state: until just before the first handoff nothing is due.
        steady_real = (first_boundary - now).total_seconds() / scale - 1
        time.sleep(max(0.0, steady_real))
        steady, seq = run.calls(seq)
        cpu_steady = run.cpu_seconds() - cpu_initial
        # Handoffs: let half an hour of boundaries pass.
        horizon = first_boundary + timedelta(minutes=30)
        while run.sandbox_now() < horizon + timedelta(seconds=60):
            time.sleep(1)
        handoff_calls, seq = run.calls(seq)
        groups = {g["id"]: g for g in run.sandbox.control.usergroups()}
        lags = []
        for i, boundary in enumerate(boundaries):
            if boundary <= horizon:
                updated = groups[group_id(i)]["date_update"]
                lags.append((updated - boundary.timestamp()) / scale)
        handed_off = len(lags)
        notice = notice_lags(run, boundaries, horizon, scale)
        return {
            "resources": count,
            "time_scale": scale,
            "kubectl_apply_seconds": round(apply_seconds, 1),
            "initial_sync_seconds": round(ready_after, 1),
            "initial_calls": dict(initial),
            "initial_calls_per_sync": round(sum(initial.values()) / count, 2),
            "steady_seconds_sandbox": round(steady_real * scale),
            "steady_calls": dict(steady),
            "steady_slack_writes": writes(steady),
            "handoffs": handed_off,
            "handoff_calls": dict(handoff_calls),
            "slack_calls_per_handoff": round(
                sum(v for k, v in handoff_calls.items() if k.startswith("slack")) / handed_off, 2
            ),
            "pagerduty_calls_per_handoff": round(
                sum(v for k, v in handoff_calls.items() if k.startswith("pagerduty")) / handed_off, 2
            ),
            "slack_writes_per_handoff": round(writes(handoff_calls) / handed_off, 2),
            "lag_p50_seconds": round(statistics.median(lags), 2),
            "lag_p99_seconds": round(percentile(lags, 0.99), 2),
            "lag_max_seconds": round(max(lags), 2),
            "steady_pagerduty_calls_per_hour": round(
                sum(v for k, v in steady.items() if k.startswith("pagerduty")) * 3600 / (steady_real * scale)
            ),
            **notice,
            "rss_idle_mib": round(idle_rss, 1),
            "rss_mib": round(run.rss_mib(), 1),
            "cpu_seconds_initial": round(cpu_initial, 1),
            "cpu_seconds_steady": round(cpu_steady, 2),
            "cpu_seconds_total": round(run.cpu_seconds(), 1),
        }
    finally:
        run.stop()


def notice_lags(run: Run, boundaries: list[datetime], after: datetime, scale: float) -> dict[str, Any]:
    """Overrides created between handoffs on resources with no boundary for a while: half start three
    look-ahead intervals (3 minutes) after they are made, half 10 s after. The lag runs from the
    override's start to the group's update. With notice the change is known ahead, so what remains
    is processing, which runs in real time: reported in real seconds. At short notice the wait for
    the next look-ahead round dominates, and rounds run on the sandbox's clock: reported in the
    sandbox's seconds, which is what a real deployment (60 s rounds) would see."""
    now = run.sandbox_now()
    quiet = [i for i, b in enumerate(boundaries) if b > now + timedelta(minutes=20)][:40]
    client = run.sandbox.pagerduty_client(PD_TOKEN)
    starts: dict[int, datetime] = {}
    for n, i in enumerate(quiet):
        start = now + (timedelta(minutes=3) if n % 2 == 0 else timedelta(seconds=10))
        substitute = f"P{(i + 7) % PEOPLE:06d}"
        client.rpost(
            f"/schedules/PS{i:06d}/overrides",
            json={
                "overrides": [
                    {
                        "start": start.isoformat(),
                        "end": (start + timedelta(minutes=10)).isoformat(),
                        "user": {"id": substitute, "type": "user_reference"},
                    }
                ]
            },
        )
        starts[i] = start
    deadline = now + timedelta(minutes=8)
    while run.sandbox_now() < deadline:
        time.sleep(1)
    groups = {g["id"]: g for g in run.sandbox.control.usergroups()}
    with_notice: list[float] = []
    short_notice: list[float] = []
    missed = 0
    for n, (i, start) in enumerate(starts.items()):
        group = groups[group_id(i)]
        if (
            group["users"] != [f"U{(i + 7) % PEOPLE:06d}"]
            and group["date_update_precise"] < start.timestamp()
        ):
            missed += 1
            continue
        lag = group["date_update_precise"] - start.timestamp()
        (with_notice if n % 2 == 0 else short_notice).append(lag)
    return {
        "overrides_with_notice": len(with_notice),
        "notice_lag_p50_seconds": round(statistics.median(with_notice) / scale, 2) if with_notice else None,
        "notice_lag_max_seconds": round(max(with_notice) / scale, 2) if with_notice else None,
        "overrides_at_short_notice": len(short_notice),
        "short_notice_lag_p50_seconds": round(statistics.median(short_notice), 1) if short_notice else None,
        "short_notice_lag_max_seconds": round(max(short_notice), 1) if short_notice else None,
        "overrides_missed": missed,
    }


def scenario_burst(plane: LocalControlPlane, count: int, scale: float, log_dir: Path) -> dict[str, Any]:
    boundary = T0 + timedelta(minutes=10)
    run = Run(plane, build_seed(count, [boundary] * count), scale, log_dir, namespace="bench-burst")
    try:
        time.sleep(2)
        run.kubectl("apply", "-f", "-", input=manifests(count, run.namespace))
        wait_ready(run, count, timeout=600)
        run.sandbox.control.set_clock(T0)
        if run.sandbox_now() >= boundary:
            raise SystemExit("initial sync outlasted the quiet period before the burst")
        while run.sandbox_now() < boundary + timedelta(minutes=10):
            time.sleep(1)
            groups = run.sandbox.control.usergroups()
            if all(g["users"] == [f"U{(int(g['handle'][1:]) + 1) % PEOPLE:06d}"] for g in groups):
                break
        groups = run.sandbox.control.usergroups()
        # Handed off = the group now holds the next person (U of resource i + 1).
        expected = {group_id(i): [f"U{(i + 1) % PEOPLE:06d}"] for i in range(count)}
        handed = [g for g in groups if sorted(g["users"]) == expected[g["id"]]]
        updated = [g["date_update"] for g in handed]
        makespan = (max(updated) - boundary.timestamp()) / scale
        not_updated = sorted(g["handle"] for g in groups if g not in handed)
        write_statuses = Counter(
            r["status"] for r in run.sandbox.control.requests(api="slack", method="usergroups.users.update")
        )
        # Slack's Tier 2 budget, scaled like everything else in this run: a sliding window of
        # `limit` writes per real minute lets `limit` through at once, `limit` more a minute later...
        limit = int(per_minute("usergroups.users.update") * scale)
        bound_real = ((count - 1) // limit) * 60.0
        return {
            "burst_resources": count,
            "time_scale": scale,
            "updated": len(updated),
            "not_updated": not_updated[:10],
            "write_statuses": dict(write_statuses),
            "writes_per_minute_limit": limit,
            "makespan_seconds": round(makespan, 1),
            "rate_limit_bound_seconds": round(bound_real, 1),
            "makespan_over_bound": round(makespan / bound_real, 3) if bound_real else None,
            "makespan_in_real_slack_minutes": round(makespan * scale / 60, 2),
        }
    finally:
        run.stop()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resources", type=int, default=1000)
    parser.add_argument("--time-scale", type=float, default=20.0)
    parser.add_argument(
        "--quiet-minutes", type=int, default=40, help="sandbox minutes before the first handoff"
    )
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--burst-time-scale", type=float, default=5.0)
    parser.add_argument("--skip-burst", action="store_true")
    parser.add_argument("--skip-spread", action="store_true")
    args = parser.parse_args()
    bin_dir = os.environ.get("ONCALL_CONTROLPLANE_BIN") or sys.exit(
        "set ONCALL_CONTROLPLANE_BIN (make bench does)"
    )
    log_dir = Path(tempfile.mkdtemp(prefix="oncall-bench-"))
    results: dict[str, Any] = {}
    with LocalControlPlane(Path(bin_dir), work_dir=log_dir / "controlplane") as plane:
        install_crds(plane)
        time.sleep(2)
        if not args.skip_spread:
            results["spread"] = scenario_spread(
                plane, args.resources, args.time_scale, args.quiet_minutes, log_dir
            )
            print(json.dumps(results["spread"], indent=2), flush=True)
        if not args.skip_burst:
            results["burst"] = scenario_burst(plane, args.burst, args.burst_time_scale, log_dir)
            print(json.dumps(results["burst"], indent=2), flush=True)
    print(f"logs: {log_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
