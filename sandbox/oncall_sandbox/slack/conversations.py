"""conversations.info, .setTopic and .history, and how a channel argument is resolved."""

from __future__ import annotations

from typing import Any

from oncall_sandbox.slack.call import METHODS, Call, SlackError
from oncall_sandbox.state import Channel

TOPIC_MAX = 250  # conversations.setTopic: "too_long" past 250 characters


def find_channel(call: Call) -> Channel:
    """The `channel` argument, by id or name; private channels the bot is not in do not exist for it."""
    ref = call.text("channel").lstrip("#")
    if not ref:
        raise SlackError("channel_not_found")
    channel = call.slack.channels.get(ref) or next(
        (c for c in call.slack.channels.values() if c.name == ref), None
    )
    if channel is None or (channel.is_private and not channel.bot_is_member):
        raise SlackError("channel_not_found")
    return channel


def render_channel(call: Call, channel: Channel, *, num_members: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": channel.id,
        "name": channel.name,
        "name_normalized": channel.name,
        "is_channel": not channel.is_private,
        "is_group": channel.is_private,
        "is_im": False,
        "is_mpim": False,
        "is_private": channel.is_private,
        "created": channel.created,
        "creator": call.slack.bot_user_id,
        "is_archived": False,
        "is_general": channel.name == "general",
        "unlinked": 0,
        "is_shared": False,
        "is_org_shared": False,
        "is_ext_shared": False,
        "is_pending_ext_shared": False,
        "is_member": channel.bot_is_member,
        "topic": {
            "value": channel.topic,
            "creator": channel.topic_set_by,
            "last_set": channel.topic_last_set,
        },
        "purpose": {"value": channel.purpose, "creator": "", "last_set": 0},
        "previous_names": [],
    }
    if num_members:
        out["num_members"] = len(channel.members) + (1 if channel.bot_is_member else 0)
    return out


# Scopes depend on the channel (public or private), so they are checked inside.
@METHODS.handles("conversations.info")
def conversations_info(call: Call) -> dict[str, Any]:
    channel = find_channel(call)
    call.require("groups:read" if channel.is_private else "channels:read")
    return {"channel": render_channel(call, channel, num_members=call.flag("include_num_members"))}


@METHODS.handles("conversations.setTopic", writes=True)
def conversations_set_topic(call: Call) -> dict[str, Any]:
    channel = find_channel(call)
    call.target = channel.id
    call.require("groups:write" if channel.is_private else "channels:manage")
    if not channel.bot_is_member:
        raise SlackError("not_in_channel")
    topic = call.text("topic")
    if len(topic) > TOPIC_MAX:
        raise SlackError("too_long")
    now = call.now()
    channel.topic, channel.topic_set_by, channel.topic_last_set = topic, call.slack.bot_user_id, now
    channel.topic_history.append({"topic": topic, "time": now, "user": call.slack.bot_user_id})
    return {"channel": render_channel(call, channel)}


HISTORY_PAGE_MAX = 999


@METHODS.handles("conversations.history")
def conversations_history(call: Call) -> dict[str, Any]:
    """Newest first, `oldest`/`latest` bounds (exclusive unless `inclusive`), cursor pages."""
    channel = find_channel(call)
    call.require("groups:history" if channel.is_private else "channels:history")
    if not channel.bot_is_member:
        raise SlackError("not_in_channel")
    oldest, latest = float(call.text("oldest", "0") or 0), float(call.text("latest", "") or 9e18)
    inclusive = call.flag("inclusive")
    limit = max(1, min(call.number("limit", 100), HISTORY_PAGE_MAX))
    offset = int(call.text("cursor", "0") or 0) if call.text("cursor", "").isdigit() else 0

    def within(ts: float) -> bool:
        return (oldest <= ts <= latest) if inclusive else (oldest < ts < latest)

    found = [
        m for m in reversed(call.slack.messages) if m["channel"] == channel.id and within(float(m["ts"]))
    ]
    page = found[offset : offset + limit]
    more = offset + limit < len(found)
    return {
        "messages": [
            {
                "type": "message",
                "user": m.get("user"),
                "text": m["text"],
                "ts": m["ts"],
                "team": call.slack.team_id,
            }
            for m in page
        ],
        "has_more": more,
        "pin_count": 0,
        "channel_actions_ts": None,
        "channel_actions_count": 0,
        "response_metadata": {"next_cursor": str(offset + limit) if more else ""},
    }
