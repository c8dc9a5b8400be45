"""The services every kind shares, built once at startup from the settings.

One Slack adapter and one PagerDuty adapter per process, so every kind draws on the same
per-workspace and per-account rate budgets and caches; one Kubernetes client; one clock.
Per-kind scheduling state (wake-ups, worker slots, queues) stays with each kind.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import kopf

from oncall_operator.api.common import SecretKeyRef
from oncall_operator.clients.clock import Clock, clock_from_url
from oncall_operator.clients.kube import Kube, load_configuration
from oncall_operator.clients.pagerduty import PagerDuty
from oncall_operator.clients.secret_watch import SecretWatch
from oncall_operator.clients.slack import Slack
from oncall_operator.clients.subject_keys import SubjectKeys, operator_namespace
from oncall_operator.core.resume import settle_delay
from oncall_operator.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    settings: Settings
    slack: Slack
    pagerduty: PagerDuty
    kube: Kube
    clock: Clock
    subjects: SubjectKeys
    operator_namespace: str
    secrets: SecretWatch
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def build(cls, settings: Settings) -> Services:
        """Raises KubeConfigError when no cluster configuration is usable."""
        kube = Kube(load_configuration(settings.kubeconfig, settings.context))
        namespace = operator_namespace(settings.operator_namespace)
        return cls(
            settings=settings,
            slack=Slack(
                settings.slack_url,
                rate_limit_scale=settings.rate_limit_scale,
                deadline=settings.call_deadline,
            ),
            pagerduty=PagerDuty(
                settings.pagerduty_url,
                rate_limit_scale=settings.rate_limit_scale,
                ca_file=settings.pagerduty_ca_file,
                deadline=settings.call_deadline,
            ),
            kube=kube,
            clock=clock_from_url(settings.clock_url),
            subjects=SubjectKeys(kube, namespace, settings.subject_key_secret),
            operator_namespace=namespace,
            secrets=SecretWatch(kube),
        )

    async def writes_settled(self, what: str, stopped: kopf.DaemonStopped | None = None) -> None:
        """Returns once no write an earlier process sent can still land (core/resume.py): call it
        before checking live state for a write recorded as intent but not confirmed."""
        delay = settle_delay(time.monotonic() - self.started, self.settings.call_deadline)
        if delay <= 0:
            return
        log.info("%s: waiting %.0fs for writes a previous process may still have in flight", what, delay)
        if stopped is not None:
            await stopped.wait(delay)
        else:
            await asyncio.sleep(delay)

    async def read_credential(self, namespace: str, ref: SecretKeyRef) -> str:
        """A token from a Secret a resource names, under the operator's Secret policy."""
        return await self.kube.read_secret_key(
            namespace, ref.name, ref.key, require_label=self.settings.secrets_require_label
        )

    async def close(self) -> None:
        await self.secrets.stop()
        await self.slack.close()
        self.pagerduty.close()
        self.kube.close()
