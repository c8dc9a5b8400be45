"""Noticing a rotated, deleted or newly labelled Secret within seconds, with `get` alone (no list or
watch permission on Secrets).

A resource registers the Secrets it used, with the resourceVersion it saw when it read them (the
Kubernetes adapter remembers it); every interval each distinct Secret is read once, and the
resources whose Secret changed since they read it are woken.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from oncall_operator.clients.kube import UNSEEN, Kube, SecretRef
from oncall_operator.clients.periodic import Periodic
from oncall_operator.core.errors import OperatorError

log = logging.getLogger(__name__)


@dataclass
class _Watcher:
    versions: dict[SecretRef, str | object | None]  # what the resource saw; UNSEEN if it never read it
    on_change: Callable[[], None]


class SecretWatch:
    def __init__(self, kube: Kube, interval: float = 10.0) -> None:
        self.kube, self.interval = kube, interval
        self._watchers: dict[str, _Watcher] = {}
        self._loop = Periodic("secret-watch", self.check_once, lambda: self.interval)

    def watch(self, owner: str, secrets: Iterable[SecretRef], on_change: Callable[[], None]) -> None:
        """After each reconcile: the Secrets `owner` uses, as of its last read of them."""
        self._watchers[owner] = _Watcher({ref: self.kube.seen_version(ref) for ref in secrets}, on_change)

    def unwatch(self, owner: str) -> None:
        self._watchers.pop(owner, None)

    async def check_once(self) -> int:
        """Reads each watched Secret once; returns how many owners were woken."""
        refs = {ref for watcher in self._watchers.values() for ref in watcher.versions}
        current: dict[SecretRef, str | None] = {}
        for ref in sorted(refs):
            with contextlib.suppress(OperatorError):  # the resource's own sync reports what is wrong
                current[ref] = await self.kube.secret_version(*ref)
        woken = 0
        for watcher in list(self._watchers.values()):
            changed = False
            for ref, seen in watcher.versions.items():
                if ref not in current:
                    continue
                if seen is not UNSEEN and seen != current[ref]:
                    changed = True
                watcher.versions[ref] = current[ref]
            if changed:
                watcher.on_change()
                woken += 1
        return woken

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
