"""One retention pass: per namespace, the strictest applicable rule per class decides what goes.

Only finished records are pruned (a CleanupRun under way, a DeletionRequest not completed stay);
receipts age from their completion, Events from their last occurrence. Caches are process-wide,
so the strictest rule of any policy applies to them. A policy's pass keeps its `status.pruned` exact
across kills (`tally.py`): deletions go in recorded batches, and every pass first settles a batch a
killed pass left.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from oncall_operator import metrics
from oncall_operator.api.cleanuprun import CLEANUP_RUN, FINISHED
from oncall_operator.api.deletion import DELETION_REQUEST
from oncall_operator.api.durations import parse_duration
from oncall_operator.api.inventory import RetainedData
from oncall_operator.api.retention import RetentionPolicySpec
from oncall_operator.core.privacy.retention import Limit, PolicyRules, Record, effective, to_prune
from oncall_operator.kinds.retentionpolicy.tally import BATCH, PolicyKey, Tally, settle
from oncall_operator.services import Services

OPERATOR = "oncall-operator"
_RUN_DONE = frozenset(p.value for p in FINISHED)
_RECEIPT_DONE = frozenset({"Completed", "Failed"})


def _time(text: Any) -> datetime | None:
    if isinstance(text, datetime):
        return text if text.tzinfo else text.replace(tzinfo=UTC)
    if not isinstance(text, str) or not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def policy_rules(namespace: str, spec: dict[str, Any], operator_namespace: str) -> PolicyRules:
    parsed = RetentionPolicySpec.model_validate(spec)
    rules = {
        rule.data: Limit(parse_duration(rule.max_age) if rule.max_age else None, rule.max_count)
        for rule in parsed.rules
    }
    return PolicyRules(namespace, namespace == operator_namespace, rules)


@dataclass
class PassResult:
    pruned: Counter[str] = field(default_factory=Counter)
    oldest: dict[str, datetime] = field(default_factory=dict)
    tally: dict[str, int] | None = None  # the policy's status.pruned after the pass

    def saw(self, data: RetainedData, when: datetime | None) -> None:
        if when is not None and (data.value not in self.oldest or when < self.oldest[data.value]):
            self.oldest[data.value] = when


class Retention:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.policies: dict[str, PolicyRules] = {}  # uid -> rules, kept from the watch
        settings = services.settings
        self.defaults = {
            RetainedData.CLEANUP_RUNS: Limit(
                timedelta(seconds=settings.retention_cleanup_runs_max_age),
                settings.retention_cleanup_runs_max_count,
            ),
            RetainedData.DELETION_RECEIPTS: Limit(timedelta(seconds=settings.retention_receipts_max_age)),
            RetainedData.EVENTS: Limit(timedelta(seconds=settings.retention_events_max_age)),
            RetainedData.USER_DIRECTORY_CACHE: Limit(timedelta(seconds=settings.retention_cache_max_age)),
        }
        self.watched = () if settings.clusterwide else settings.namespaces
        self._lock = asyncio.Lock()  # one pass at a time: overlapping policies never prune twice

    async def prune(self, namespaces: tuple[str, ...], policy: PolicyKey | None = None) -> PassResult:
        """A pass over `namespaces` (empty: every watched namespace), counted in `policy`'s status
        (None: the built-in defaults' pass, counted in metrics only)."""
        async with self._lock:
            tallies = await settle(self.services.kube, self.watched, policy)
            tally = Tally(self.services.kube, policy, tallies.get(policy, {})) if policy else None
            result = await self._prune(namespaces, tally)
            result.tally = dict(tally.pruned) if tally else None
            return result

    async def _prune(self, namespaces: tuple[str, ...], tally: Tally | None) -> PassResult:
        kube, now, result = self.services.kube, datetime.now(UTC), PassResult()  # Kubernetes time
        scope = namespaces or self.watched
        runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for run in await kube.list_everywhere(CLEANUP_RUN.plural, scope):
            runs[run["metadata"]["namespace"]].append(run)
        receipts: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for receipt in await kube.list_everywhere(DELETION_REQUEST.plural, scope):
            receipts[receipt["metadata"]["namespace"]].append(receipt)
        for namespace in sorted(set(runs) | set(receipts)):
            limits = effective(self.policies.values(), namespace, self.defaults)
            for plural, data, objects in (
                (CLEANUP_RUN.plural, RetainedData.CLEANUP_RUNS, runs[namespace]),
                (DELETION_REQUEST.plural, RetainedData.DELETION_RECEIPTS, receipts[namespace]),
            ):
                await self._objects(plural, data, namespace, objects, limits[data], now, result, tally)
        await self._events(scope, now, result, tally)
        self._caches(now, result)
        cached = result.pruned[RetainedData.USER_DIRECTORY_CACHE.value]
        if tally and cached:
            await tally.add(RetainedData.USER_DIRECTORY_CACHE, cached)
        for data in RetainedData:
            metrics.RETENTION_PRUNED.labels(data.value).inc(result.pruned[data.value])
            oldest = result.oldest.get(data.value)
            metrics.RETENTION_OLDEST_AGE.labels(data.value).set(
                (now - oldest).total_seconds() if oldest else 0
            )
        return result

    async def _objects(
        self,
        plural: str,
        data: RetainedData,
        namespace: str,
        objects: list[dict[str, Any]],
        limit: Limit,
        now: datetime,
        result: PassResult,
        tally: Tally | None,
    ) -> None:
        records, uids = [], {}
        done = _RUN_DONE if data is RetainedData.CLEANUP_RUNS else _RECEIPT_DONE
        for item in objects:
            status = item.get("status") or {}
            created = _time(item["metadata"].get("creationTimestamp")) or now
            # Kept for maxAge after finishing: a run from its completion, a receipt from its completedAt.
            finished_at = status.get(
                "completedAt" if data is RetainedData.DELETION_RECEIPTS else "completionTime"
            )
            # A time ahead of Kubernetes' (written by an operator on a sandbox clock) counts from creation.
            finished = _time(finished_at)
            created = finished if finished is not None and finished <= now else created
            deleting = bool(item["metadata"].get("deletionTimestamp"))
            records.append(Record(item["metadata"]["name"], created, status.get("phase") in done, deleting))
            uids[item["metadata"]["name"]] = item["metadata"].get("uid", "")
        doomed = set(to_prune(records, limit, now))

        async def delete(name: str) -> None:
            await self.services.kube.delete_object(plural, namespace, name)

        await _in_batches(data, namespace, [(n, uids[n]) for n in sorted(doomed)], delete, result, tally)
        for record in records:
            if record.name not in doomed and not record.deleting:
                result.saw(data, record.created)

    async def _events(
        self, scope: tuple[str, ...], now: datetime, result: PassResult, tally: Tally | None
    ) -> None:
        for namespace in scope or (None,):
            doomed: dict[str, list[tuple[str, str]]] = defaultdict(list)  # namespace -> (name, uid)
            for event in await self.services.kube.list_events(namespace):
                source = getattr(event, "source", None)
                if OPERATOR not in (event.reporting_component, getattr(source, "component", None)):
                    continue
                meta = event.metadata
                when = (
                    _time(event.last_timestamp)
                    or _time(event.event_time)
                    or _time(meta.creation_timestamp)
                    or now
                )
                limit = effective(self.policies.values(), meta.namespace, self.defaults)[RetainedData.EVENTS]
                if limit.max_age is not None and now - when > limit.max_age:
                    doomed[meta.namespace].append((meta.name, meta.uid or ""))
                else:
                    result.saw(RetainedData.EVENTS, when)
            for where, events in sorted(doomed.items()):

                async def delete(name: str, where: str = where) -> None:
                    await self.services.kube.delete_event(where, name)

                await _in_batches(RetainedData.EVENTS, where, sorted(events), delete, result, tally)

    def _caches(self, now: datetime, result: PassResult) -> None:
        limit = effective(self.policies.values(), None, self.defaults)[RetainedData.USER_DIRECTORY_CACHE]
        if limit.max_age is None:
            return
        seconds = limit.max_age.total_seconds()
        slack, slack_oldest = self.services.slack.prune_users(seconds)
        pagerduty, pagerduty_oldest = self.services.pagerduty.prune_emails(seconds)
        result.pruned[RetainedData.USER_DIRECTORY_CACHE.value] += slack + pagerduty
        ages = [a for a in (slack_oldest, pagerduty_oldest) if a is not None]
        if ages:
            result.saw(RetainedData.USER_DIRECTORY_CACHE, now - timedelta(seconds=max(ages)))


async def _in_batches(
    data: RetainedData,
    namespace: str,
    doomed: list[tuple[str, str]],
    delete: Callable[[str], Awaitable[None]],
    result: PassResult,
    tally: Tally | None,
) -> None:
    """Deletes (name, uid)s in batches, each recorded in the policy's status before it is sent and
    counted after (tally.py), so a kill anywhere leaves the tally settleable."""
    for start in range(0, len(doomed), BATCH):
        batch = doomed[start : start + BATCH]
        if tally:
            await tally.intend(data, namespace, batch)
        for name, _ in batch:
            await delete(name)
        result.pruned[data.value] += len(batch)
        if tally:
            await tally.add(data, len(batch))
