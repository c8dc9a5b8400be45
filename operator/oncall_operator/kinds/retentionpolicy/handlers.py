"""Kopf handlers of RetentionPolicy: the policies as the watch shows them, a daemon per policy that
prunes at its interval, and the built-in defaults' own loop for namespaces no policy covers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from oncall_operator import API_GROUP, API_VERSION
from oncall_operator.api.common import rfc3339
from oncall_operator.api.durations import parse_duration
from oncall_operator.api.reasons import CommonReason
from oncall_operator.api.retention import RETENTION_POLICY, RetentionPolicyStatus, RetentionReason
from oncall_operator.core.conditions import condition, set_conditions
from oncall_operator.core.errors import OperatorError
from oncall_operator.core.status import parse_status, render_status
from oncall_operator.kinds.retentionpolicy.prune import Retention, policy_rules
from oncall_operator.services import Services

RESOURCE = (API_GROUP, API_VERSION, RETENTION_POLICY.plural)
log = logging.getLogger(__name__)


def register(registry: kopf.OperatorRegistry, services: Services) -> None:
    retention = Retention(services)
    default_loop: list[asyncio.Task[None]] = []

    @kopf.on.event(*RESOURCE, registry=registry)
    def seen(type: str, body: kopf.Body, namespace: str | None, uid: str, **_: Any) -> None:
        if type == "DELETED" or namespace is None:
            retention.policies.pop(uid, None)
            return
        try:
            retention.policies[uid] = policy_rules(
                namespace, dict(body.get("spec") or {}), services.operator_namespace
            )
        except (ValidationError, ValueError):
            retention.policies.pop(uid, None)  # admission refuses these; an old object is ignored

    @kopf.daemon(*RESOURCE, cancellation_timeout=10.0, registry=registry)
    async def prune(
        body: kopf.Body,
        spec: kopf.Spec,
        namespace: str | None,
        name: str,
        stopped: kopf.DaemonStopped,
        **_: Any,
    ) -> None:
        assert namespace is not None
        while not stopped:
            cluster_wide = namespace == services.operator_namespace
            status = parse_status(RetentionPolicyStatus, body.get("status"))
            generation = body.get("metadata", {}).get("generation")
            now = datetime.now(UTC)
            tally: dict[str, int] | None = None
            try:
                interval = parse_duration(str(spec.get("interval", "1h")), days=False).total_seconds()
                result = await retention.prune(() if cluster_wide else (namespace,), (namespace, name))
                tally = result.tally
                status.oldest = {data: rfc3339(when) for data, when in sorted(result.oldest.items())}
                status.last_run_time, status.cluster_wide = rfc3339(now), cluster_wide
                total = sum(result.pruned.values())
                ready = condition(
                    "Ready", True, RetentionReason.PRUNED, f"{total} record(s) pruned", generation, now
                )
            except ValueError:
                interval = 3600.0
                ready = condition(
                    "Ready", False, CommonReason.INVALID_SPEC, "invalid interval", generation, now
                )
            except OperatorError as error:
                interval = 60.0
                ready = condition("Ready", False, RetentionReason.PRUNE_FAILED, str(error), generation, now)
            status.observed_generation = generation
            status.conditions = set_conditions(status.conditions, ready)
            # status.pruned and status.pruning are the pass's (tally.py), written batch by batch: only a
            # pass that finished (its batch settled, so no other pass writes this policy's) repeats it.
            rendered = render_status(status)
            rendered.pop("pruning", None)
            if tally is None:
                rendered.pop("pruned", None)
            else:
                rendered["pruned"] = tally
            await services.kube.patch_status(RETENTION_POLICY.plural, namespace, name, rendered)
            await stopped.wait(interval)

    async def defaults_forever() -> None:
        interval = services.settings.retention_interval
        while True:
            await asyncio.sleep(interval)  # first after one interval: every policy has been seen by then
            try:
                await retention.prune(())
            except OperatorError as error:
                log.warning("built-in retention pass failed: %s", error)

    @kopf.on.startup(id="retention-defaults", registry=registry)
    async def start(**_: Any) -> None:
        default_loop.append(asyncio.create_task(defaults_forever()))

    @kopf.on.cleanup(id="retention-defaults-stop", registry=registry)
    async def stop(**_: Any) -> None:
        for task in default_loop:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
