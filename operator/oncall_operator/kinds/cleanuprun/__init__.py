"""CleanupRun: one run of a CleanupRule - plan, approval, apply - driven by a daemon while under way."""

from oncall_operator.api.cleanuprun import CLEANUP_RUN
from oncall_operator.kinds import Kind
from oncall_operator.kinds.cleanuprun.handlers import register

KIND = Kind(CLEANUP_RUN, register)
