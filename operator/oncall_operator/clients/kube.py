"""Kubernetes API calls made outside Kopf's handler cycle: Secrets and status patches.

Daemons write status as each sync ends (Kopf applies a daemon's patch only when it
exits), so they use the official client, in worker threads.
"""

from __future__ import annotations

import asyncio
import base64
from functools import cache
from typing import Any

import kubernetes

from oncall_operator import API_GROUP, API_VERSION
from oncall_operator.clients.errors import SyncError


@cache
def _api_client() -> kubernetes.client.ApiClient:
    try:
        kubernetes.config.load_incluster_config()  # type: ignore[no-untyped-call]
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()  # type: ignore[no-untyped-call]
    return kubernetes.client.ApiClient()


async def read_secret_key(namespace: str, name: str, key: str) -> str:
    """The Secret is read at every sync, so a rotated token is used without a restart."""

    def read() -> str:
        core = kubernetes.client.CoreV1Api(_api_client())
        try:
            secret = core.read_namespaced_secret(name, namespace)
        except kubernetes.client.ApiException as error:
            if error.status == 404:
                raise SyncError("SecretNotFound", f"Secret {name} not found") from None
            if error.status == 403:
                raise SyncError("SecretForbidden", f"the operator may not read Secret {name}") from None
            raise
        data = secret.data or {}
        if key not in data:
            raise SyncError("SecretNotFound", f"Secret {name} has no key {key}")
        return base64.b64decode(data[key]).decode().strip()

    return await asyncio.to_thread(read)


async def patch_status(plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
    def patch() -> None:
        api = kubernetes.client.CustomObjectsApi(_api_client())
        try:
            api.patch_namespaced_custom_object_status(
                API_GROUP, API_VERSION, namespace, plural, name, {"status": status}
            )
        except kubernetes.client.ApiException as error:
            if error.status != 404:  # deleted meanwhile: nothing to report on
                raise

    await asyncio.to_thread(patch)
