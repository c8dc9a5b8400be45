"""Kopf handlers of OnCallSync: decorators that hand over to the daemon and reconcile modules."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
from pydantic import ValidationError

from oncall_operator import API_GROUP, API_VERSION
from oncall_operator.api.common import validation_problems
from oncall_operator.api.oncallsync import ON_CALL_SYNC, OnCallSyncSpec, OnCallSyncStatus
from oncall_operator.api.reasons import CommonReason
from oncall_operator.core import oncallsync as decide
from oncall_operator.core.errors import NotFound, OperatorError
from oncall_operator.core.ownership import Claim
from oncall_operator.core.status import parse_status, render_status
from oncall_operator.kinds.oncallsync.daemon import Scheduler, keep_in_sync
from oncall_operator.kinds.oncallsync.lookahead import Lookahead
from oncall_operator.kinds.oncallsync.reconcile import claim_of
from oncall_operator.services import Services

RESOURCE = (API_GROUP, API_VERSION, ON_CALL_SYNC.plural)


def register(registry: kopf.OperatorRegistry, services: Services) -> None:
    scheduler = Scheduler(workers=asyncio.Semaphore(services.settings.workers))
    lookahead = Lookahead(services, scheduler)

    @kopf.on.startup(id="oncallsync_lookahead", registry=registry)
    async def start_lookahead(**_: Any) -> None:  # async: Kopf runs sync handlers in threads
        lookahead.start()

    @kopf.on.cleanup(id="oncallsync_lookahead", registry=registry)
    async def stop_lookahead(**_: Any) -> None:
        await lookahead.stop()

    @kopf.on.resume(*RESOURCE, id="validate", registry=registry)
    @kopf.on.create(*RESOURCE, id="validate", registry=registry)
    @kopf.on.update(*RESOURCE, field="spec", id="validate", registry=registry)
    async def validate_and_wake(
        reason: str,
        body: kopf.Body,
        spec: kopf.Spec,
        meta: kopf.Meta,
        status: kopf.Status,
        uid: str,
        patch: kopf.Patch,
        **_: Any,
    ) -> None:
        """Admission already checked the schema; this catches what a schema cannot (or an old CRD)."""
        try:
            OnCallSyncSpec.model_validate(dict(spec))
        except ValidationError as error:
            problems = validation_problems(error)
            previous = parse_status(OnCallSyncStatus, status)
            invalid = decide.invalid_spec_status(
                previous, problems, meta.get("generation"), await services.clock.now()
            )
            patch.status.update(render_status(invalid))
            kopf.warn(body, reason=CommonReason.INVALID_SPEC, message=problems)
            raise kopf.PermanentError(f"invalid spec: {problems}") from None
        if reason == "update":  # the daemon syncs on its own when it starts (create/resume)
            scheduler.wake(uid)

    @kopf.index(*RESOURCE, id="group_claims", registry=registry)
    def group_claims(body: kopf.Body, **_: Any) -> dict[str, Claim] | None:
        """Every OnCallSync by the handle it names: the claims ownership is decided among."""
        return claim_of(body)

    @kopf.daemon(*RESOURCE, id="sync", cancellation_timeout=10.0, registry=registry)
    async def sync(
        body: kopf.Body,
        namespace: str | None,
        name: str,
        uid: str,
        stopped: kopf.DaemonStopped,
        logger: kopf.Logger,
        **kwargs: Any,
    ) -> None:
        assert namespace is not None  # OnCallSync is namespaced
        claims: kopf.Index[str, Claim] = kwargs["group_claims"]  # Kopf passes indexes by their name
        await keep_in_sync(
            services,
            scheduler,
            logger,
            body,
            namespace,
            name,
            uid,
            stopped,
            lambda handle: list(claims.get(handle, [])),
        )

    @kopf.on.delete(*RESOURCE, id="release_group", retries=5, backoff=5, registry=registry)
    async def release_group(spec: kopf.Spec, namespace: str | None, status: kopf.Status, **_: Any) -> None:
        """onDelete: disableGroup disables the group; keep leaves it to its members."""
        group_id = status.get("slackUserGroupId")
        if spec.get("onDelete") != "disableGroup" or not group_id:
            return
        assert namespace is not None
        try:
            model = OnCallSyncSpec.model_validate(dict(spec))
            token = await services.read_credential(namespace, model.slack.token_secret_ref)
            await services.slack.set_enabled(token, group_id, False, priority=0.0)
        except NotFound:
            return  # the group is gone already
        except (OperatorError, ValidationError) as error:
            reason = error.reason if isinstance(error, OperatorError) else "InvalidSpec"
            raise kopf.TemporaryError(f"could not disable the group: {reason}", delay=10) from None
