"""One Slack Web API call as the handlers see it, Slack's error, and the registry of methods."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from oncall_sandbox.core import Sandbox
from oncall_sandbox.dispatch import Registry
from oncall_sandbox.seed import PAID_PLANS
from oncall_sandbox.state import SlackState, Token

__all__ = ["METHODS", "PAID_PLANS", "Call", "SlackError", "decode_cursor", "encode_cursor", "list_param"]


class SlackError(Exception):
    """Answered as HTTP 200 `{"ok": false, "error": ..., **extra}`."""

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
    # The object a write changed, for the request log; writes default to their usergroup/channel argument.
    target: str | None = None

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


Handler = Callable[[Call], dict[str, Any]]

# Every method the sandbox serves, registered by the modules of this package.
METHODS: Registry[Handler] = Registry("slack")


def list_param(value: Any) -> list[str]:
    """A comma-separated string or a JSON array, as Slack accepts both."""
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    if value is None:
        return []
    return [v.strip() for v in str(value).split(",") if v.strip()]


def encode_cursor(kind: str, key: str) -> str:
    return base64.b64encode(f"{kind}:{key}".encode()).decode()


def decode_cursor(kind: str, cursor: str) -> str:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise SlackError("invalid_cursor") from None
    prefix = f"{kind}:"
    if not text.startswith(prefix):
        raise SlackError("invalid_cursor")
    return text[len(prefix) :]
