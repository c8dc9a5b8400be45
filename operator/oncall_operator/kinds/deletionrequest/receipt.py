"""A DeletionRequest's receipt (its status) and its finalizer, written as the request goes."""

from __future__ import annotations

from oncall_operator.api.deletion import DELETION_REQUEST, FINALIZER, DeletionRequestStatus
from oncall_operator.core.status import render_status
from oncall_operator.services import Services


class Request:
    """One request's state between steps; `save` writes the receipt."""

    def __init__(self, services: Services, namespace: str, name: str, status: DeletionRequestStatus) -> None:
        self.services, self.namespace, self.name, self.status = services, namespace, name, status

    async def save(self) -> None:
        await self.services.kube.patch_status(
            DELETION_REQUEST.plural, self.namespace, self.name, render_status(self.status)
        )

    async def finalizer(self, hold: bool) -> None:
        current = await self.services.kube.get_object(DELETION_REQUEST.plural, self.namespace, self.name)
        meta = current.get("metadata") or {}
        finalizers = list(meta.get("finalizers") or [])
        if (FINALIZER in finalizers) == hold:
            return
        finalizers = [*finalizers, FINALIZER] if hold else [f for f in finalizers if f != FINALIZER]
        await self.services.kube.patch_object(
            DELETION_REQUEST.plural,
            self.namespace,
            self.name,
            {"metadata": {"finalizers": finalizers, "resourceVersion": meta.get("resourceVersion")}},
        )
