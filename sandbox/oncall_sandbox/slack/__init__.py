"""The Slack Web API subset under /api/<method>, one module per method family.

`call` holds what a handler sees and the `METHODS` registry; `transport` turns HTTP into calls
(auth, scopes, tiers, envelope). Importing this package registers every method.
"""

from oncall_sandbox.slack import auth, chat, conversations, team, usergroups, users
from oncall_sandbox.slack.call import METHODS
from oncall_sandbox.slack.transport import PREFIX, routes

__all__ = ["METHODS", "PREFIX", "auth", "chat", "conversations", "routes", "team", "usergroups", "users"]
