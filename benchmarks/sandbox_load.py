"""Load the sandbox with 10,000 mixed Slack/PagerDuty requests; print throughput, errors and RSS.

The sandbox runs in this process (a background thread), so RSS covers server and state. Rate
limits are switched off: the point is that nothing errors and memory stays flat.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))

from oncall_sandbox import SandboxServer

TOTAL = 10_000
WORKERS = 8


def rss_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def requests_for(i: int) -> tuple[str, str, dict[str, Any]]:
    slack = {"Authorization": "Bearer xoxb-sandbox-bot"}
    pd = {"Authorization": "Token token=pd-sandbox-token"}
    users = ["U0SBX0A01", "U0SBX0B02", "U0SBX0C03", "U0SBX0D04"]
    mix: list[tuple[str, str, dict[str, Any]]] = [
        (
            "POST",
            "/api/usergroups.users.update",
            {"headers": slack, "data": {"usergroup": "S0SBXPAY1", "users": users[i % 4]}},
        ),
        ("POST", "/api/users.list", {"headers": slack, "data": {"limit": "5"}}),
        (
            "POST",
            "/api/chat.postMessage",
            {"headers": slack, "json": {"channel": "C0SBXPAY1", "text": f"load {i}"}},
        ),
        (
            "POST",
            "/api/conversations.setTopic",
            {"headers": slack, "data": {"channel": "C0SBXSRE2", "topic": f"t{i}"}},
        ),
        ("POST", "/api/users.lookupByEmail", {"headers": slack, "data": {"email": "alice@acme.example"}}),
        (
            "GET",
            "/pagerduty/oncalls",
            {"headers": pd, "params": {"include[]": "users", "time_zone": "Europe/Berlin"}},
        ),
        ("GET", "/pagerduty/users", {"headers": pd, "params": {"limit": "25"}}),
        ("GET", "/pagerduty/schedules/PSPAYP1", {"headers": pd}),
        (
            "GET",
            "/pagerduty/oncalls",
            {"headers": pd, "params": {"since": "2025-06-01T00:00:00Z", "until": "2025-06-08T00:00:00Z"}},
        ),
        ("GET", "/pagerduty/escalation_policies", {"headers": pd}),
    ]
    return mix[i % len(mix)]


def run(server: SandboxServer, start: int, count: int) -> tuple[list[float], dict[int, int]]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    def worker(offset: int) -> None:
        with requests.Session() as client:
            for i in range(start + offset, start + count, WORKERS):
                method, path, kwargs = requests_for(i)
                began = time.perf_counter()
                status = client.request(method, server.url + path, timeout=30, **kwargs).status_code
                latencies.append(time.perf_counter() - began)
                statuses[status] = statuses.get(status, 0) + 1

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(worker, range(WORKERS)))
    return latencies, statuses


def main() -> int:
    # A 20k request log (the default keeps 100k) so the second round shows the plateau.
    with SandboxServer(time_scale=60.0, tls=False, request_log_limit=20_000) as server:
        server.control.rate_limit(enabled=False)
        run(server, 0, 500)  # warm-up: imports, caches, history buffers partly filled
        before = rss_mib()
        started = time.perf_counter()
        latencies, statuses = run(server, 0, TOTAL)
        elapsed = time.perf_counter() - started
        after = rss_mib()
        # Two more rounds: state and logs are bounded, so RSS must level off.
        run(server, TOTAL, TOTAL)
        after_second = rss_mib()
        run(server, 2 * TOTAL, TOTAL)
        after_third = rss_mib()
        errors = sum(n for s, n in statuses.items() if s >= 400)
        stats = server.control.stats()
        latencies.sort()
        print(f"requests:        {len(latencies)} ({WORKERS} threads, mixed Slack/PagerDuty)")
        print(f"statuses:        {dict(sorted(statuses.items()))}")
        print(f"errors:          {errors}")
        print(f"throughput:      {len(latencies) / elapsed:.0f} req/s over {elapsed:.1f} s")
        print(
            f"latency:         p50 {statistics.median(latencies) * 1000:.1f} ms, "
            f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms"
        )
        print(
            f"RSS:             before {before:.1f} MiB, after 10k {after:.1f} MiB, "
            f"after 20k {after_second:.1f} MiB, after 30k {after_third:.1f} MiB"
        )
        print(f"messages kept:   {len(server.control.messages())} (bounded history)")
        print(
            f"methods seen:    slack {len(stats.get('slack', {}))}, pagerduty {len(stats.get('pagerduty', {}))}"
        )
        return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
