"""team.accessLogs: who logged in when, newest first, with classic (count/page) or cursor paging.

Only on the seed's `access_logs_plans` (default: the paid plans; others answer `paid_only`), only
for user tokens when `access_logs_user_tokens_only` (bot tokens: `not_allowed_token_type`); pages of
more than 1000 or past page 100 answer `over_pagination_limit`, as Slack documents."""

from __future__ import annotations

from typing import Any

from oncall_sandbox.seed import SlackAccessLog
from oncall_sandbox.slack.call import METHODS, Call, SlackError, decode_cursor, encode_cursor

PAGE_MAX = 1000  # "not possible to request more than 1000 items per page or more than 100 pages"
PAGES_MAX = 100


def _render(call: Call, entry: SlackAccessLog) -> dict[str, Any]:
    user = call.slack.users.get(entry.user_id)
    return {
        "user_id": entry.user_id,
        "username": user.name if user else "",
        "date_first": int(entry.date_first.timestamp()),
        "date_last": int(entry.date_last.timestamp()),
        "count": entry.count,
        "ip": None,  # elided: the sandbox keeps no addresses
        "user_agent": entry.user_agent,
        "isp": "",
        "country": entry.country,
        "region": entry.region,
    }


@METHODS.handles("team.accessLogs", scope="admin")
def team_access_logs(call: Call) -> dict[str, Any]:
    # A user token's method (Slack lists only a user-token scope for it); bots are refused.
    if call.token.is_bot and call.slack.access_logs_user_tokens_only:
        raise SlackError("not_allowed_token_type")
    if call.slack.plan not in call.slack.access_logs_plans:
        raise SlackError("paid_only")
    before = call.number("before", 0)
    logs = call.slack.access_logs  # newest first
    if before:
        logs = [e for e in logs if e.date_last.timestamp() <= before]
    if "cursor" in call.params or "limit" in call.params:
        # Newer cursor-style paging, which slack-sdk's iterator follows.
        limit = call.number("limit", 100)
        if limit > PAGE_MAX:
            raise SlackError("over_pagination_limit")
        limit = max(limit, 1)
        start = int(decode_cursor("page", call.text("cursor"))) if call.text("cursor") else 0
        more = start + limit < len(logs)
        return {
            "logins": [_render(call, e) for e in logs[start : start + limit]],
            "paging": {
                "count": limit,
                "total": len(logs),
                "page": start // limit + 1,
                "pages": -(-len(logs) // limit),
            },
            "response_metadata": {"next_cursor": encode_cursor("page", str(start + limit)) if more else ""},
        }
    count = call.number("count", 100)
    page_no = call.number("page", 1)
    if count > PAGE_MAX or page_no > PAGES_MAX:
        raise SlackError("over_pagination_limit")
    count, page_no = max(count, 1), max(page_no, 1)
    pages = max(-(-len(logs) // count), 1)
    return {
        "logins": [_render(call, e) for e in logs[(page_no - 1) * count : page_no * count]],
        "paging": {"count": count, "total": len(logs), "page": page_no, "pages": pages},
    }
