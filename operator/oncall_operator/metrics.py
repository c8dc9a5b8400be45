"""Prometheus metrics. Labels carry ids and outcomes only, never personal data."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

REGISTRY = CollectorRegistry(auto_describe=True)
PREFIX = "oncall_operator_"

SYNCS = Counter(
    PREFIX + "syncs", "OnCallSync runs by result.", ["namespace", "name", "result"], registry=REGISTRY
)
SYNC_DURATION = Histogram(
    PREFIX + "sync_duration_seconds",
    "Time to run one OnCallSync, including external calls.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
HANDOFF_LAG = Histogram(
    PREFIX + "handoff_lag_seconds",
    "Time from a shift boundary to the Slack group reflecting it.",
    buckets=(0.5, 1, 2, 3, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
GROUP_MEMBERS = Gauge(
    PREFIX + "group_members",
    "Members of the synced Slack user group.",
    ["namespace", "name"],
    registry=REGISTRY,
)
UNMAPPED_USERS = Gauge(
    PREFIX + "unmapped_users",
    "On-call PagerDuty users with no usable Slack account.",
    ["namespace", "name"],
    registry=REGISTRY,
)
API_REQUESTS = Counter(
    PREFIX + "api_requests",
    "Requests to external APIs by api, method and HTTP status (or error class).",
    ["api", "method", "status"],
    registry=REGISTRY,
)
RATE_LIMIT_WAITS = Counter(
    PREFIX + "rate_limit_waits",
    "Times a request waited for a rate limit (local budget or the server's Retry-After).",
    ["api", "method"],
    registry=REGISTRY,
)
RATE_LIMIT_WAIT_SECONDS = Counter(
    PREFIX + "rate_limit_wait_seconds", "Seconds spent waiting for rate limits.", ["api"], registry=REGISTRY
)
QUEUE_DEPTH = Gauge(PREFIX + "queue_depth", "Syncs due and waiting for a worker.", registry=REGISTRY)
RESOURCES = Gauge(
    PREFIX + "resources", "Resources the operator watches, by kind.", ["kind"], registry=REGISTRY
)


def serve_metrics(port: int, host: str = "0.0.0.0") -> None:
    """Serves /metrics on its own port, apart from Kopf's health endpoint."""
    start_http_server(port, addr=host, registry=REGISTRY)
