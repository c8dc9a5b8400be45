"""The erasure index: person-naming tokens (subject refs, Slack and PagerDuty ids) -> the CleanupRuns
holding them, so a request costs what the subject has, not what the store holds.

Kept current from the CleanupRun watch (only events that change a run's tokens reach the handler),
and primed once per process by one listing, at the first request: the watch's initial listing alone
would leave a request that arrives first with a partial index. (Kopf's own indexes would do both,
but gate the whole operator's start on every object being indexed, which costs O(n²) wake-ups in
the number of runs: measured, 10,000 runs had not started after 5 minutes.)
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from oncall_operator.api.cleanuprun import CLEANUP_RUN
from oncall_operator.core.privacy.subject import run_tokens
from oncall_operator.services import Services

Ref = tuple[str, str]  # namespace, name


class ErasureIndex:
    def __init__(self) -> None:
        self._runs: dict[str, tuple[Ref, frozenset[str]]] = {}  # uid -> where, tokens
        self._tokens: dict[str, set[Ref]] = defaultdict(set)
        self._primed = False
        self._lock = asyncio.Lock()

    def changed(self, uid: str, status: Mapping[str, Any] | None) -> bool:
        """Whether a run's tokens differ from the indexed ones (the watch handler's filter)."""
        indexed = self._runs.get(uid)
        return indexed is None or indexed[1] != frozenset(run_tokens(status))

    def put(self, uid: str, where: Ref, status: Mapping[str, Any] | None) -> None:
        self.drop(uid)
        tokens = frozenset(run_tokens(status))
        self._runs[uid] = (where, tokens)
        for token in tokens:
            self._tokens[token].add(where)

    def drop(self, uid: str) -> None:
        indexed = self._runs.pop(uid, None)
        if indexed is None:
            return
        where, tokens = indexed
        for token in tokens:
            holders = self._tokens.get(token)
            if holders is not None:
                holders.discard(where)
                if not holders:
                    del self._tokens[token]

    def lookup(self, token: str) -> list[Ref]:
        return sorted(self._tokens.get(token, ()))

    async def prime(self, services: Services, namespaces: tuple[str, ...]) -> None:
        """One listing of every run, once per process (the watch keeps it current after)."""
        async with self._lock:
            if self._primed:
                return
            for run in await services.kube.list_everywhere(CLEANUP_RUN.plural, namespaces):
                meta = run.get("metadata") or {}
                uid = meta.get("uid")
                if uid and self.changed(uid, run.get("status")):
                    self.put(uid, (meta.get("namespace", ""), meta.get("name", "")), run.get("status"))
            self._primed = True

    def __len__(self) -> int:
        return len(self._runs)
