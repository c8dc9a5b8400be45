"""chat.postMessage: messages are kept (bounded) for the control API."""

from __future__ import annotations

import json
from typing import Any

from oncall_sandbox.slack.call import METHODS, Call, SlackError
from oncall_sandbox.slack.conversations import find_channel

TEXT_MAX = 40_000  # chat.postMessage truncates/refuses past 40k characters


@METHODS.handles("chat.postMessage", scope="chat:write", writes=True)
def chat_post_message(call: Call) -> dict[str, Any]:
    channel = find_channel(call)
    call.target = channel.id
    if not channel.bot_is_member:
        raise SlackError("not_in_channel")
    text = call.text("text")
    blocks = call.params.get("blocks")
    if isinstance(blocks, str) and blocks:
        try:
            blocks = json.loads(blocks)
        except json.JSONDecodeError:
            raise SlackError("invalid_blocks") from None
    if not text and not blocks and not call.params.get("attachments"):
        raise SlackError("no_text")
    if len(text) > TEXT_MAX:
        raise SlackError("msg_too_long")
    ts = call.slack.next_ts(call.sandbox.clock.timestamp())
    message: dict[str, Any] = {
        "type": "message",
        "subtype": "bot_message",
        "text": text,
        "ts": ts,
        "username": call.slack.users[call.slack.bot_user_id].name,
        "bot_id": call.slack.bot_id,
        "user": call.slack.bot_user_id,
        "team": call.slack.team_id,
    }
    if blocks:
        message["blocks"] = blocks
    call.slack.messages.append(
        {
            "channel": channel.id,
            "text": text,
            "ts": ts,
            "blocks": blocks or [],
            "user": call.slack.bot_user_id,
        }
    )
    return {"channel": channel.id, "ts": ts, "message": message}
