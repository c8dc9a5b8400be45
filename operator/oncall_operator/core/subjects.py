"""Subject references: a keyed HMAC of a person's identifier, so records can be found for erasure
without keeping the identifier (an email, a user id) in clear.

The key lives in a Secret in the operator's namespace (created on first start, or provided by Helm);
without it a reference cannot be linked back to anyone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from enum import StrEnum

PREFIX = "hmac-sha256:"


class IdentifierKind(StrEnum):
    EMAIL = "email"
    SLACK_USER = "slackUser"
    PAGERDUTY_USER = "pagerDutyUser"


def normalize(kind: IdentifierKind, value: str) -> str:
    """Emails compare case-insensitively (as both services match them); ids exactly."""
    return value.strip().lower() if kind is IdentifierKind.EMAIL else value.strip()


def subject_ref(key: bytes, kind: IdentifierKind, value: str) -> str:
    """`hmac-sha256:<22 url-safe base64 chars>` (128 bits): stable for one key, unlinkable without it."""
    digest = hmac.new(key, f"{kind}:{normalize(kind, value)}".encode(), hashlib.sha256).digest()
    return PREFIX + base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")
