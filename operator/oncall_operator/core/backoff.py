"""How long to wait before trying again: grows with each failure, with jitter, never below a server's hint."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from oncall_operator.core.errors import NeedsPerson, OperatorError, Transient

# Longest wait any server may impose on us; longer hints are capped (and reported by the caller).
MAX_SERVER_WAIT = 300.0


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter on the upper half: `base * 2**(n-1)`, capped."""

    base: float = 5.0
    cap: float = 300.0
    # Failures a person must fix (bad spec, token, missing object) retry slowly: a change wakes us anyway.
    slow_base: float = 60.0
    slow_cap: float = 900.0

    def delay(self, failures: int, error: OperatorError, rng: random.Random | None = None) -> float:
        """Seconds to wait after the `failures`-th consecutive failure (1-based)."""
        transient = isinstance(error, Transient)
        base, cap = (self.base, self.cap) if transient else (self.slow_base, self.slow_cap)
        if isinstance(error, NeedsPerson):
            base, cap = self.slow_cap, self.slow_cap
        exponential = min(cap, base * 2 ** max(0, failures - 1))
        jittered: float = exponential * (0.5 + 0.5 * (rng or random).random())
        hint: float = error.retry_after if isinstance(error, Transient) and error.retry_after else 0.0
        return max(jittered, min(hint, MAX_SERVER_WAIT))


def cap_server_wait(seconds: float) -> tuple[float, bool]:
    """(the wait to honour, whether the server asked for more than we allow)."""
    if math.isnan(seconds) or seconds < 0:  # treat as "a moment"
        return 1.0, False
    if seconds > MAX_SERVER_WAIT:
        return MAX_SERVER_WAIT, True
    return seconds, False


def parse_retry_after(value: str | None, now: datetime, default: float = 1.0) -> float:
    """Seconds a `Retry-After` (or PagerDuty `ratelimit-reset`) header asks for: delta-seconds or an
    HTTP-date; garbage, `inf` or a past date mean "a moment" (the caller caps long waits)."""
    if value is None or not value.strip():
        return default
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return default
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return max(0.0, (moment - now).total_seconds())
    if math.isnan(seconds) or seconds < 0:
        return default
    return seconds  # may be inf: cap_server_wait bounds it
