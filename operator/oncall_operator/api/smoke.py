"""A test-only kind that proves the model -> CRD -> operator -> status chain.

It is not installed by the chart; the e2e smoke test applies it.
"""

from __future__ import annotations

from pydantic import Field

from oncall_operator.api.common import CamelModel, Condition
from oncall_operator.api.crd import PrinterColumn, ResourceKind


class SmokeProbeSpec(CamelModel):
    """What the probe asks the operator to echo back."""

    message: str = Field(
        min_length=1, max_length=63, pattern=r"^[a-z0-9-]+$", description="Echoed into status.echo."
    )
    repeat: int = Field(default=1, ge=1, le=5, description="How many times to repeat the message.")


class SmokeProbeStatus(CamelModel):
    echo: str | None = None
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)


SMOKE_PROBE = ResourceKind(
    kind="SmokeProbe",
    plural="smokeprobes",
    spec_model=SmokeProbeSpec,
    status_model=SmokeProbeStatus,
    short_names=("probe",),
    description="Test-only: the operator echoes spec.message into status.",
    printer_columns=(PrinterColumn("Echo", ".status.echo"),),
)
