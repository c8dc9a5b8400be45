"""auth.test: who the token belongs to."""

from __future__ import annotations

from typing import Any

from oncall_sandbox.slack.call import METHODS, Call


@METHODS.handles("auth.test")
def auth_test(call: Call) -> dict[str, Any]:
    slack = call.slack
    bot = slack.users[slack.bot_user_id]
    return {
        "url": f"https://{slack.domain}.slack.com/",
        "team": slack.team_name,
        "user": bot.name,
        "team_id": slack.team_id,
        "user_id": slack.bot_user_id,
        "bot_id": slack.bot_id,
        "is_enterprise_install": False,
    }
