"""SmokeProbe: a test-only kind that proves the model -> CRD -> operator -> status chain."""

from oncall_operator.api.smoke import SMOKE_PROBE
from oncall_operator.kinds import Kind
from oncall_operator.kinds.smokeprobe.handlers import register

KIND = Kind(SMOKE_PROBE, register)
