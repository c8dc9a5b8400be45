"""The HMAC key behind subject references: read once from its Secret, created there when missing."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

from oncall_operator.api.reasons import ExternalReason
from oncall_operator.clients.kube import Kube
from oncall_operator.core.errors import Misconfigured
from oncall_operator.core.subjects import IdentifierKind, subject_ref

KEY_FIELD = "key"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def operator_namespace(configured: str | None) -> str:
    """The namespace the operator keeps its own objects in: configured, else the pod's, else default."""
    if configured:
        return configured
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"


class SubjectKeys:
    def __init__(self, kube: Kube, namespace: str, secret_name: str) -> None:
        self.kube, self.namespace, self.secret_name = kube, namespace, secret_name
        self._key: bytes | None = None
        self._lock = asyncio.Lock()

    async def key(self) -> bytes:
        async with self._lock:
            if self._key is None:
                self._key = await self._load_or_create()
            return self._key

    async def ref(self, kind: IdentifierKind, value: str) -> str:
        return subject_ref(await self.key(), kind, value)

    async def _load_or_create(self) -> bytes:
        for _ in range(2):
            data = await self.kube.read_secret_data(self.namespace, self.secret_name)
            if data is not None:
                key = data.get(KEY_FIELD, b"")
                if len(key) < 16:
                    raise Misconfigured(
                        f"Secret {self.namespace}/{self.secret_name} has no key '{KEY_FIELD}' of 16+ bytes",
                        reason=ExternalReason.SECRET_NOT_FOUND,
                    )
                return key
            await self.kube.create_secret(
                self.namespace,
                self.secret_name,
                {KEY_FIELD: secrets.token_bytes(32)},
                {
                    "app.kubernetes.io/managed-by": "oncall-operator",
                    "app.kubernetes.io/component": "subject-key",
                },
            )
        raise Misconfigured(f"Secret {self.namespace}/{self.secret_name} could not be created or read")
