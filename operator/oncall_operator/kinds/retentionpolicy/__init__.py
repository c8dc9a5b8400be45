"""RetentionPolicy: prunes CleanupRuns, receipts, Events and caches; built-in defaults where none applies."""

from oncall_operator.api.retention import RETENTION_POLICY
from oncall_operator.kinds import Kind
from oncall_operator.kinds.retentionpolicy.handlers import register

KIND = Kind(RETENTION_POLICY, register)
