"""Which Slack OAuth scope each Web API method the operator calls needs, and for which feature: the one
table the app manifest (`deploy/slack-app-manifest.yaml`), docs/slack-setup.md and their tests read.

Scopes are the bot-token scopes on each method's reference page,
https://docs.slack.dev/reference/methods/<method> ("Required scopes"). A method listing two scopes
needs the one matching the channel: public (`channels:*`) or private (`groups:*`). Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MethodAccess:
    scopes: tuple[str, ...]  # every scope the feature may need (public and private channels)
    feature: str  # one of FEATURES
    token: str = "bot"  # "bot" (xoxb-, the app's token) or "user" (xoxp-, a person's token)


# feature -> what it is, for the manifest's comments and the guide.
FEATURES: dict[str, str] = {
    "identity": "which workspace and bot a token belongs to (every feature)",
    "user-groups": "OnCallSync: keep a user group's members equal to who is on call; "
    "CleanupRule: remove people from groups",
    "people": "map PagerDuty users to Slack accounts by e-mail (OnCallSync, CleanupRule)",
    "topic": "OnCallSync spec.slack.topic: rewrite channel topics (public: channels:manage, private: groups:write)",
    "messages": "OnCallSync handoff messages and error channel, CleanupRule notifications",
    "exactly-once-messages": "optional: after a crash, read the channel's history so a handoff message is "
    "never posted twice (without it the message is not re-posted: status says Unknown)",
    "access-logs": "CleanupRule match.inactiveForDays: Slack serves team.accessLogs only to a workspace "
    "admin's user token, on paid plans",
}

METHOD_ACCESS: dict[str, MethodAccess] = {
    "auth.test": MethodAccess((), "identity"),
    "usergroups.list": MethodAccess(("usergroups:read",), "user-groups"),
    "usergroups.users.list": MethodAccess(("usergroups:read",), "user-groups"),
    "usergroups.create": MethodAccess(("usergroups:write",), "user-groups"),
    "usergroups.update": MethodAccess(("usergroups:write",), "user-groups"),
    "usergroups.enable": MethodAccess(("usergroups:write",), "user-groups"),
    "usergroups.disable": MethodAccess(("usergroups:write",), "user-groups"),
    "usergroups.users.update": MethodAccess(("usergroups:write",), "user-groups"),
    "users.list": MethodAccess(("users:read",), "people"),
    "users.info": MethodAccess(("users:read",), "people"),
    "users.lookupByEmail": MethodAccess(("users:read.email",), "people"),
    "conversations.setTopic": MethodAccess(("channels:manage", "groups:write"), "topic"),
    "chat.postMessage": MethodAccess(("chat:write",), "messages"),
    "conversations.history": MethodAccess(("channels:history", "groups:history"), "exactly-once-messages"),
    "team.accessLogs": MethodAccess(("admin",), "access-logs", token="user"),
}


def scopes(token: str = "bot") -> dict[str, tuple[str, ...]]:
    """scope -> the features needing it, for one token type, in table order."""
    needed: dict[str, list[str]] = {}
    for access in METHOD_ACCESS.values():
        if access.token == token:
            for scope in access.scopes:
                features = needed.setdefault(scope, [])
                if access.feature not in features:
                    features.append(access.feature)
    return {scope: tuple(features) for scope, features in needed.items()}
