"""Slack Web API subset under /api/<method>: Slack's envelope, auth, scopes, plans, tiers and errors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from aiohttp import web

from oncall_sandbox.core import SANDBOX, Sandbox
from oncall_sandbox.limits import retry_after
from oncall_sandbox.seed import SlackUser
from oncall_sandbox.state import Channel, SlackState, Token, Usergroup

TOPIC_MAX = 250  # conversations.setTopic: "too_long" past 250 characters
TEXT_MAX = 40_000  # chat.postMessage truncates/refuses past 40k characters
PAID_PLANS = ("pro", "business_plus", "enterprise")


class SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class Call:
    sandbox: Sandbox
    slack: SlackState
    token: Token
    params: dict[str, Any]

    def text(self, name: str, default: str = "") -> str:
        value = self.params.get(name, default)
        return (
            value
            if isinstance(value, str)
            else json.dumps(value)
            if not isinstance(value, int)
            else str(value)
        )

    def flag(self, name: str) -> bool:
        value = self.params.get(name)
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("1", "true", "yes") if value is not None else False

    def number(self, name: str, default: int) -> int:
        value = self.params.get(name)
        if value in (None, ""):
            return default
        try:
            return int(str(value))
        except ValueError:
            raise SlackError("invalid_arguments") from None

    def require(self, scope: str) -> None:
        if scope not in self.token.scopes:
            raise SlackError("missing_scope", needed=scope, provided=",".join(sorted(self.token.scopes)))

    def now(self) -> int:
        return int(self.sandbox.clock.timestamp())


Handler = Callable[[Call], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Method:
    handler: Handler
    scope: str | None  # None: checked inside the handler (depends on the channel) or not needed


# --- rendering ------------------------------------------------------------------------------------


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


def render_group(call: Call, group: Usergroup, *, users: bool, count: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": group.id,
        "team_id": call.slack.team_id,
        "is_usergroup": True,
        "is_subteam": True,
        "name": group.name,
        "description": group.description,
        "handle": group.handle,
        "is_external": False,
        "date_create": group.date_create,
        "date_update": group.date_update,
        "date_delete": group.date_delete,
        "auto_type": None,
        "auto_provision": False,
        "enterprise_subteam_id": "",
        "created_by": group.created_by,
        "updated_by": group.updated_by,
        "deleted_by": group.deleted_by,
        "prefs": {"channels": list(group.channels), "groups": []},
    }
    if users:
        out["users"] = list(group.users)
    if count:
        out["user_count"] = len(group.users)
    return out


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


# --- helpers --------------------------------------------------------------------------------------


def _require_paid_groups(call: Call) -> None:
    if call.slack.plan not in PAID_PLANS:
        raise SlackError("paid_teams_only")


def _group(call: Call, *, include_disabled: bool = True) -> Usergroup:
    group_id = call.text("usergroup")
    if not group_id:
        raise SlackError("invalid_arguments")
    group = call.slack.usergroups.get(group_id)
    if group is None or (group.date_delete and not include_disabled):
        raise SlackError("no_such_subteam")
    return group


def _channel(call: Call) -> Channel:
    ref = call.text("channel").lstrip("#")
    if not ref:
        raise SlackError("channel_not_found")
    channel = call.slack.channels.get(ref) or next(
        (c for c in call.slack.channels.values() if c.name == ref), None
    )
    # Private channels the bot is not in are invisible to it, as on Slack.
    if channel is None or (channel.is_private and not channel.bot_is_member):
        raise SlackError("channel_not_found")
    return channel


def _list_param(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    if value is None:
        return []
    return [v.strip() for v in str(value).split(",") if v.strip()]


def _encode_cursor(kind: str, key: str) -> str:
    return base64.b64encode(f"{kind}:{key}".encode()).decode()


def _decode_cursor(kind: str, cursor: str) -> str:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None
    prefix = f"{kind}:"
    if not text.startswith(prefix):
        raise SlackError("invalid_cursor")
    return text[len(prefix) :]


def _check_name_unique(call: Call, name: str, handle: str, skip: str | None = None) -> None:
    for other in call.slack.usergroups.values():
        if other.id == skip:
            continue
        if other.name.lower() == name.lower() or (handle and other.handle.lower() == handle.lower()):
            raise SlackError("name_already_exists")


# --- methods --------------------------------------------------------------------------------------


async def auth_test(call: Call) -> dict[str, Any]:
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


async def users_list(call: Call) -> dict[str, Any]:
    users = list(call.slack.users.values())
    limit = call.number("limit", 0)
    cursor = call.text("cursor")
    start = 0
    if cursor:
        key = _decode_cursor("user", cursor)
        ids = [u.id for u in users]
        if key not in ids:
            raise SlackError("invalid_cursor")
        start = ids.index(key)
    # Slack: limit 0/absent returns as many as it can at once; it caps pages at 1000.
    size = min(limit, 1000) if limit > 0 else 1000
    page = users[start : start + size]
    following = users[start + size] if start + size < len(users) else None
    return {
        "members": [render_user(call, u) for u in page],
        "cache_ts": call.now(),
        "response_metadata": {"next_cursor": _encode_cursor("user", following.id) if following else ""},
    }


async def users_info(call: Call) -> dict[str, Any]:
    user = call.slack.users.get(call.text("user"))
    if user is None:
        raise SlackError("user_not_found")
    return {"user": render_user(call, user)}


async def users_lookup_by_email(call: Call) -> dict[str, Any]:
    email = call.text("email")
    if not email:
        raise SlackError("invalid_arguments")
    user = call.slack.user_by_email(email)
    # Slack documents users_not_found for deactivated accounts too.
    if user is None or user.deleted:
        raise SlackError("users_not_found")
    return {"user": render_user(call, user)}


async def usergroups_list(call: Call) -> dict[str, Any]:
    _require_paid_groups(call)
    include_disabled = call.flag("include_disabled")
    include_users = call.flag("include_users")
    include_count = call.flag("include_count")
    groups = [g for g in call.slack.usergroups.values() if include_disabled or not g.date_delete]
    return {"usergroups": [render_group(call, g, users=include_users, count=include_count) for g in groups]}


async def usergroups_create(call: Call) -> dict[str, Any]:
    _require_paid_groups(call)
    name = call.text("name").strip()
    if not name:
        raise SlackError("invalid_name")
    handle = call.text("handle").strip() or name.lower().replace(" ", "-")
    _check_name_unique(call, name, handle)
    now = call.now()
    group = Usergroup(
        id=call.slack.new_group_id(),
        handle=handle,
        name=name,
        description=call.text("description"),
        users=[],
        channels=_list_param(call.params.get("channels")),
        date_create=now,
        date_update=now,
        created_by=call.slack.bot_user_id,
        updated_by=call.slack.bot_user_id,
    )
    call.slack.usergroups[group.id] = group
    return {"usergroup": render_group(call, group, users=True, count=call.flag("include_count"))}


async def usergroups_update(call: Call) -> dict[str, Any]:
    _require_paid_groups(call)
    group = _group(call)
    name = call.text("name").strip() or group.name
    handle = call.text("handle").strip() or group.handle
    _check_name_unique(call, name, handle, skip=group.id)
    group.name, group.handle = name, handle
    if "description" in call.params:
        group.description = call.text("description")
    if "channels" in call.params:
        group.channels = _list_param(call.params.get("channels"))
    group.date_update = call.now()
    group.updated_by = call.slack.bot_user_id
    return {"usergroup": render_group(call, group, users=True, count=call.flag("include_count"))}


async def usergroups_enable(call: Call) -> dict[str, Any]:
    _require_paid_groups(call)
    group = _group(call)
    # Enabling an enabled group succeeds unchanged (idempotent), as disabling a disabled one does.
    if group.date_delete:
        group.date_delete = 0
        group.deleted_by = None
        group.date_update = call.now()
        group.updated_by = call.slack.bot_user_id
    return {"usergroup": render_group(call, group, users=True, count=call.flag("include_count"))}


async def usergroups_disable(call: Call) -> dict[str, Any]:
    _require_paid_groups(call)
    group = _group(call)
    if not group.date_delete:
        now = call.now()
        group.date_delete = now
        group.deleted_by = call.slack.bot_user_id
        group.date_update = now
        group.updated_by = call.slack.bot_user_id
    return {"usergroup": render_group(call, group, users=True, count=call.flag("include_count"))}


async def usergroups_users_list(call: Call) -> dict[str, Any]:
    _require_paid_groups(call)
    group = _group(call, include_disabled=call.flag("include_disabled"))
    return {"users": list(group.users)}


async def usergroups_users_update(call: Call) -> dict[str, Any]:
    _require_paid_groups(call)
    group = _group(call)
    requested = _list_param(call.params.get("users"))
    # Slack refuses to empty a group ("use usergroups.disable instead").
    if not requested:
        raise SlackError("no_users_provided")
    members: list[str] = []
    for user_id in requested:
        user = call.slack.users.get(user_id)
        if user is None or user.is_bot or (user.is_restricted and not user.is_ultra_restricted):
            raise SlackError("invalid_users")
        if user.is_ultra_restricted:
            raise SlackError("single_channel_guests_cannot_be_added")
        # Deactivated accounts are dropped: Slack removes them from groups when deactivating.
        if not user.deleted and user_id not in members:
            members.append(user_id)
    if not members:
        raise SlackError("invalid_users")
    group.users = members
    group.updates += 1
    group.date_update = call.now()
    group.updated_by = call.slack.bot_user_id
    return {"usergroup": render_group(call, group, users=True, count=True)}


async def conversations_info(call: Call) -> dict[str, Any]:
    channel = _channel(call)
    call.require("groups:read" if channel.is_private else "channels:read")
    return {"channel": render_channel(call, channel, num_members=call.flag("include_num_members"))}


async def conversations_set_topic(call: Call) -> dict[str, Any]:
    channel = _channel(call)
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


async def chat_post_message(call: Call) -> dict[str, Any]:
    channel = _channel(call)
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
    call.slack.messages.append({"channel": channel.id, "text": text, "ts": ts, "blocks": blocks or []})
    return {"channel": channel.id, "ts": ts, "message": message}


async def team_access_logs(call: Call) -> dict[str, Any]:
    if call.slack.plan not in PAID_PLANS:
        raise SlackError("paid_only")
    before = call.number("before", 0)
    users = call.slack.users
    logs = sorted(call.slack.access_logs, key=lambda e: e.date_last, reverse=True)
    if before:
        logs = [e for e in logs if e.date_last.timestamp() <= before]
    entries = [
        {
            "user_id": e.user_id,
            "username": users[e.user_id].name if e.user_id in users else "",
            "date_first": int(e.date_first.timestamp()),
            "date_last": int(e.date_last.timestamp()),
            "count": e.count,
            "ip": None,  # elided: the sandbox keeps no addresses
            "user_agent": e.user_agent,
            "isp": "",
            "country": e.country,
            "region": e.region,
        }
        for e in logs
    ]
    if "cursor" in call.params or "limit" in call.params:
        # Newer cursor-style paging, which slack-sdk's iterator follows.
        limit = min(max(call.number("limit", 100), 1), 1000)
        start = int(_decode_cursor("page", call.text("cursor"))) if call.text("cursor") else 0
        page = entries[start : start + limit]
        more = start + limit < len(entries)
        return {
            "logins": page,
            "paging": {
                "count": limit,
                "total": len(entries),
                "page": start // limit + 1,
                "pages": -(-len(entries) // limit),
            },
            "response_metadata": {"next_cursor": _encode_cursor("page", str(start + limit)) if more else ""},
        }
    count = min(max(call.number("count", 100), 1), 1000)
    page_no = min(max(call.number("page", 1), 1), 100)
    pages = max(-(-len(entries) // count), 1)
    return {
        "logins": entries[(page_no - 1) * count : page_no * count],
        "paging": {"count": count, "total": len(entries), "page": page_no, "pages": pages},
    }


METHODS: dict[str, Method] = {
    "auth.test": Method(auth_test, None),
    "users.list": Method(users_list, "users:read"),
    "users.info": Method(users_info, "users:read"),
    "users.lookupByEmail": Method(users_lookup_by_email, "users:read.email"),
    "usergroups.list": Method(usergroups_list, "usergroups:read"),
    "usergroups.create": Method(usergroups_create, "usergroups:write"),
    "usergroups.update": Method(usergroups_update, "usergroups:write"),
    "usergroups.enable": Method(usergroups_enable, "usergroups:write"),
    "usergroups.disable": Method(usergroups_disable, "usergroups:write"),
    "usergroups.users.list": Method(usergroups_users_list, "usergroups:read"),
    "usergroups.users.update": Method(usergroups_users_update, "usergroups:write"),
    "conversations.info": Method(conversations_info, None),
    "conversations.setTopic": Method(conversations_set_topic, None),
    "chat.postMessage": Method(chat_post_message, "chat:write"),
    "team.accessLogs": Method(team_access_logs, "admin"),
}


# --- transport ------------------------------------------------------------------------------------


async def read_params(request: web.Request) -> dict[str, Any]:
    """Query string, then a form or JSON body on top (Slack accepts all three)."""
    params: dict[str, Any] = dict(request.query)
    body = await request.read()
    if not body:
        return params
    ctype = request.content_type
    if ctype == "application/json":
        try:
            data = json.loads(body)
        except json.JSONDecodeError:
            raise SlackError("invalid_json") from None
        if not isinstance(data, dict):
            raise SlackError("json_not_object")
        params.update(data)
    elif ctype in ("application/x-www-form-urlencoded", "", "application/octet-stream"):
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    elif ctype.startswith("multipart/"):
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def _reply(payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(payload, status=status, headers=headers, dumps=json.dumps)


async def handle(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    slack = sandbox.state.slack
    name = request.match_info["method"]
    try:
        params = await read_params(request)
    except SlackError as error:
        return _reply({"ok": False, "error": error.error})
    method = METHODS.get(name)
    if method is None:
        return _reply({"ok": False, "error": "unknown_method", "req_method": name}, status=404)
    header = request.headers.get("Authorization", "")
    secret = (
        header[7:].strip() if header.lower().startswith("bearer ") else str(params.pop("token", "") or "")
    )
    params.pop("token", None)
    if not secret:
        return _reply({"ok": False, "error": "not_authed"})
    token = slack.tokens.get(secret)
    if token is None or token.revoked:
        return _reply({"ok": False, "error": "invalid_auth"})
    headers = {"X-OAuth-Scopes": ",".join(sorted(token.scopes))}
    if method.scope:
        headers["X-Accepted-OAuth-Scopes"] = method.scope
    if sandbox.limits.enabled:
        limit, window = sandbox.slack_limit(name)
        key = f"{secret}|{name}"
        if name == "chat.postMessage":
            key += "|" + str(params.get("channel", ""))
        wait = sandbox.slack_windows.hit(key, limit, window)
        if wait:
            headers["Retry-After"] = str(retry_after(wait))
            return _reply({"ok": False, "error": "ratelimited"}, status=429, headers=headers)
    call = Call(sandbox, slack, token, params)
    try:
        if method.scope:
            call.require(method.scope)
        result = await method.handler(call)
    except SlackError as error:
        return _reply({"ok": False, "error": error.error, **error.extra}, headers=headers)
    return _reply({"ok": True, **result}, headers=headers)


def routes() -> list[web.RouteDef]:
    return [web.route("*", "/api/{method}", handle)]
