"""A small urllib client for the control API (no dependencies, usable from tests, demo and benchmarks)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any

from pydantic import BaseModel


class ControlError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"control API answered {status}: {body}")
        self.status, self.body = status, body


class SandboxControl:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/") + "/_sandbox"
        self.timeout = timeout

    def call(self, verb: str, path: str, body: Any = None, **query: Any) -> Any:
        url = self.base_url + path
        params = {k: v for k, v in query.items() if v is not None}
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None if body is None else json.dumps(body, default=str).encode()
        request = urllib.request.Request(
            url, data=data, method=verb, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise ControlError(error.code, error.read().decode("utf-8", "replace")) from None

    # clock
    def clock(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", "/clock")
        return result

    def now(self) -> datetime:
        return datetime.fromisoformat(self.clock()["now"])

    def set_clock(self, now: datetime | str) -> dict[str, Any]:
        value = now.isoformat() if isinstance(now, datetime) else now
        result: dict[str, Any] = self.call("POST", "/clock", {"now": value})
        return result

    def advance(self, seconds: float) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", "/clock", {"advance_seconds": seconds})
        return result

    # state
    def usergroups(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("GET", "/slack/usergroups")
        return result

    def usergroup(self, handle: str) -> dict[str, Any] | None:
        return next((g for g in self.usergroups() if g["handle"] == handle), None)

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("GET", "/slack/messages", channel=channel)
        return result

    def topics(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", "/slack/topics")
        return result

    def set_plan(self, plan: str) -> Any:
        return self.call("POST", "/slack/plan", {"plan": plan})

    def slack_users(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("GET", "/slack/users")
        return result

    def update_slack_user(self, user_id: str, **fields: Any) -> dict[str, Any]:
        """`deleted`, `email`, `remove_from_groups` (see docs/sandbox.md)."""
        result: dict[str, Any] = self.call("POST", f"/slack/users/{user_id}", fields)
        return result

    def deactivate(self, user_id: str) -> dict[str, Any]:
        return self.update_slack_user(user_id, deleted=True)

    def reactivate(self, user_id: str) -> dict[str, Any]:
        return self.update_slack_user(user_id, deleted=False)

    def set_email(self, user_id: str, email: str | None) -> dict[str, Any]:
        return self.update_slack_user(user_id, email=email)

    def incidents(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("GET", "/pagerduty/incidents")
        return result

    def set_incident_status(self, incident_id: str, status: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", f"/pagerduty/incidents/{incident_id}", {"status": status})
        return result

    def pagerduty_users(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("GET", "/pagerduty/users")
        return result

    def deleted_users(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("GET", "/pagerduty/deleted_users")
        return result

    def oncall(self, at: datetime | str | None = None) -> dict[str, Any]:
        value = at.isoformat() if isinstance(at, datetime) else at
        result: dict[str, Any] = self.call("GET", "/oncall", at=value)
        return result

    def load(self, seed: BaseModel | dict[str, Any]) -> Any:
        document = seed.model_dump(mode="json") if isinstance(seed, BaseModel) else seed
        return self.call("POST", "/load", document)

    def reset(self) -> Any:
        return self.call("POST", "/reset", {})

    # knobs
    def token(self, api: str, token: str, scopes: list[str] | None = None, revoked: bool = False) -> Any:
        return self.call(
            "POST", "/tokens", {"api": api, "token": token, "scopes": scopes, "revoked": revoked}
        )

    def rate_limit(
        self,
        api: str | None = None,
        method: str | None = None,
        per_minute: int | None = None,
        enabled: bool | None = None,
        window_seconds: float | None = None,
    ) -> Any:
        body = {
            "api": api,
            "method": method,
            "per_minute": per_minute,
            "enabled": enabled,
            "window_seconds": window_seconds,
        }
        return self.call("POST", "/rate_limits", {k: v for k, v in body.items() if v is not None})

    def fault(self, api: str, kind: str, method: str = "*", **options: Any) -> str:
        result: dict[str, str] = self.call(
            "POST", "/faults", {"api": api, "method": method, "kind": kind, **options}
        )
        return result["id"]

    def faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("GET", "/faults")
        return result

    def clear_faults(self) -> Any:
        return self.call("DELETE", "/faults")

    # observation
    def requests(
        self, since: int = 0, api: str | None = None, method: str | None = None
    ) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call(
            "GET", "/requests", since=since or None, api=api, method=method
        )
        return result

    def clear_requests(self) -> Any:
        return self.call("DELETE", "/requests")

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", "/stats")
        return result

    def record_exchanges(self, enabled: bool = True) -> Any:
        return self.call("POST", "/exchanges", {"enabled": enabled})

    def exchanges(self, since: int = 0) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("GET", "/exchanges", since=since or None)
        return result

    def clear_exchanges(self) -> Any:
        return self.call("DELETE", "/exchanges")

    def healthz(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", "/healthz")
        return result
