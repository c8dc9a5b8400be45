"""Prometheus metrics: one registry for every kind. Labels carry namespaces, resource names, API methods,
statuses and error codes - never personal data. Series of a deleted resource are removed with it."""

from __future__ import annotations

import contextlib
import platform

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)

from oncall_operator import __version__

# `_created` series double the cardinality of every counter and nobody alerts on them.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry(auto_describe=True)
for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(collector)
PREFIX = "oncall_operator_"

BUILD_INFO = Gauge(
    PREFIX + "build_info", "The running version (always 1).", ["version", "python"], registry=REGISTRY
)
BUILD_INFO.labels(__version__, platform.python_version()).set(1)

# Every kind
RESOURCES = Gauge(
    PREFIX + "resources", "Resources the operator watches, by kind.", ["kind"], registry=REGISTRY
)
RESOURCE_READY = Gauge(
    PREFIX + "resource_ready",
    "1 when the resource's Ready condition is True, else 0.",
    ["kind", "namespace", "name"],
    registry=REGISTRY,
)
LAST_SUCCESS = Gauge(
    PREFIX + "last_success_timestamp_seconds",
    "Unix time of the resource's last successful reconcile.",
    ["kind", "namespace", "name"],
    registry=REGISTRY,
)

# OnCallSync
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
LOOKAHEAD_ROUNDS = Counter(
    PREFIX + "lookahead_rounds", "Rounds of on-call re-reads between handoffs.", registry=REGISTRY
)
LOOKAHEAD_WAKES = Counter(
    PREFIX + "lookahead_wakes",
    "OnCallSyncs woken because PagerDuty changed between handoffs (an override, a schedule edit).",
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(PREFIX + "queue_depth", "Syncs due and waiting for a worker.", registry=REGISTRY)

# External APIs
API_REQUESTS = Counter(
    PREFIX + "api_requests",
    "Requests to external APIs by api, method and HTTP status, Slack error code, or connection_error.",
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
SERVER_WAITS_CAPPED = Counter(
    PREFIX + "server_waits_capped",
    "Times a server asked to wait longer than the operator allows (the wait was capped).",
    ["api"],
    registry=REGISTRY,
)


# CleanupRule / CleanupRun (labels: namespace, rule, result - never people)
CLEANUP_RUNS = Counter(
    PREFIX + "cleanup_runs",
    "Finished CleanupRuns by result: their final phase (Planned, Completed, Aborted, Refused, Failed).",
    ["namespace", "rule", "result"],
    registry=REGISTRY,
)
CLEANUP_USERS = Counter(
    PREFIX + "cleanup_users",
    "People in finished CleanupRuns by result: matched, affected (changes planned), failed (a change failed).",
    ["namespace", "rule", "result"],
    registry=REGISTRY,
)
CLEANUP_RUN_DURATION = Histogram(
    PREFIX + "cleanup_run_duration_seconds",
    "Time a CleanupRun spent planning and applying (waiting for approval excluded).",
    ["namespace", "rule"],
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)
CLEANUP_SAFETY_ABORTS = Counter(
    PREFIX + "cleanup_safety_aborts",
    "CleanupRuns aborted by a safety cap (maxAffected or maxAffectedPercent) before any change.",
    ["namespace", "rule"],
    registry=REGISTRY,
)
CLEANUP_AWAITING_APPROVAL = Gauge(
    PREFIX + "cleanup_runs_awaiting_approval",
    "CleanupRuns waiting for a person to approve their plan.",
    ["namespace", "rule"],
    registry=REGISTRY,
)
CLEANUP_APPROVAL_WAIT = Gauge(
    PREFIX + "cleanup_oldest_approval_wait_seconds",
    "How long the oldest CleanupRun waiting for approval has waited (0 when none waits).",
    ["namespace", "rule"],
    registry=REGISTRY,
)

# Why a resource is not Ready: alerts tell a group conflict from an expired token by the reason
# (an enum from api/reasons.py, never free text). One series per resource at most; none when Ready.
NOT_READY_REASON = Gauge(
    PREFIX + "resource_not_ready_reason",
    "1 for the reason of the resource's Ready=False condition (absent while Ready).",
    ["kind", "namespace", "name", "reason"],
    registry=REGISTRY,
)
_not_ready_reasons: dict[tuple[str, str, str], str] = {}


def set_not_ready_reason(kind: str, namespace: str, name: str, reason: str | None) -> None:
    key = (kind, namespace, name)
    previous = _not_ready_reasons.pop(key, None)
    if previous is not None and previous != reason:
        with contextlib.suppress(KeyError):
            NOT_READY_REASON.remove(kind, namespace, name, previous)
    if reason is not None:
        _not_ready_reasons[key] = reason
        NOT_READY_REASON.labels(kind, namespace, name, reason).set(1)


def report_ready(kind: str, namespace: str, name: str, ready: tuple[str, str] | None) -> None:
    """The per-resource Ready series from the (status, reason) of its Ready condition."""
    status, reason = ready or ("Unknown", "")
    RESOURCE_READY.labels(kind, namespace, name).set(1 if status == "True" else 0)
    set_not_ready_reason(kind, namespace, name, reason if status == "False" else None)


# RetentionPolicy / DeletionRequest (labels: data class, phase, namespace - never people)
RETENTION_PRUNED = Counter(
    PREFIX + "retention_pruned",
    "Records pruned by retention (policies and built-in defaults), by data class.",
    ["data"],
    registry=REGISTRY,
)
RETENTION_OLDEST_AGE = Gauge(
    PREFIX + "retention_oldest_record_age_seconds",
    "Age of the oldest record remaining, by data class, as of the last retention pass.",
    ["data"],
    registry=REGISTRY,
)
DELETION_REQUESTS = Gauge(
    PREFIX + "deletion_requests",
    "DeletionRequests by phase (Pending, Running, Completed, Failed).",
    ["phase"],
    registry=REGISTRY,
)
DELETION_DURATION = Histogram(
    PREFIX + "deletion_request_duration_seconds",
    "Time from a DeletionRequest's creation to its completion.",
    buckets=(1, 5, 10, 30, 60, 300, 3600, 86400, 7 * 86400, 30 * 86400),
    registry=REGISTRY,
)
DELETION_OLDEST_OPEN_AGE = Gauge(
    PREFIX + "deletion_oldest_open_request_age_seconds",
    "Age of the oldest DeletionRequest not finished (0 when none is open); its dueBy is 30 days.",
    registry=REGISTRY,
)


def forget_resource(kind: str, namespace: str, name: str) -> None:
    """Removes the series of a resource that is gone."""
    for gauge in (RESOURCE_READY, LAST_SUCCESS):
        with contextlib.suppress(KeyError):
            gauge.remove(kind, namespace, name)
    set_not_ready_reason(kind, namespace, name, None)


def serve_metrics(port: int, host: str = "0.0.0.0") -> None:
    """Serves /metrics on its own port, apart from Kopf's health endpoint."""
    start_http_server(port, addr=host, registry=REGISTRY)


# Readiness (health.py): how long since the API server last answered for each watch.
WATCH_STALE_SECONDS = Gauge(
    PREFIX + "watch_stale_seconds",
    "Seconds since the API server last answered the operator's check of a watched kind; /readyz "
    "fails past --watch-stale-after.",
    ["kind"],
    registry=REGISTRY,
)
