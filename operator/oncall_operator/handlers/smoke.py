"""Handlers of the test-only SmokeProbe kind (loaded with --with-test-kinds)."""

from __future__ import annotations

from typing import Any

import kopf

from oncall_operator import API_GROUP, API_VERSION
from oncall_operator.api.common import Condition, merge_condition, now_rfc3339
from oncall_operator.api.smoke import SMOKE_PROBE, SmokeProbeSpec


@kopf.on.resume(API_GROUP, API_VERSION, SMOKE_PROBE.plural)
@kopf.on.create(API_GROUP, API_VERSION, SMOKE_PROBE.plural)
@kopf.on.update(API_GROUP, API_VERSION, SMOKE_PROBE.plural, field="spec")
def echo(spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta, patch: kopf.Patch, **_: Any) -> None:
    probe = SmokeProbeSpec.model_validate(dict(spec))
    ready = Condition(
        type="Ready",
        status="True",
        reason="Echoed",
        message="spec.message echoed",
        last_transition_time=now_rfc3339(),
        observed_generation=meta.get("generation"),
    )
    patch.status["echo"] = "-".join([probe.message] * probe.repeat)
    patch.status["observedGeneration"] = meta.get("generation")
    patch.status["conditions"] = merge_condition(list(status.get("conditions", [])), ready)
