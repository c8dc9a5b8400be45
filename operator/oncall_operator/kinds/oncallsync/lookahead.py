"""Hearing PagerDuty between handoffs: every resource's on-call is re-read every interval and the
resources whose view changed (an override created at short notice, a schedule edit) are woken.

The re-reads go through the PagerDuty adapter, which batches concurrent reads per token, so a
round costs one /oncalls read per token (per 40 ids); the interval stretches when a round would
take over a tenth of a token's budget. A change made at least one interval before it starts is
applied at its start; a later one within one interval.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import defaultdict
from datetime import datetime

from oncall_operator.clients.pagerduty import ACCOUNT_LIMIT_PER_MINUTE, IDS_PER_REQUEST
from oncall_operator.clients.periodic import Periodic
from oncall_operator.core import oncallsync as decide
from oncall_operator.core.errors import OperatorError
from oncall_operator.kinds.oncallsync.daemon import Scheduler
from oncall_operator.kinds.oncallsync.reconcile import Subscription, read_shifts
from oncall_operator.metrics import LOOKAHEAD_ROUNDS, LOOKAHEAD_WAKES
from oncall_operator.services import Services

log = logging.getLogger(__name__)
LOW_PRIORITY = 1e13  # after every handoff and every first sync


class Lookahead:
    def __init__(self, services: Services, scheduler: Scheduler) -> None:
        self.services, self.scheduler = services, scheduler
        self._loop = Periodic("oncallsync-lookahead", self.refresh_once, self.interval)

    @property
    def subscriptions(self) -> dict[str, Subscription]:
        """Filled by the daemons after each sync (what they acted on), emptied when they stop."""
        return self.scheduler.subscriptions

    def interval(self) -> float:
        reads: dict[str, int] = defaultdict(int)
        ids: dict[str, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
        for sub in self.subscriptions.values():
            schedules, policies = ids[sub.token]
            schedules.update(sub.spec.pager_duty.schedules)
            policies.update(p.id for p in sub.spec.pager_duty.escalation_policies)
        for token, (schedules, policies) in ids.items():
            reads[token] = math.ceil(len(schedules) / IDS_PER_REQUEST) + math.ceil(
                len(policies) / IDS_PER_REQUEST
            )
        budget = ACCOUNT_LIMIT_PER_MINUTE * self.services.settings.rate_limit_scale
        return decide.lookahead_interval(
            self.services.settings.lookahead_interval, list(reads.values()), budget
        )

    async def refresh_once(self) -> int:
        """One round over every subscription; returns how many resources were woken."""
        now = await self.services.clock.now()
        due = {uid: sub for uid, sub in self.subscriptions.items() if sub.view.wake_at > now}
        changed = await asyncio.gather(*(self._changed(sub, now) for sub in due.values()))
        woken = 0
        for uid, is_changed in zip(due, changed, strict=True):
            if is_changed and self.subscriptions.get(uid) is due[uid]:
                self.scheduler.wake(uid)
                woken += 1
        LOOKAHEAD_ROUNDS.inc()
        LOOKAHEAD_WAKES.inc(woken)
        return woken

    async def _changed(self, sub: Subscription, now: datetime) -> bool:
        try:
            shifts = await read_shifts(
                self.services, sub.spec, sub.token, now, sub.view.wake_at, LOW_PRIORITY
            )
        except OperatorError:
            return False  # the resource's own next sync meets and reports it
        return decide.view_changed(sub.view, decide.view_of(shifts, sub.selection, now, sub.view.wake_at))

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
