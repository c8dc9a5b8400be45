"""/healthz (liveness) and /readyz (readiness) on the health port, and the checks behind /readyz.

Kopf serves liveness alone on one path, so this module serves both paths itself (Kopf's own
endpoint stays off). Liveness is "the event loop answers": an API server outage never fails it,
so a kubelet does not restart a healthy process that could do nothing better after a restart.

Readiness says whether the watches are live. Kopf keeps its watch streams private (no public hook
sees a stream connect, and bookmarks never reach handlers, so event handlers would call a quiet
namespace stale), so each watched kind is checked by listing at most one object of it every
`--watch-check-interval`, through the same kubeconfig, address and credentials as Kopf's stream,
with a short timeout. With named namespaces each check takes the next namespace in turn, so the
cost is one small request per kind per interval however many namespaces are served (checking every
namespace every time cost 600 requests a minute at 20 namespaces). A success proves the API server
answers this process for that kind and namespace now (network path, TLS, authentication, RBAC);
it does not prove Kopf's stream is attached: a stream that died silently is replaced by Kopf
within `inactivity_timeout` (runtime.configure_kopf), which is the remaining gap.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable

from aiohttp import web

from oncall_operator.clients.kube import PROBE_TIMEOUT, Kube
from oncall_operator.core.errors import OperatorError
from oncall_operator.core.readiness import Freshness, Readiness, WatchKey
from oncall_operator.metrics import WATCH_STALE_SECONDS

logger = logging.getLogger(__name__)


def watch_keys(plurals: Iterable[str]) -> tuple[WatchKey, ...]:
    return tuple(WatchKey(plural) for plural in plurals)


class WatchHealth:
    """Checks every watch each interval and answers whether all were heard recently."""

    def __init__(
        self,
        kube: Kube,
        watches: tuple[WatchKey, ...],
        namespaces: tuple[str, ...],
        interval: float,
        stale_after: float,
    ):
        self._kube = kube
        self._namespaces = namespaces  # empty: every namespace (cluster-wide lists)
        self._round = 0
        self._interval = interval
        self._stale_after = stale_after
        self.freshness = Freshness(watches, time.monotonic())
        self._task: asyncio.Task[None] | None = None

    def readiness(self) -> Readiness:
        now = time.monotonic()
        for age in self.freshness.ages(now):
            WATCH_STALE_SECONDS.labels(age.watch.kind).set(age.seconds)
        return self.freshness.readiness(now, self._stale_after)

    async def check(self, watch: WatchKey, namespace: str | None) -> None:
        began = time.monotonic()
        try:
            await self._kube.probe_list(watch.kind, namespace)
        except OperatorError as error:
            self.freshness.failed(watch, str(error.reason))
            logger.debug("Readiness check of %s failed: %s", watch.label, error.reason)
            return
        self.freshness.heard(watch, began)  # heard at the request's start: never fresher than it is

    async def run(self) -> None:
        while True:
            began = time.monotonic()
            namespace = self._namespaces[self._round % len(self._namespaces)] if self._namespaces else None
            self._round += 1
            await asyncio.gather(*(self.check(watch, namespace) for watch in self.freshness.watches))
            self.readiness()  # refresh the gauge
            await asyncio.sleep(max(0.0, self._interval - (time.monotonic() - began)))

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="watch readiness checks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


# How long one check may take at most: connect plus read timeout of the probe.
CHECK_TIMEOUT_SECONDS = sum(PROBE_TIMEOUT)


async def serve_health(host: str, port: int, health: WatchHealth) -> web.AppRunner:
    """Starts /healthz and /readyz; the caller cleans the returned runner up."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"alive": True})

    async def readyz(_: web.Request) -> web.Response:
        readiness = health.readiness()
        return web.Response(
            status=200 if readiness.ready else 503,
            text=json.dumps(readiness.body()),
            content_type="application/json",
        )

    app = web.Application()
    app.add_routes([web.get("/healthz", healthz), web.get("/readyz", readyz)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
