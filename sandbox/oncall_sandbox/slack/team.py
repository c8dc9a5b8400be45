"""team.accessLogs: who logged in when, newest first, with classic or cursor paging."""

from __future__ import annotations

from typing import Any

from oncall_sandbox.slack.call import METHODS, PAID_PLANS, Call, SlackError, decode_cursor, encode_cursor


@METHODS.handles("team.accessLogs", scope="admin")
def team_access_logs(call: Call) -> dict[str, Any]:
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
        start = int(decode_cursor("page", call.text("cursor"))) if call.text("cursor") else 0
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
            "response_metadata": {"next_cursor": encode_cursor("page", str(start + limit)) if more else ""},
        }
    count = min(max(call.number("count", 100), 1), 1000)
    page_no = min(max(call.number("page", 1), 1), 100)
    pages = max(-(-len(entries) // count), 1)
    return {
        "logins": entries[(page_no - 1) * count : page_no * count],
        "paging": {"count": count, "total": len(entries), "page": page_no, "pages": pages},
    }
