"""Slack's documented Web API rate limits: the one table the client paces by and the sandbox enforces.

Each method's tier is the one on its reference page, https://docs.slack.dev/reference/methods/<method>
("Rate limits" under "Facts"); the tiers' budgets are from https://docs.slack.dev/apis/web-api/rate-limits.
Limits are per method, per workspace, per app. Pure data: no imports, so the sandbox can use it too.
"""

from __future__ import annotations

# Requests per minute at each tier ("Tier 2: 20+ per minute" - Slack allows short bursts above).
TIER_PER_MINUTE: dict[int, int] = {1: 1, 2: 20, 3: 50, 4: 100}

# method -> tier, as its reference page states it.
METHOD_TIER: dict[str, int] = {
    "auth.test": 4,  # documented as "Special"; Slack treats it like Tier 4
    "chat.postMessage": 4,  # "Special": see POST_MESSAGE_PER_CHANNEL, the limit that binds
    "conversations.history": 3,
    "conversations.info": 3,
    "conversations.setTopic": 2,
    "team.accessLogs": 2,
    "usergroups.create": 2,
    "usergroups.disable": 2,
    "usergroups.enable": 2,
    "usergroups.list": 2,
    "usergroups.update": 2,
    "usergroups.users.list": 2,
    "usergroups.users.update": 2,
    "users.info": 4,
    "users.list": 2,
    "users.lookupByEmail": 3,
}

# chat.postMessage: "1 message per second per channel", short bursts tolerated
# (https://docs.slack.dev/reference/methods/chat.postMessage, "Rate limiting").
POST_MESSAGE_PER_CHANNEL = (1, 1.0)  # (messages, seconds)

# Methods that change nothing: safe to retry after a 5xx or a dropped connection.
READ_METHODS = frozenset(
    {
        "auth.test",
        "conversations.history",
        "conversations.info",
        "team.accessLogs",
        "usergroups.list",
        "usergroups.users.list",
        "users.info",
        "users.list",
        "users.lookupByEmail",
    }
)


def per_minute(method: str) -> int:
    """The documented budget of a method; unknown methods get Tier 3, Slack's most common."""
    return TIER_PER_MINUTE[METHOD_TIER.get(method, 3)]
