"""users.list, users.info, users.lookupByEmail, and the user object every method renders."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from oncall_sandbox.seed import SlackUser
from oncall_sandbox.slack.call import METHODS, Call, SlackError, decode_cursor, encode_cursor

PAGE_MAX = 1000  # users.list pages hold at most 1000 members
# Without a `limit` Slack "attempts to deliver the entire result set" and answers limit_required when
# the collection is too large (threshold unpublished); the sandbox draws the line at one full page.
UNLIMITED_MAX = PAGE_MAX


def _tz_fields(tz: str, now: datetime) -> dict[str, Any]:
    local = now.astimezone(ZoneInfo(tz))
    offset = local.utcoffset()
    return {
        "tz": tz,
        "tz_label": local.tzname() or tz,
        "tz_offset": int(offset.total_seconds()) if offset else 0,
    }


def render_user(call: Call, user: SlackUser) -> dict[str, Any]:
    slack = call.slack
    image = f"https://avatars.slack-edge.com/sandbox/{user.id.lower()}"
    profile: dict[str, Any] = {
        "title": user.title,
        "phone": "",
        "skype": "",
        "real_name": user.real_name,
        "real_name_normalized": user.real_name,
        "display_name": user.display_name,
        "display_name_normalized": user.display_name,
        "status_text": "",
        "status_emoji": "",
        "status_expiration": 0,
        "avatar_hash": user.id.lower()[:12],
        "image_24": f"{image}_24.png",
        "image_32": f"{image}_32.png",
        "image_48": f"{image}_48.png",
        "image_72": f"{image}_72.png",
        "image_192": f"{image}_192.png",
        "image_512": f"{image}_512.png",
        "team": slack.team_id,
    }
    # Slack only shows e-mail addresses to tokens holding users:read.email.
    if user.email and "users:read.email" in call.token.scopes and not user.is_bot:
        profile["email"] = user.email
    if user.is_bot:
        profile["bot_id"] = slack.bot_id if user.id == slack.bot_user_id else "B" + user.id[1:]
        profile["always_active"] = True
    out: dict[str, Any] = {
        "id": user.id,
        "team_id": slack.team_id,
        "name": user.name,
        "deleted": user.deleted,
        "color": "9f69e7",
        "real_name": user.real_name,
        **_tz_fields(user.tz, call.sandbox.clock.now()),
        "profile": profile,
        "is_admin": user.is_admin,
        "is_owner": user.is_owner,
        "is_primary_owner": False,
        "is_restricted": user.is_restricted,
        "is_ultra_restricted": user.is_ultra_restricted,
        "is_bot": user.is_bot,
        "is_app_user": False,
        "updated": slack.user_updated.get(user.id, 0),
        "is_email_confirmed": not user.is_bot,
        "who_can_share_contact_card": "EVERYONE",
    }
    if user.deleted:
        # Deactivated accounts carry fewer fields, as on Slack.
        for key in ("is_admin", "is_owner", "is_primary_owner", "is_restricted", "is_ultra_restricted"):
            out.pop(key)
    return out


@METHODS.handles("users.list", scope="users:read")
def users_list(call: Call) -> dict[str, Any]:
    users = list(call.slack.users.values())
    limit = call.number("limit", 0)
    cursor = call.text("cursor")
    if limit <= 0 and len(users) > UNLIMITED_MAX:
        raise SlackError("limit_required")
    start = 0
    if cursor:
        key = decode_cursor("user", cursor)
        if key not in call.slack.users:
            raise SlackError("invalid_cursor")
        start = list(call.slack.users).index(key)
    size = min(limit, PAGE_MAX) if limit > 0 else PAGE_MAX
    page = users[start : start + size]
    following = users[start + size] if start + size < len(users) else None
    return {
        "members": [render_user(call, u) for u in page],
        "cache_ts": call.now(),
        "response_metadata": {"next_cursor": encode_cursor("user", following.id) if following else ""},
    }


@METHODS.handles("users.info", scope="users:read")
def users_info(call: Call) -> dict[str, Any]:
    user = call.slack.users.get(call.text("user"))
    if user is None:
        raise SlackError("user_not_found")
    return {"user": render_user(call, user)}


@METHODS.handles("users.lookupByEmail", scope="users:read.email")
def users_lookup_by_email(call: Call) -> dict[str, Any]:
    email = call.text("email")
    if not email:
        raise SlackError("invalid_arguments")
    user = call.slack.user_by_email(email)
    # Slack documents users_not_found for deactivated accounts too.
    if user is None or user.deleted:
        raise SlackError("users_not_found")
    return {"user": render_user(call, user)}
