"""Starts the operator: shared services, an explicit registry of kinds, Kopf settings, metrics."""

from __future__ import annotations

import logging
import os
import random
import socket
from typing import Any

import kopf

from oncall_operator import API_GROUP
from oncall_operator.clients.kube import connection_info
from oncall_operator.core.errors import OperatorError
from oncall_operator.health import WatchHealth, serve_health, watch_keys
from oncall_operator.kinds import (
    Kind,
    cleanuprule,
    cleanuprun,
    deletionrequest,
    oncallsync,
    retentionpolicy,
    smokeprobe,
)
from oncall_operator.metrics import serve_metrics
from oncall_operator.services import Services
from oncall_operator.settings import Settings

# The kinds the operator serves, and those only the test suites use.
KINDS: tuple[Kind, ...] = (
    oncallsync.KIND,
    cleanuprule.KIND,
    cleanuprun.KIND,
    retentionpolicy.KIND,
    deletionrequest.KIND,
)
TEST_KINDS: tuple[Kind, ...] = (smokeprobe.KIND,)
# Loggers that print request parameters (emails, tokens) at DEBUG: quiet whatever -v says.
QUIET_LOGGERS = (
    "slack_sdk",
    "pagerduty",
    "httpx",
    "httpx2",
    "httpcore",
    "httpcore2",
    "urllib3",
    "kubernetes",
)


def served_kinds(settings: Settings) -> tuple[Kind, ...]:
    return KINDS + (TEST_KINDS if settings.with_test_kinds else ())


def configure_kopf(settings: kopf.OperatorSettings, workers: int) -> None:
    """Our own annotation/finalizer names, decided once (changing them re-runs handlers)."""
    settings.persistence.finalizer = f"{API_GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=API_GROUP, key="last-handled-configuration"
    )
    # Log lines never become Events (posting.loggers stays off): we post Events ourselves, ids only.
    settings.posting.loggers = False
    settings.posting.level = logging.INFO
    settings.posting.reporting_component = "oncall-operator"
    settings.posting.reporting_instance = os.environ.get("HOSTNAME") or socket.gethostname()
    # A black-holed API server (packets dropped, no reset) is noticed only when a timeout fires, so
    # every one is bounded (docs/reliability.md): a stream silent for 70 s is dropped (the API server
    # sends a bookmark each minute), a reconnect or a request that gets no answer fails within 10 s
    # (connect and TLS) or 60 s (the whole request), and is retried with Kopf's backoff.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.inactivity_timeout = 70
    settings.watching.connect_timeout = 10
    settings.networking.connect_timeout = 10
    settings.networking.request_timeout = 60
    settings.batching.error_delays = (1, 2, 5, 10, 30)
    settings.execution.max_workers = max(4, workers)


async def serve_named_namespaces_directly(
    services: Services, settings: kopf.OperatorSettings, logger: kopf.Logger
) -> None:
    """With named namespaces and no right to list namespaces (the chart's least privilege), Kopf retries
    the refused listing for about a minute before it serves the names: skip the scan instead. Its cost:
    a CRD created after start is served after a restart (the chart installs CRDs before the operator)."""
    if services.settings.clusterwide or not services.settings.namespaces:
        return
    try:
        if await services.kube.may("list", "namespaces") and await services.kube.may("watch", "namespaces"):
            return
    except OperatorError as error:  # unknown: keep Kopf's scan, which falls back on its own
        logger.warning(f"Could not review access to namespaces ({error.reason}); scanning them")
        return
    settings.scanning.disabled = True
    logger.info(
        "Serving exactly the named namespaces: this account may not list namespaces "
        "(custom resource definitions are discovered once, at start)."
    )


def build_registry(services: Services) -> kopf.OperatorRegistry:
    settings = services.settings
    registry = kopf.OperatorRegistry()

    @kopf.on.login(id="login", registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return connection_info(services.kube.configuration)

    @kopf.on.startup(id="configure", registry=registry)
    async def startup(settings: kopf.OperatorSettings, logger: kopf.Logger, **_: Any) -> None:
        configure_kopf(settings, services.settings.workers)
        await serve_named_namespaces_directly(services, settings, logger)
        services.secrets.start()

    for kind in served_kinds(settings):
        kind.register(registry, services)
    return registry


async def run_operator(settings: Settings) -> int:
    kopf.configure(
        verbose=settings.verbose,
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.FULL,
        log_prefix=None,  # text lines name the resource ([namespace/name]); JSON carries it as fields
    )
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # The pagerduty SDK logs every non-2xx it hands back as an ERROR; the adapter reports them classified.
    logging.getLogger("pagerduty").setLevel(logging.CRITICAL)
    services = Services.build(settings)
    kinds = served_kinds(settings)
    namespaces = () if settings.clusterwide else settings.namespaces
    health = WatchHealth(
        services.kube,
        watch_keys(kind.resource.plural for kind in kinds),
        namespaces,
        settings.watch_check_interval,
        settings.watch_stale_after,
    )
    health_server = None
    try:
        if settings.metrics_port:
            serve_metrics(settings.metrics_port, settings.metrics_host)
        if settings.health_port:
            health_server = await serve_health(settings.health_host, settings.health_port, health)
            health.start()
        await kopf.operator(
            registry=build_registry(services),
            standalone=settings.standalone or settings.peering is None,
            peering_name=settings.peering,
            liveness_endpoint=None,  # health.py serves /healthz next to /readyz
            clusterwide=settings.clusterwide,
            namespaces=namespaces,
            # Peering pauses peers of equal priority, so each replica gets its own.
            priority=settings.priority if settings.priority is not None else random.randint(1, 1_000_000),
        )
    finally:
        await health.stop()
        if health_server is not None:
            await health_server.cleanup()
        await services.close()
    return 0
