"""The HMAC key of subject references: created once in its Secret, then shared by every instance."""

from __future__ import annotations

import pytest

from oncall_operator.clients.kube import Kube as KubeClient
from oncall_operator.clients.kube import load_configuration
from oncall_operator.clients.subject_keys import SubjectKeys
from oncall_operator.core.errors import Misconfigured
from oncall_operator.core.subjects import IdentifierKind
from support.kube import Kube

pytestmark = pytest.mark.cluster


async def test_the_key_is_created_once_and_reused(kube: Kube, namespace: str) -> None:
    client = KubeClient(load_configuration(str(kube.kubeconfig), None))
    first = SubjectKeys(client, namespace, "subject-key")
    ref = await first.ref(IdentifierKind.EMAIL, "Jane.Doe@Example.com")
    second = SubjectKeys(client, namespace, "subject-key")  # another replica, or a restart
    assert await second.ref(IdentifierKind.EMAIL, "jane.doe@example.com") == ref
    assert ref.startswith("hmac-sha256:") and "jane" not in ref.lower()
    secret = kube.get("secret", "subject-key", namespace)
    assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "oncall-operator"


async def test_a_key_too_short_is_refused(kube: Kube, namespace: str) -> None:
    kube.kubectl("create", "secret", "generic", "weak", "-n", namespace, "--from-literal=key=short")
    client = KubeClient(load_configuration(str(kube.kubeconfig), None))
    with pytest.raises(Misconfigured, match="16\\+ bytes"):
        await SubjectKeys(client, namespace, "weak").key()
