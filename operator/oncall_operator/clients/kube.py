"""Kubernetes API calls made outside Kopf's handler cycle (Secrets, status patches), and Kopf's login.

One client configuration - in-cluster, or a kubeconfig file and context from the settings - serves
both Kopf (through `connection_info`) and the official client used here. Daemons write status as
each sync ends (Kopf applies a daemon's patch only when it exits), so they call `patch_status`.
The official client is synchronous: calls run in worker threads. Errors leave as the taxonomy.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import kopf
import kubernetes
import urllib3

from oncall_operator import API_GROUP, API_VERSION
from oncall_operator.api.reasons import ExternalReason as R
from oncall_operator.core.errors import InternalError, Misconfigured, NotFound, Transient, Unauthorized

T = TypeVar("T")
log = logging.getLogger(__name__)
REQUEST_TIMEOUT = (5.0, 30.0)  # connect, read: a call never hangs on a silent apiserver
PROBE_TIMEOUT = (3.0, 5.0)  # the readiness check: a silent apiserver counts as a failed check quickly


class KubeConfigError(Exception):
    """No usable cluster configuration: one line for the operator's user, no traceback."""


def load_configuration(kubeconfig: str | None, context: str | None) -> kubernetes.client.Configuration:
    """In-cluster when running in a pod (and no kubeconfig was named), else the kubeconfig."""
    configuration = kubernetes.client.Configuration()
    if kubeconfig is None and context is None:
        try:
            kubernetes.config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            return configuration
        except kubernetes.config.ConfigException:
            pass
    try:
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context, client_configuration=configuration
        )
    except (kubernetes.config.ConfigException, OSError, ValueError) as error:
        where = kubeconfig or "the default kubeconfig (KUBECONFIG or ~/.kube/config)"
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise KubeConfigError(f"cannot use {where}: {detail}") from None
    return configuration


def connection_info(configuration: kubernetes.client.Configuration) -> kopf.ConnectionInfo:
    """The same credentials, in the form Kopf's login handlers return."""
    header = configuration.get_api_key_with_prefix("BearerToken") or configuration.get_api_key_with_prefix(
        "authorization"
    )
    scheme, _, token = (header or "").partition(" ") if header and " " in header else (None, "", header)
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        username=configuration.username or None,
        password=configuration.password or None,
        scheme=scheme or None,
        token=token or None,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
    )


def classify(error: BaseException, doing: str) -> Exception:
    """A Kubernetes client failure as a failure of the taxonomy."""
    if isinstance(error, kubernetes.client.ApiException):
        status = error.status or 0
        if status == 404:
            return NotFound(f"{doing}: not found")
        if status in (401, 403):
            return Unauthorized(f"{doing}: the operator is not allowed ({status})", reason=R.AUTH_FAILED)
        if status in (409, 429) or status >= 500:
            return Transient(f"{doing}: the API server answered {status}", reason=R.KUBERNETES_UNAVAILABLE)
        return Misconfigured(
            f"{doing}: the API server refused it ({status})", reason=R.KUBERNETES_UNAVAILABLE
        )
    if isinstance(error, urllib3.exceptions.HTTPError | OSError | TimeoutError):
        return Transient(f"{doing}: the API server is unreachable", reason=R.KUBERNETES_UNAVAILABLE)
    return InternalError.wrap(error, doing)


NAMESPACE_CACHE_SECONDS = 30.0
# While the API server does not answer, a credential or namespace policy read successfully this
# recently still serves, so a handoff (which needs no other Kubernetes call before its Slack write)
# lands on time during an outage; a read that has such a fallback waits at most SHORT_READ_SECONDS.
LAST_GOOD_SECONDS = 600.0
SHORT_READ_SECONDS = 2.0
KUBE_THREADS = 8
SecretRef = tuple[str, str]  # namespace, name
UNSEEN = object()  # a Secret this process has not read yet
# The label by which a Secret opts in to being used as credentials by the operator's resources.
CREDENTIALS_LABEL = "oncall-operator.dev/credentials"


class Kube:
    """The operator's own Kubernetes calls."""

    def __init__(self, configuration: kubernetes.client.Configuration) -> None:
        self.configuration = configuration
        self._client = kubernetes.client.ApiClient(configuration)
        self._namespaces: dict[str, tuple[float, dict[str, str]]] = {}
        self._secret_versions: dict[SecretRef, str | None] = {}  # as last read: None = did not exist
        self._last_good_keys: dict[tuple[str, str, str], tuple[float, str]] = {}  # (ns, name, key)
        # Our own threads: calls hung on a silent API server (each may hold a thread for minutes
        # through urllib3's retries) never starve the loop's default executor or other clients.
        self._executor = ThreadPoolExecutor(max_workers=KUBE_THREADS, thread_name_prefix="kube")

    def seen_version(self, ref: SecretRef) -> str | object | None:
        return self._secret_versions.get(ref, UNSEEN)

    async def namespace_annotations(self, name: str) -> dict[str, str]:
        """A namespace's annotations, cached briefly (an admin's edit applies within 30 s)."""
        cached = self._namespaces.get(name)
        if cached and time.monotonic() - cached[0] < NAMESPACE_CACHE_SECONDS:
            return cached[1]
        core = kubernetes.client.CoreV1Api(self._client)
        fallback = cached[1] if cached and time.monotonic() - cached[0] < LAST_GOOD_SECONDS else None
        namespace = await self._read_or_last_good(
            f"reading namespace {name}",
            lambda: core.read_namespace(name, _request_timeout=REQUEST_TIMEOUT),
            fallback is not None,
        )
        if namespace is None:
            assert fallback is not None
            return fallback
        annotations = dict((namespace.metadata and namespace.metadata.annotations) or {})
        self._namespaces[name] = (time.monotonic(), annotations)
        return annotations

    async def may(self, verb: str, resource: str, group: str = "") -> bool:
        """Whether this account may `verb` `resource` cluster-wide (a SelfSubjectAccessReview)."""
        review = kubernetes.client.V1SelfSubjectAccessReview(
            spec=kubernetes.client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=kubernetes.client.V1ResourceAttributes(
                    verb=verb, resource=resource, group=group
                )
            )
        )
        authorization = kubernetes.client.AuthorizationV1Api(self._client)
        answer = await self._run(
            f"reviewing access to {verb} {resource}",
            lambda: authorization.create_self_subject_access_review(review, _request_timeout=REQUEST_TIMEOUT),
        )
        return bool(answer.status and answer.status.allowed)

    async def _read_or_last_good(self, doing: str, call: Callable[[], T], has_fallback: bool) -> T | None:
        """The read's answer; None when the API server did not answer in time and a last good value
        may serve instead (the read goes on in its thread and is dropped)."""
        if not has_fallback:
            return await self._run(doing, call)
        try:
            return await asyncio.wait_for(self._run(doing, call), SHORT_READ_SECONDS)
        except (TimeoutError, Transient) as error:
            log.debug("%s: %s; using what was read before", doing, error or "no answer in time")
            return None

    async def _run(self, doing: str, call: Callable[[], T]) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        except Exception as error:
            raise classify(error, doing) from error

    async def read_secret_key(
        self, namespace: str, name: str, key: str, *, require_label: bool = False
    ) -> str:
        """Read at every use, so a rotated token is used without a restart. With `require_label`,
        only a Secret labelled CREDENTIALS_LABEL=true may be used, and an unlabelled one is reported
        exactly like a missing one (the operator is no oracle for what a namespace holds)."""
        missing = f"Secret {name} not found"
        if require_label:
            missing += f" (or not labelled {CREDENTIALS_LABEL}=true)"
        last = self._last_good_keys.get((namespace, name, key))
        fallback = last[1] if last and time.monotonic() - last[0] < LAST_GOOD_SECONDS else None
        try:
            secret = await self._read_or_last_good(
                f"reading Secret {name}", self._secret_read(namespace, name), fallback is not None
            )
            if secret is None:
                assert fallback is not None
                return fallback
        except NotFound as error:
            self._secret_versions[(namespace, name)] = None
            raise Misconfigured(missing, reason=R.SECRET_NOT_FOUND) from error
        except Unauthorized as error:
            raise Unauthorized(
                f"the operator may not read Secret {name}", reason=R.SECRET_FORBIDDEN
            ) from error
        self._secret_versions[(namespace, name)] = (
            secret.metadata.resource_version if secret.metadata else None
        )
        labels = (secret.metadata.labels if secret.metadata else None) or {}
        if require_label and labels.get(CREDENTIALS_LABEL) != "true":
            raise Misconfigured(missing, reason=R.SECRET_NOT_FOUND)
        data = secret.data or {}
        if key not in data:
            raise Misconfigured(f"Secret {name} has no key {key}", reason=R.SECRET_NOT_FOUND)
        try:
            value = base64.b64decode(data[key]).decode().strip()
        except (binascii.Error, UnicodeDecodeError) as error:
            raise Misconfigured(f"Secret {name} key {key} is not text", reason=R.SECRET_NOT_FOUND) from error
        self._last_good_keys[(namespace, name, key)] = (time.monotonic(), value)
        return value

    def _secret_read(self, namespace: str, name: str) -> Callable[[], Any]:
        core = kubernetes.client.CoreV1Api(self._client)
        return lambda: core.read_namespaced_secret(name, namespace, _request_timeout=REQUEST_TIMEOUT)

    async def _secret(self, namespace: str, name: str) -> Any:
        """The V1Secret; NotFound, Unauthorized or Transient otherwise."""
        return await self._run(f"reading Secret {name}", self._secret_read(namespace, name))

    async def secret_version(self, namespace: str, name: str) -> str | None:
        """The Secret's resourceVersion, or None when it does not exist."""
        try:
            secret = await self._secret(namespace, name)
        except NotFound:
            return None
        return str(secret.metadata.resource_version) if secret.metadata else None

    async def read_secret_data(self, namespace: str, name: str) -> dict[str, bytes] | None:
        """All keys of a Secret, decoded; None when it does not exist."""
        try:
            secret = await self._secret(namespace, name)
        except NotFound:
            return None
        return {key: base64.b64decode(value) for key, value in (secret.data or {}).items()}

    async def create_secret(
        self, namespace: str, name: str, data: dict[str, bytes], labels: dict[str, str]
    ) -> bool:
        """True when created, False when it existed already (another replica was first)."""
        core = kubernetes.client.CoreV1Api(self._client)
        body = kubernetes.client.V1Secret(
            metadata=kubernetes.client.V1ObjectMeta(name=name, labels=labels),
            data={key: base64.b64encode(value).decode() for key, value in data.items()},
            type="Opaque",
        )
        try:
            await self._run(
                f"creating Secret {name}",
                lambda: core.create_namespaced_secret(namespace, body, _request_timeout=REQUEST_TIMEOUT),
            )
        except Transient as error:
            if isinstance(error.__cause__, kubernetes.client.ApiException) and error.__cause__.status == 409:
                return False
            raise
        return True

    async def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        """A JSON merge patch of .status; a resource deleted meanwhile is nothing to report on."""
        api = kubernetes.client.CustomObjectsApi(self._client)
        try:
            await self._run(
                f"writing the status of {plural}/{name}",
                lambda: api.patch_namespaced_custom_object_status(
                    API_GROUP,
                    API_VERSION,
                    namespace,
                    plural,
                    name,
                    {"status": status},
                    _request_timeout=REQUEST_TIMEOUT,
                ),
            )
        except NotFound:
            return

    async def create_object(self, plural: str, namespace: str, body: dict[str, Any]) -> bool:
        """Creates one of our objects: True when created, False when one of that name exists (the
        API server's 409 is how two replicas, or a restart, agree that one run per slot exists)."""
        api = kubernetes.client.CustomObjectsApi(self._client)
        name = body.get("metadata", {}).get("name", "?")
        try:
            await self._run(
                f"creating {plural}/{name}",
                lambda: api.create_namespaced_custom_object(
                    API_GROUP, API_VERSION, namespace, plural, body, _request_timeout=REQUEST_TIMEOUT
                ),
            )
        except Transient as error:
            if isinstance(error.__cause__, kubernetes.client.ApiException) and error.__cause__.status == 409:
                return False
            raise
        return True

    async def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        """Raises NotFound when it does not exist."""
        api = kubernetes.client.CustomObjectsApi(self._client)
        found: Any = await self._run(
            f"reading {plural}/{name}",
            lambda: api.get_namespaced_custom_object(
                API_GROUP, API_VERSION, namespace, plural, name, _request_timeout=REQUEST_TIMEOUT
            ),
        )
        return dict(found)

    async def list_objects(self, plural: str, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        api = kubernetes.client.CustomObjectsApi(self._client)
        listing: Any = await self._run(
            f"listing {plural}",
            lambda: api.list_namespaced_custom_object(
                API_GROUP,
                API_VERSION,
                namespace,
                plural,
                label_selector=label_selector,
                _request_timeout=REQUEST_TIMEOUT,
            ),
        )
        return list(listing.get("items") or [])

    async def probe_list(self, plural: str, namespace: str | None) -> None:
        """One object at most of a kind (in a namespace, or in all): readiness' sign that the API
        server answers this process for what its watches cover. Raises the taxonomy on failure."""
        api = kubernetes.client.CustomObjectsApi(self._client)
        if namespace is None:
            await self._run(
                f"checking {plural}",
                lambda: api.list_cluster_custom_object(
                    API_GROUP, API_VERSION, plural, limit=1, _request_timeout=PROBE_TIMEOUT
                ),
            )
        else:
            await self._run(
                f"checking {plural}",
                lambda: api.list_namespaced_custom_object(
                    API_GROUP, API_VERSION, namespace, plural, limit=1, _request_timeout=PROBE_TIMEOUT
                ),
            )

    async def patch_object(
        self, plural: str, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        """A JSON merge patch of the object (metadata or spec; status has patch_status)."""
        api = kubernetes.client.CustomObjectsApi(self._client)
        patched: Any = await self._run(
            f"patching {plural}/{name}",
            lambda: api.patch_namespaced_custom_object(
                API_GROUP, API_VERSION, namespace, plural, name, patch, _request_timeout=REQUEST_TIMEOUT
            ),
        )
        return dict(patched)

    async def delete_object(self, plural: str, namespace: str, name: str) -> None:
        """Deleting what is gone already is done."""
        api = kubernetes.client.CustomObjectsApi(self._client)
        try:
            await self._run(
                f"deleting {plural}/{name}",
                lambda: api.delete_namespaced_custom_object(
                    API_GROUP, API_VERSION, namespace, plural, name, _request_timeout=REQUEST_TIMEOUT
                ),
            )
        except NotFound:
            return

    # Privacy kinds (RetentionPolicy, DeletionRequest): listings across the watched namespaces,
    # Events and the subject Secret.
    async def list_everywhere(self, plural: str, namespaces: tuple[str, ...]) -> list[dict[str, Any]]:
        """Our objects of one kind in the given namespaces, or in every namespace when none is given."""
        if namespaces:
            found: list[dict[str, Any]] = []
            for namespace in namespaces:
                found.extend(await self.list_objects(plural, namespace, ""))
            return found
        api = kubernetes.client.CustomObjectsApi(self._client)
        listing: Any = await self._run(
            f"listing {plural}",
            lambda: api.list_cluster_custom_object(
                API_GROUP, API_VERSION, plural, _request_timeout=REQUEST_TIMEOUT
            ),
        )
        return list(listing.get("items") or [])

    async def list_events(self, namespace: str | None) -> list[Any]:
        """core/v1 Events (V1Event) of a namespace, or of every namespace."""
        core = kubernetes.client.CoreV1Api(self._client)
        if namespace is None:
            listing: Any = await self._run(
                "listing Events",
                lambda: core.list_event_for_all_namespaces(_request_timeout=REQUEST_TIMEOUT),
            )
        else:
            listing = await self._run(
                "listing Events",
                lambda: core.list_namespaced_event(namespace, _request_timeout=REQUEST_TIMEOUT),
            )
        return list(listing.items or [])

    async def delete_event(self, namespace: str, name: str) -> None:
        core = kubernetes.client.CoreV1Api(self._client)
        try:
            await self._run(
                f"deleting Event {name}",
                lambda: core.delete_namespaced_event(name, namespace, _request_timeout=REQUEST_TIMEOUT),
            )
        except NotFound:
            return

    async def delete_secret(self, namespace: str, name: str) -> None:
        core = kubernetes.client.CoreV1Api(self._client)
        try:
            await self._run(
                f"deleting Secret {name}",
                lambda: core.delete_namespaced_secret(name, namespace, _request_timeout=REQUEST_TIMEOUT),
            )
        except NotFound:
            return

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._client.close()  # type: ignore[no-untyped-call]
