"""Finding a subject in the operator's data, class by class (api/inventory.py), and erasing it.

CleanupRuns are found through the erasure index (tokens -> runs, kept by a Kopf index from the
watch), so the cost of a request grows with what the subject has, not with the store. Events are
listed (the API server keeps them an hour); OnCallSyncs and CleanupRules - configuration, few - are
listed to report where specs and statuses name the subject.

The verifying re-scan looks only at records that existed when the erasure began (`Instant`): a person
still in Slack or PagerDuty is re-learned by the syncs that need them (a cache entry, an Event), and
those are new records, not erasure left undone (the receipt says `onCall` when that is expected).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from oncall_operator.api.cleanuprun import CLEANUP_RUN, FINISHED
from oncall_operator.api.deletion import DELETION_REQUEST, SpecReference
from oncall_operator.api.inventory import DataClass
from oncall_operator.core.errors import NotFound
from oncall_operator.core.privacy.subject import (
    ERASED_SUBJECT,
    Subject,
    items_naming,
    message_names,
    redact_items,
)
from oncall_operator.services import Services

OPERATOR = "oncall-operator"
_FINISHED = frozenset(p.value for p in FINISHED)
Lookup = Callable[[str], Iterable[tuple[str, str]]]  # token -> (namespace, name) of runs naming it


@dataclass(frozen=True)
class Instant:
    """When an erasure began, on each clock its records are stamped with."""

    wall: datetime  # Kubernetes objects (creationTimestamp, whole seconds)
    slack_cache: float
    pagerduty_cache: float

    @classmethod
    def now(cls, services: Services) -> Instant:
        return cls(datetime.now(UTC), services.slack.cache_clock(), services.pagerduty.cache_clock())

    def existed(self, created: Any) -> bool:
        """Created before this instant's second (Kubernetes stamps whole seconds, so the second the
        erasure began in is left to the erasing pass, which saw everything present then)."""
        if isinstance(created, str):
            created = datetime.fromisoformat(created.replace("Z", "+00:00"))
        if not isinstance(created, datetime):
            return True  # no stamp: count it rather than miss it
        return created < self.wall.replace(microsecond=0)


@dataclass
class Findings:
    counts: dict[DataClass, int] = field(default_factory=dict)
    erased: dict[DataClass, int] = field(default_factory=dict)
    locations: list[str] = field(default_factory=list)
    spec_references: list[SpecReference] = field(default_factory=list)
    on_call: bool = False
    runs_under_way: int = 0
    groups: set[str] = field(default_factory=set)  # Slack user groups OnCallSyncs manage

    def add(self, data: DataClass, count: int, where: str, *, erased: bool = False) -> None:
        if count:
            self.counts[data] = self.counts.get(data, 0) + count
            self.locations.append(f"{data}: {where}")
            if erased:
                self.erased[data] = self.erased.get(data, 0) + count

    @property
    def erasable_by_class(self) -> dict[DataClass, int]:
        """Records erasure must leave at zero (statuses and specs are re-derived or the owners')."""
        kept = {DataClass.RESOURCE_STATUSES, DataClass.RESOURCE_SPECS, DataClass.KOPF_ANNOTATIONS}
        return {data: n for data, n in self.counts.items() if data not in kept}

    @property
    def erasable(self) -> int:
        return sum(self.erasable_by_class.values())


def _is_ours(event: Any) -> bool:
    source = getattr(event, "source", None)
    return OPERATOR in (getattr(event, "reporting_component", None), getattr(source, "component", None))


class Scanner:
    def __init__(self, services: Services, namespaces: tuple[str, ...]) -> None:
        self.services, self.namespaces = services, namespaces
        self.kube = services.kube

    async def scan(
        self,
        subject: Subject,
        lookup: Lookup,
        self_ref: tuple[str, str],
        *,
        erase: bool,
        email: str | None,
        before: Instant | None = None,
    ) -> Findings:
        """Where the subject is; with `erase`, erased as it is found (runs under way are left and counted);
        with `before`, only records that existed then (the verifying re-scan)."""
        found = Findings()
        await self._runs(subject, lookup, found, erase, before)
        await self._events(subject, found, erase, before)
        self._caches(subject, found, erase, email, before)
        await self._receipts(subject, self_ref, found, erase, before)
        await self._configuration(subject, found)
        return found

    async def _runs(
        self, subject: Subject, lookup: Lookup, found: Findings, erase: bool, before: Instant | None
    ) -> None:
        runs = sorted({ref for token in subject.tokens for ref in lookup(token)})
        for namespace, name in runs:
            try:
                run = await self.kube.get_object(CLEANUP_RUN.plural, namespace, name)
            except NotFound:  # gone meanwhile (the index follows the watch)
                continue
            if before and not before.existed((run.get("metadata") or {}).get("creationTimestamp")):
                continue
            status = run.get("status") or {}
            items = [str(i) for i in status.get("items") or []]
            naming = len(items_naming(items, subject.tokens))
            if not naming:
                continue
            if erase and status.get("phase") in _FINISHED:
                redacted, _ = redact_items(items, subject.tokens)
                await self.kube.patch_status(CLEANUP_RUN.plural, namespace, name, {"items": redacted})
            elif erase:
                found.runs_under_way += 1
            erased = erase and status.get("phase") in _FINISHED
            found.add(DataClass.CLEANUP_RUNS, naming, f"{namespace}/{name} ({naming} items)", erased=erased)

    async def _events(self, subject: Subject, found: Findings, erase: bool, before: Instant | None) -> None:
        needles = subject.ids | subject.refs
        for namespace in self.namespaces or (None,):
            for event in await self.kube.list_events(namespace):
                if not _is_ours(event) or not message_names(event.message or "", needles):
                    continue
                if before and not before.existed(event.metadata.creation_timestamp):
                    continue
                where = f"{event.metadata.namespace}/{event.metadata.name}"
                if erase:
                    await self.kube.delete_event(event.metadata.namespace, event.metadata.name)
                found.add(DataClass.EVENTS, 1, where, erased=erase)

    def _caches(
        self, subject: Subject, found: Findings, erase: bool, email: str | None, before: Instant | None
    ) -> None:
        count = self.services.slack.cached_users(
            email=email,
            user_id=subject.slack_user,
            evict=erase,
            learned_before=before.slack_cache if before else None,
        )
        count += self.services.pagerduty.cached_emails(
            email=email,
            user_id=subject.pagerduty_user,
            evict=erase,
            learned_before=before.pagerduty_cache if before else None,
        )
        found.add(DataClass.USER_DIRECTORY_CACHE, count, "operator memory", erased=erase)

    async def _receipts(
        self,
        subject: Subject,
        self_ref: tuple[str, str],
        found: Findings,
        erase: bool,
        before: Instant | None,
    ) -> None:
        for other in await self.kube.list_everywhere(DELETION_REQUEST.plural, self.namespaces):
            meta = other.get("metadata") or {}
            where = (meta.get("namespace", ""), meta.get("name", ""))
            if where == self_ref or (other.get("status") or {}).get("subject") not in subject.refs:
                continue
            if before and not before.existed(meta.get("creationTimestamp")):
                continue
            if erase:
                await self.kube.patch_status(
                    DELETION_REQUEST.plural, where[0], where[1], {"subject": ERASED_SUBJECT}
                )
            found.add(DataClass.DELETION_RECEIPTS, 1, "/".join(where), erased=erase)

    async def _configuration(self, subject: Subject, found: Findings) -> None:
        ids = subject.ids
        for sync in await self.kube.list_everywhere("oncallsyncs", self.namespaces):
            meta, spec, status = sync.get("metadata") or {}, sync.get("spec") or {}, sync.get("status") or {}
            where = f"{meta.get('namespace')}/{meta.get('name')}"
            slack = spec.get("slack") or {}
            group = status.get("slackUserGroupId")
            if isinstance(group, str):
                found.groups.add(group)
            fields = {
                "spec.slack.alwaysInclude": slack.get("alwaysInclude") or [],
                "spec.fallbackUsers": spec.get("fallbackUsers") or [],
                "spec.userMapping.overrides": [
                    v for o in (spec.get("userMapping") or {}).get("overrides") or [] for v in o.values()
                ],
            }
            self._spec_refs("OnCallSync", meta, fields, ids, found)
            on_call = {v for e in status.get("onCall") or [] for v in e.values() if isinstance(v, str)}
            named = ids & (on_call | set(status.get("members") or []))
            named |= ids & {u.get("pagerDutyUser") for u in status.get("unmapped") or []}
            if ids & on_call:
                found.on_call = True
            if named:
                found.add(DataClass.RESOURCE_STATUSES, 1, f"OnCallSync {where} status")
        for rule in await self.kube.list_everywhere("cleanuprules", self.namespaces):
            meta, spec = rule.get("metadata") or {}, rule.get("spec") or {}
            exclude = spec.get("exclude") or {}
            fields = {
                "spec.exclude.pagerDutyUsers": exclude.get("pagerDutyUsers") or [],
                "spec.exclude.slackUsers": exclude.get("slackUsers") or [],
            }
            self._spec_refs("CleanupRule", meta, fields, ids, found)

    @staticmethod
    def _spec_refs(
        kind: str, meta: dict[str, Any], fields: dict[str, list[Any]], ids: frozenset[str], found: Findings
    ) -> None:
        for path, values in fields.items():
            if ids & set(values):
                found.spec_references.append(
                    SpecReference(
                        kind=kind, namespace=meta.get("namespace", ""), name=meta.get("name", ""), field=path
                    )
                )
                found.add(
                    DataClass.RESOURCE_SPECS, 1, f"{kind} {meta.get('namespace')}/{meta.get('name')} {path}"
                )
