"""Pydantic models of each resource's spec and status; CRDs are generated from them."""

from oncall_operator.api.crd import ResourceKind
from oncall_operator.api.oncallsync import ON_CALL_SYNC
from oncall_operator.api.smoke import SMOKE_PROBE

# The kinds the operator serves (and the chart installs).
RESOURCE_KINDS: tuple[ResourceKind, ...] = (ON_CALL_SYNC,)
# Kinds that exist only for the test suites.
TEST_KINDS: tuple[ResourceKind, ...] = (SMOKE_PROBE,)

__all__ = ["ON_CALL_SYNC", "RESOURCE_KINDS", "SMOKE_PROBE", "TEST_KINDS", "ResourceKind"]
