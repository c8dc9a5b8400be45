"""Pydantic models of each resource's spec and status; CRDs are generated from them."""

from oncall_operator.api.cleanup import CLEANUP_RULE
from oncall_operator.api.cleanuprun import CLEANUP_RUN
from oncall_operator.api.crd import ResourceKind
from oncall_operator.api.deletion import DELETION_REQUEST
from oncall_operator.api.oncallsync import ON_CALL_SYNC
from oncall_operator.api.retention import RETENTION_POLICY
from oncall_operator.api.smoke import SMOKE_PROBE

# The kinds the operator serves (and the chart installs).
RESOURCE_KINDS: tuple[ResourceKind, ...] = (
    ON_CALL_SYNC,
    CLEANUP_RULE,
    CLEANUP_RUN,
    RETENTION_POLICY,
    DELETION_REQUEST,
)
# Kinds that exist only for the test suites.
TEST_KINDS: tuple[ResourceKind, ...] = (SMOKE_PROBE,)

__all__ = [
    "CLEANUP_RULE",
    "CLEANUP_RUN",
    "DELETION_REQUEST",
    "ON_CALL_SYNC",
    "RESOURCE_KINDS",
    "RETENTION_POLICY",
    "SMOKE_PROBE",
    "TEST_KINDS",
    "ResourceKind",
]
