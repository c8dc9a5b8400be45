"""The failures a resource reports, as a small hierarchy: the class says what to do, the reason what happened.

Adapters raise these with the SDK's own error chained (`raise ... from error`) and never let an SDK
exception escape; each kind maps the classes to its behaviour in one place (retry with backoff,
wait for a spec or Secret change, report and wait for a person, treat a delete as done).
`reason` is a condition reason users alert on; `message` never holds personal data or tokens.
"""

from __future__ import annotations


class OperatorError(Exception):
    """A failure with a condition reason and a message free of personal data."""

    default_reason = "Failed"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or self.default_reason
        self.message = message


class Transient(OperatorError):
    """Worth retrying soon: a 5xx, a timeout, a dropped connection, a garbled answer.

    `retry_after` is the server's hint, already capped; backoff still grows past it."""

    default_reason = "Unavailable"

    def __init__(self, message: str, *, reason: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after


class RateLimited(Transient):
    """The server said wait (429 with Retry-After, or PagerDuty's ratelimit-reset)."""

    default_reason = "RateLimited"


class IncompleteListing(Transient):
    """A listing that could not be read to its end: a page kept failing, paging made no progress, or
    the listing is longer than the API lets anyone page (PagerDuty's 10,000 offset cap). What was read
    is thrown away; a caller that needs everyone (a cleanup) refuses rather than act on part of it."""

    default_reason = "IncompleteListing"

    @classmethod
    def of(cls, what: str, error: Transient) -> IncompleteListing:
        """A listing that a transient failure cut short (itself when it already says so)."""
        if isinstance(error, IncompleteListing):
            return error
        incomplete = cls(f"{what} could not be read to its end: {error.message}")
        incomplete.__cause__ = error
        return incomplete


class Unauthorized(OperatorError):
    """The credentials were refused or lack a permission: fix the token, its scopes or RBAC."""

    default_reason = "AuthFailed"


class NotFound(OperatorError):
    """The object does not exist. Deleting it is therefore done."""

    default_reason = "NotFound"


class NeedsPerson(OperatorError):
    """The server refuses for a reason only a person can resolve (e.g. open incidents): report, don't retry."""

    default_reason = "NeedsAttention"


class Misconfigured(OperatorError):
    """The spec, a Secret or the workspace is not usable as it is: wait for a change."""

    default_reason = "InvalidConfiguration"


class InternalError(OperatorError):
    """Anything unexpected (a library bug, an answer no adapter foresaw); named by exception type only."""

    default_reason = "InternalError"

    @classmethod
    def wrap(cls, error: BaseException, doing: str) -> InternalError:
        wrapped = cls(f"unexpected {type(error).__name__} while {doing}")
        wrapped.__cause__ = error
        return wrapped
