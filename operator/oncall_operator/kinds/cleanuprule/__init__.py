"""CleanupRule: when and how to clean up stale people; each run is a CleanupRun it owns."""

from oncall_operator.api.cleanup import CLEANUP_RULE
from oncall_operator.kinds import Kind
from oncall_operator.kinds.cleanuprule.handlers import register

KIND = Kind(CLEANUP_RULE, register)
