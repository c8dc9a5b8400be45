"""DeletionRequest: erase (or preview) one person's data across the inventory and, per scope, Slack/PagerDuty."""

from oncall_operator.api.deletion import DELETION_REQUEST
from oncall_operator.kinds import Kind
from oncall_operator.kinds.deletionrequest.handlers import register

KIND = Kind(DELETION_REQUEST, register)
