"""On-call computation: schedule layers, restrictions and overrides rendered into a final schedule.

PagerDuty semantics emulated here:
- a layer's turn index at `t` is `floor((t - rotation_virtual_start) / turn_length) mod len(users)`;
  turns of whole days keep their wall-clock handoff time in the schedule's zone across DST, other
  turn lengths are absolute seconds;
- a layer covers nothing before its `start` or after its `end`;
- restrictions (daily / weekly, wall-clock in the schedule's time zone) cut a layer's turns down to
  their windows, several restrictions of one layer being a union;
- a later layer in the list wins over earlier ones wherever it has coverage, overrides win over all
  layers, and of two overlapping overrides the later one in the list (the newer) wins;
- consecutive entries of the same user are merged into one shift.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from oncall_sandbox.seed import Restriction, Schedule, ScheduleLayer, ScheduleOverride

MAX_SEGMENTS = 200_000  # a 1-second turn over 90 days must not exhaust memory
LOOKAROUND_CAP = timedelta(days=35)


@dataclass(frozen=True, slots=True)
class Entry:
    start: datetime
    end: datetime
    user: str


def _union(intervals: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def restriction_windows(
    restrictions: Sequence[Restriction], zone: ZoneInfo, lo: datetime, hi: datetime
) -> list[tuple[datetime, datetime]]:
    """The UTC windows where a restricted layer may have coverage, intersecting [lo, hi)."""
    windows: list[tuple[datetime, datetime]] = []
    first = (lo.astimezone(zone) - timedelta(days=8)).date()
    last = hi.astimezone(zone).date()
    for r in restrictions:
        day: date = first
        while day <= last:
            if r.type == "daily_restriction" or day.isoweekday() == r.start_day_of_week:
                # Wall-clock time in the schedule's zone, so a DST change moves the UTC window.
                start = datetime.combine(day, r.start_time_of_day, tzinfo=zone).astimezone(UTC)
                end = start + timedelta(seconds=r.duration_seconds)
                if end > lo and start < hi:
                    windows.append((max(start, lo), min(end, hi)))
            day += timedelta(days=1)
    return _union(windows)


def layer_entries(layer: ScheduleLayer, zone: ZoneInfo, lo: datetime, hi: datetime) -> list[Entry]:
    """One layer's coverage inside [lo, hi), turn by turn, restrictions applied."""
    lo = max(lo, layer.start)
    if layer.end is not None:
        hi = min(hi, layer.end)
    if lo >= hi or not layer.users:  # a layer whose users were all deleted covers nothing
        return []
    length = layer.rotation_turn_length_seconds
    rvs = layer.rotation_virtual_start
    days, rest = divmod(length, 86400)
    local_rvs = rvs.astimezone(zone).replace(tzinfo=None)

    def boundary(k: int) -> datetime:
        if rest == 0:
            # Whole-day turns hand off at the same wall-clock time across DST, as on PagerDuty.
            return (local_rvs + timedelta(days=k * days)).replace(tzinfo=zone).astimezone(UTC)
        return rvs + timedelta(seconds=k * length)

    turn = math.floor((lo - rvs).total_seconds() / length)
    while boundary(turn) > lo:
        turn -= 1
    while boundary(turn + 1) <= lo:
        turn += 1
    turns: list[Entry] = []
    while len(turns) < MAX_SEGMENTS:
        turn_start = boundary(turn)
        if turn_start >= hi:
            break
        turn_end = boundary(turn + 1)
        turns.append(Entry(max(turn_start, lo), min(turn_end, hi), layer.users[turn % len(layer.users)]))
        turn += 1
    if not layer.restrictions:
        return turns
    windows = restriction_windows(layer.restrictions, zone, lo, hi)
    out: list[Entry] = []
    starts = [w[0] for w in windows]
    for entry in turns:
        index = max(bisect.bisect_right(starts, entry.start) - 1, 0)
        while index < len(windows) and windows[index][0] < entry.end:
            start, end = max(windows[index][0], entry.start), min(windows[index][1], entry.end)
            if start < end:
                out.append(Entry(start, end, entry.user))
            index += 1
    return out


def _covering(entries: list[Entry], starts: list[datetime], at: datetime) -> Entry | None:
    index = bisect.bisect_right(starts, at) - 1
    if index >= 0 and entries[index].start <= at < entries[index].end:
        return entries[index]
    return None


def merge(entries: Iterable[Entry]) -> list[Entry]:
    out: list[Entry] = []
    for entry in entries:
        if out and out[-1].user == entry.user and out[-1].end == entry.start:
            out[-1] = Entry(out[-1].start, entry.end, entry.user)
        else:
            out.append(entry)
    return out


def override_entries(overrides: Sequence[ScheduleOverride], lo: datetime, hi: datetime) -> list[Entry]:
    return [Entry(max(o.start, lo), min(o.end, hi), o.user) for o in overrides if o.end > lo and o.start < hi]


def final_entries(schedule: Schedule, lo: datetime, hi: datetime) -> list[Entry]:
    """The final schedule in [lo, hi): who is on call, merged into contiguous shifts, gaps left out."""
    zone = ZoneInfo(schedule.time_zone)
    # Highest priority first: overrides (newest first), then layers from the last to the first.
    sources: list[list[Entry]] = [[e] for e in reversed(override_entries(schedule.overrides, lo, hi))]
    sources += [layer_entries(layer, zone, lo, hi) for layer in reversed(schedule.layers)]
    starts = [[e.start for e in source] for source in sources]
    cuts = sorted({lo, hi} | {t for source in sources for e in source for t in (e.start, e.end)})
    pieces: list[Entry] = []
    for start, end in itertools.pairwise(cuts):
        for source, source_starts in zip(sources, starts, strict=True):
            hit = _covering(source, source_starts, start)
            if hit is not None:
                pieces.append(Entry(start, end, hit.user))
                break
    return merge(pieces)


def lookaround(schedule: Schedule) -> timedelta:
    """How far around a window to render so shifts crossing its edges get their real bounds."""
    longest = max(layer.rotation_turn_length_seconds for layer in schedule.layers)
    return min(timedelta(seconds=longest) + timedelta(days=1), LOOKAROUND_CAP)


def shifts(schedule: Schedule, since: datetime, until: datetime) -> list[Entry]:
    """Shifts overlapping [since, until] (an instant when equal), with their real start and end."""
    margin = lookaround(schedule)
    entries = final_entries(schedule, since - margin, until + margin)
    if since == until:
        return [e for e in entries if e.start <= since < e.end]
    return [e for e in entries if e.start < until and e.end > since]
