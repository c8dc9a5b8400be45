"""Handlers of the test-only SmokeProbe kind (served with --with-test-kinds)."""

from __future__ import annotations

from typing import Any

import kopf

from oncall_operator import API_GROUP, API_VERSION
from oncall_operator.api.smoke import SMOKE_PROBE, SmokeProbeSpec, SmokeProbeStatus
from oncall_operator.core.conditions import condition, set_conditions
from oncall_operator.core.status import parse_status, render_status
from oncall_operator.services import Services

RESOURCE = (API_GROUP, API_VERSION, SMOKE_PROBE.plural)


def register(registry: kopf.OperatorRegistry, services: Services) -> None:
    @kopf.on.resume(*RESOURCE, id="echo", registry=registry)
    @kopf.on.create(*RESOURCE, id="echo", registry=registry)
    @kopf.on.update(*RESOURCE, field="spec", id="echo", registry=registry)
    async def echo(
        spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta, patch: kopf.Patch, **_: Any
    ) -> None:
        probe = SmokeProbeSpec.model_validate(dict(spec))
        generation = meta.get("generation")
        previous = parse_status(SmokeProbeStatus, status)
        ready = condition(
            "Ready", True, "Echoed", "spec.message echoed", generation, await services.clock.now()
        )
        echoed = SmokeProbeStatus(
            echo="-".join([probe.message] * probe.repeat),
            observed_generation=generation,
            conditions=set_conditions(previous.conditions, ready),
        )
        patch.status.update(render_status(echoed))
