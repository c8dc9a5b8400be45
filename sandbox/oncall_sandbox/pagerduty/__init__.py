"""The PagerDuty REST API v2 subset under /pagerduty, one module per resource family.

`call` holds what a handler sees (parameters, pagination, errors) and the `ROUTES` registry;
`transport` turns HTTP into calls (auth, the account-wide limit, error bodies). Importing this
package registers every endpoint.
"""

from oncall_sandbox.pagerduty import (
    escalation_policies,
    incidents,
    oncalls,
    overrides,
    schedules,
    teams,
    users,
)
from oncall_sandbox.pagerduty.call import PREFIX, ROUTES
from oncall_sandbox.pagerduty.transport import routes, template

__all__ = [
    "PREFIX",
    "ROUTES",
    "escalation_policies",
    "incidents",
    "oncalls",
    "overrides",
    "routes",
    "schedules",
    "teams",
    "template",
    "users",
]
