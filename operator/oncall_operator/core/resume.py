"""When a resumed writer may look at live state: not while an earlier process's write can still land.

A process killed mid-write may leave a request the service applies later (queued behind a slow
answer, or a Retry-After). A resumed cleanup, erasure or handoff message that looked at Slack or
PagerDuty before then would see the change missing and send it a second time. Every request ends,
answered or abandoned, within the call deadline; so a new process looks only once that much time (and
a margin for the request's last bytes) has passed since it started - the dead one stopped before that.
"""

from __future__ import annotations

WRITE_MARGIN_SECONDS = 5.0  # the adapters abandon a request this long past its deadline at the latest


def settle_delay(process_age: float, call_deadline: float) -> float:
    """Seconds to wait before checking whether a write an earlier process recorded has landed."""
    return max(0.0, call_deadline + WRITE_MARGIN_SECONDS - process_age)
