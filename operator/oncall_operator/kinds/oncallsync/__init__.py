"""OnCallSync: PagerDuty on-call as the members of a Slack user group, updated at each handoff."""

from oncall_operator.api.oncallsync import ON_CALL_SYNC
from oncall_operator.kinds import Kind
from oncall_operator.kinds.oncallsync.handlers import register

KIND = Kind(ON_CALL_SYNC, register)
