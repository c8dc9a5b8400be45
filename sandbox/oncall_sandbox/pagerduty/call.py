"""One PagerDuty REST call as the handlers see it: parameters, pagination, references, errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from oncall_sandbox.core import Sandbox
from oncall_sandbox.dispatch import Registry
from oncall_sandbox.state import PagerDutyState

T = TypeVar("T")

PREFIX = "/pagerduty"
OFFSET_CAP = 10_000  # PD refuses classic pagination past offset+limit 10,000
MAX_RANGE = timedelta(days=90)  # /oncalls and schedule renders accept at most about three months


class PagerDutyError(Exception):
    """Answered with PagerDuty's envelope `{"error": {"message", "code", "errors"?}}`."""

    def __init__(self, status: int, message: str, code: int, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.errors = status, message, code, errors or []

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            error["errors"] = self.errors
        return {"error": error}


def invalid(*errors: str) -> PagerDutyError:
    return PagerDutyError(400, "Invalid Input Provided", 2001, list(errors))


def not_found() -> PagerDutyError:
    return PagerDutyError(404, "Not Found", 2100)


class Ctx:
    """One request: the state, path arguments, the base URL for `self` links, and parameter helpers."""

    def __init__(
        self, request: web.Request, sandbox: Sandbox, args: dict[str, str] | None = None, body: bytes = b""
    ) -> None:
        self.request = request
        self.sandbox = sandbox
        self.args = args or {}
        self.raw_body = body
        # The object a write changed, for the request log (default: the path's {id}).
        self.target: str | None = None
        self.pd: PagerDutyState = sandbox.state.pagerduty
        self.base = f"{request.scheme}://{request.host}{PREFIX}"
        self.html = f"https://{self.pd.subdomain}.pagerduty.com"
        self.zone = self._zone()

    def _zone(self) -> ZoneInfo:
        name = self.request.query.get("time_zone", "UTC")
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise invalid("Time Zone is invalid.") from None

    def json(self) -> Any:
        try:
            return json.loads(self.raw_body or b"null")
        except json.JSONDecodeError:
            raise invalid("Request body is not valid JSON.") from None

    def many(self, name: str) -> list[str]:
        q = self.request.query
        values = q.getall(f"{name}[]", []) + q.getall(name, [])
        return [v for value in values for v in value.split(",") if v]

    def flag(self, name: str) -> bool:
        return self.request.query.get(name, "false").lower() == "true"

    def query_text(self) -> str:
        return self.request.query.get("query", "").strip().lower()

    def time(self, name: str, default: datetime) -> datetime:
        raw = self.request.query.get(name)
        if not raw:
            return default
        try:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
        except ValueError:
            raise PagerDutyError(400, "Invalid 'since' or 'until' Parameter Values", 2004) from None
        if value.tzinfo is None:
            # PD reads offset-less times in the requested time zone.
            value = value.replace(tzinfo=self.zone)
        return value.astimezone(UTC)

    def fmt(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        text = value.astimezone(self.zone).isoformat(timespec="seconds")
        return text.replace("+00:00", "Z") if self.zone.key == "UTC" else text

    def ref(self, kind: str, object_id: str, summary: str, collection: str) -> dict[str, Any]:
        return {
            "id": object_id,
            "type": f"{kind}_reference",
            "summary": summary,
            "self": f"{self.base}/{collection}/{object_id}",
            "html_url": f"{self.html}/{collection}/{object_id}",
        }

    def user_ref(self, user_id: str) -> dict[str, Any]:
        user = self.pd.users.get(user_id)
        return self.ref("user", user_id, user.name if user else "Deleted User", "users")

    def page(self, key: str, items: Sequence[T], render: Callable[[T], Any] | None = None) -> dict[str, Any]:
        """Classic pagination of `items`; only the page is rendered (`render`), so big lists stay cheap."""
        q = self.request.query
        try:
            limit = int(q.get("limit", "25"))
            offset = int(q.get("offset", "0"))
        except ValueError:
            raise invalid("Limit and offset must be integers.") from None
        if limit < 1 or offset < 0:
            raise invalid("Limit must be positive and offset non-negative.")
        limit = min(limit, 100)
        if offset + limit > OFFSET_CAP:
            raise invalid(f"Offset must be less than {OFFSET_CAP}.")
        chunk = list(items[offset : offset + limit])
        return {
            key: [render(item) for item in chunk] if render else chunk,
            "limit": limit,
            "offset": offset,
            "more": offset + limit < len(items),
            "total": len(items) if self.flag("total") else None,
        }

    def includes(self) -> set[str]:
        return set(self.many("include"))


Reply = tuple[int, Any]
Handler = Callable[[Ctx], Reply]

# Every endpoint the sandbox serves, by verb and path template, registered by this package's modules.
ROUTES: Registry[Handler] = Registry("pagerduty")
