"""Starts the operator: Kopf settings, handler registration, metrics, health."""

from __future__ import annotations

import importlib
import logging
import random
from dataclasses import dataclass
from typing import Any

import kopf

from oncall_operator import API_GROUP
from oncall_operator.metrics import serve_metrics

log = logging.getLogger(__name__)

HANDLER_MODULES = ("oncall_operator.handlers.oncallsync",)
TEST_HANDLER_MODULES = ("oncall_operator.handlers.smoke",)


@dataclass(frozen=True)
class OperatorOptions:
    namespaces: tuple[str, ...] = ()
    all_namespaces: bool = False
    standalone: bool = False
    peering_name: str | None = None
    liveness_endpoint: str | None = "http://0.0.0.0:8080/healthz"
    metrics_port: int = 9090
    log_format: str = "text"
    verbose: bool = False
    with_test_kinds: bool = False
    workers: int = 16
    priority: int | None = None


def configure_kopf(settings: kopf.OperatorSettings, options: OperatorOptions) -> None:
    """Our own annotation/finalizer names, decided once (changing them re-runs handlers)."""
    settings.persistence.finalizer = f"{API_GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=API_GROUP, key="last-handled-configuration"
    )
    # Handlers' log lines are not Events: we post Events ourselves, with ids only.
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.batching.error_delays = (1, 2, 5, 10, 30)
    settings.execution.max_workers = max(4, options.workers)


async def run_operator(options: OperatorOptions) -> int:
    kopf.configure(
        verbose=options.verbose,
        log_format=kopf.LogFormat.JSON if options.log_format == "json" else kopf.LogFormat.FULL,
    )
    # SDKs log request parameters (emails included) at DEBUG: keep them quiet whatever -v says.
    for noisy in ("slack_sdk", "pagerduty", "httpx", "httpx2", "httpcore", "urllib3", "kubernetes"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for module in HANDLER_MODULES + (TEST_HANDLER_MODULES if options.with_test_kinds else ()):
        importlib.import_module(module)

    @kopf.on.startup()
    def _startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure_kopf(settings, options)

    if options.metrics_port:
        serve_metrics(options.metrics_port)
    clusterwide = options.all_namespaces or not options.namespaces
    await kopf.operator(
        standalone=options.standalone or options.peering_name is None,
        peering_name=options.peering_name,
        liveness_endpoint=options.liveness_endpoint,
        clusterwide=clusterwide,
        namespaces=() if clusterwide else options.namespaces,
        # Peering pauses peers of equal priority, so each replica gets its own.
        priority=options.priority if options.priority is not None else random.randint(1, 1_000_000),
        memo=kopf.Memo(workers=options.workers),
    )
    return 0
