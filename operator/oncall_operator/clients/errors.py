"""Failures that a sync reports on the resource, by reason (no personal data in messages)."""

from __future__ import annotations


class SyncError(Exception):
    """A failure with a condition reason; `retry_after` hints when to try again."""

    def __init__(self, reason: str, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after = retry_after
