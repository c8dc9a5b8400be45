"""Kopf handlers of CleanupRun: a daemon per run that is not finished, and approvals waking it."""

from __future__ import annotations

from typing import Any

import kopf

from oncall_operator import API_GROUP, API_VERSION
from oncall_operator.api.cleanuprun import CLEANUP_RUN, FINISHED
from oncall_operator.kinds.cleanuprun.daemon import RunScheduler, drive_run
from oncall_operator.kinds.cleanuprun.gather import People
from oncall_operator.services import Services

RESOURCE = (API_GROUP, API_VERSION, CLEANUP_RUN.plural)
_FINISHED = frozenset(phase.value for phase in FINISHED)


def _under_way(status: kopf.Status, **_: Any) -> bool:
    return status.get("phase") not in _FINISHED


def register(registry: kopf.OperatorRegistry, services: Services) -> None:
    scheduler = RunScheduler()
    people = People.of(services)

    @kopf.daemon(*RESOURCE, when=_under_way, cancellation_timeout=30.0, registry=registry)
    async def drive(
        body: kopf.Body, namespace: str | None, name: str, uid: str, stopped: kopf.DaemonStopped, **_: Any
    ) -> None:
        assert namespace is not None  # CleanupRun is namespaced
        await drive_run(services, people, scheduler, body, namespace, name, uid, stopped)

    @kopf.on.update(*RESOURCE, field="spec.approvedPlanHash", registry=registry)
    async def approved(uid: str, **_: Any) -> None:
        scheduler.wake(uid)
