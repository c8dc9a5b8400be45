"""Kopf handlers of DeletionRequest: the erasure index (from the CleanupRun watch), and a daemon per
request that drives it to Completed or Failed."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from oncall_operator import API_GROUP, API_VERSION, metrics
from oncall_operator.api.cleanuprun import CLEANUP_RUN
from oncall_operator.api.deletion import (
    DELETION_REQUEST,
    DeletionPhase,
    DeletionRequestSpec,
    DeletionRequestStatus,
)
from oncall_operator.api.reasons import CommonReason
from oncall_operator.core.backoff import Backoff
from oncall_operator.core.errors import InternalError, OperatorError, Transient
from oncall_operator.core.status import parse_status
from oncall_operator.kinds.cleanuprun.gather import People
from oncall_operator.kinds.deletionrequest.daemon import RetryLater, fail, parse_time, retrying, step
from oncall_operator.kinds.deletionrequest.index import ErasureIndex
from oncall_operator.kinds.deletionrequest.receipt import Request
from oncall_operator.services import Services

RESOURCE = (API_GROUP, API_VERSION, DELETION_REQUEST.plural)
RUNS = (API_GROUP, API_VERSION, CLEANUP_RUN.plural)
FINISHED = frozenset({DeletionPhase.COMPLETED.value, DeletionPhase.FAILED.value})
RETRY_SECONDS = 5.0


class Book:
    """Phases and creation times of the requests seen, for the metrics."""

    def __init__(self) -> None:
        self.requests: dict[str, tuple[str, float]] = {}

    def update(self, uid: str, phase: str | None, created: float | None) -> None:
        if phase is None:
            self.requests.pop(uid, None)
        else:
            self.requests[uid] = (phase, created or time.time())
        for value in DeletionPhase:
            metrics.DELETION_REQUESTS.labels(value.value).set(
                sum(1 for p, _ in self.requests.values() if p == value.value)
            )
        open_ages = [time.time() - c for p, c in self.requests.values() if p not in FINISHED]
        metrics.DELETION_OLDEST_OPEN_AGE.set(max(open_ages, default=0.0))


def register(registry: kopf.OperatorRegistry, services: Services) -> None:
    people = People.of(services)
    book = Book()
    namespaces = () if services.settings.clusterwide else services.settings.namespaces
    backoff = Backoff()

    index = ErasureIndex()

    def tokens_changed(type: str, uid: str, status: kopf.Status, **_: Any) -> bool:
        return type == "DELETED" or index.changed(uid, status)

    @kopf.on.event(*RUNS, when=tokens_changed, registry=registry)
    def run_indexed(
        type: str, uid: str, namespace: str | None, name: str, status: kopf.Status, **_: Any
    ) -> None:
        """The erasure index follows the runs (progress patches do not reach here, nor the log)."""
        if type == "DELETED":
            index.drop(uid)
        else:
            index.put(uid, (namespace or "", name), status)

    @kopf.on.event(*RESOURCE, registry=registry)
    def seen(type: str, body: kopf.Body, uid: str, **_: Any) -> None:
        phase = None if type == "DELETED" else (body.get("status") or {}).get("phase", "Pending")
        created = body.get("metadata", {}).get("creationTimestamp")
        book.update(uid, phase, parse_time(created).timestamp() if created else None)

    @kopf.daemon(*RESOURCE, cancellation_timeout=None, cancellation_polling=2.0, registry=registry)
    async def drive(
        body: kopf.Body,
        namespace: str | None,
        name: str,
        stopped: kopf.DaemonStopped,
        **_: Any,
    ) -> None:
        assert namespace is not None  # DeletionRequest is namespaced

        failures = 0
        while True:
            current = await services.kube.get_object(DELETION_REQUEST.plural, namespace, name)
            status = parse_status(DeletionRequestStatus, current.get("status"))
            meta = current.get("metadata") or {}
            request = Request(services, namespace, name, status)
            created = parse_time(meta["creationTimestamp"])
            if status.phase.value in FINISHED:
                await request.finalizer(hold=False)
                return
            generation = meta.get("generation")
            try:
                spec = DeletionRequestSpec.model_validate(current.get("spec") or {})
            except ValidationError as error:
                fail(
                    status,
                    CommonReason.INVALID_SPEC,
                    f"invalid spec: {error.error_count()} problem(s)",
                    datetime.now(UTC),
                    generation,
                )
                await request.save()
                await request.finalizer(hold=False)
                return
            try:
                await index.prime(services, namespaces)
                await step(services, people, request, spec, created, generation, index.lookup, namespaces)
                now = datetime.now(UTC)
                metrics.DELETION_DURATION.observe(max(0.0, (now - created).total_seconds()))
                return
            except RetryLater:
                delay = RETRY_SECONDS
            except (Transient, InternalError) as error:
                failures += 1
                delay = backoff.delay(failures, error)
                retrying(status, error.reason, error.message, datetime.now(UTC), generation)
                await request.save()
            except OperatorError as error:
                fail(status, error.reason, str(error), datetime.now(UTC), generation)
                await request.save()
                await request.finalizer(hold=False)
                return
            except Exception as error:  # a bug: retried, never Completed, the finalizer stays
                failures += 1
                wrapped = InternalError.wrap(error, "erasing")
                delay = backoff.delay(failures, wrapped)
                retrying(status, wrapped.reason, wrapped.message, datetime.now(UTC), generation)
                await request.save()
            if stopped.reason and stopped.reason & kopf.DaemonStoppingReason.OPERATOR_EXITING:
                return
            await asyncio.sleep(min(delay, 60.0)) if not stopped else await asyncio.sleep(RETRY_SECONDS)
