"""Kopf handlers of CleanupRule: spec checks, a scheduling daemon per rule, and wake-ups when the
rule changes (spec, run-now annotation) or one of its runs reaches a new phase."""

from __future__ import annotations

from typing import Any

import kopf
from pydantic import ValidationError

from oncall_operator import API_GROUP, API_VERSION
from oncall_operator.api.cleanup import CLEANUP_RULE, CleanupRuleSpec, CleanupRuleStatus
from oncall_operator.api.cleanuprun import CLEANUP_RUN, RULE_UID_LABEL
from oncall_operator.api.common import validation_problems
from oncall_operator.core.cleanup import rulestatus
from oncall_operator.core.status import parse_status, render_status
from oncall_operator.kinds.cleanuprule.daemon import RuleScheduler, keep_rule
from oncall_operator.kinds.cleanuprun.gather import People
from oncall_operator.services import Services

RESOURCE = (API_GROUP, API_VERSION, CLEANUP_RULE.plural)
RUNS = (API_GROUP, API_VERSION, CLEANUP_RUN.plural)


def register(registry: kopf.OperatorRegistry, services: Services) -> None:
    scheduler = RuleScheduler()
    people = People.of(services)

    @kopf.on.resume(*RESOURCE, registry=registry)
    @kopf.on.create(*RESOURCE, registry=registry)
    @kopf.on.update(*RESOURCE, registry=registry)
    async def validate_and_wake(
        spec: kopf.Spec,
        meta: kopf.Meta,
        status: kopf.Status,
        uid: str,
        patch: kopf.Patch,
        **_: Any,
    ) -> None:
        """Admission checked the schema; this names what it cannot (a cron field, a time zone)."""
        try:
            CleanupRuleSpec.model_validate(dict(spec))
        except ValidationError as error:
            problems = validation_problems(error, "spec.")
            invalid = rulestatus.invalid_rule_status(
                parse_status(CleanupRuleStatus, status),
                problems,
                await services.clock.now(),
                meta.get("generation"),
            )
            patch.status.update(render_status(invalid))
            raise kopf.PermanentError(f"invalid spec: {problems}") from None
        # Spec or the run-now annotation changed. Also on create/resume: a change that arrives while
        # Kopf handles the creation is folded into it, after the daemon's first pass may have read
        # the older body; an extra pass costs one listing of the rule's runs.
        scheduler.wake(uid)

    @kopf.daemon(*RESOURCE, cancellation_timeout=10.0, registry=registry)
    async def schedule(
        body: kopf.Body, namespace: str | None, name: str, uid: str, stopped: kopf.DaemonStopped, **_: Any
    ) -> None:
        assert namespace is not None  # CleanupRule is namespaced
        await keep_rule(services, people, scheduler, body, namespace, name, uid, stopped)

    def phase_changed(type: str, body: kopf.Body, uid: str, **_: Any) -> bool:
        """Only a new phase (or a deletion) matters to the rule; a run's progress patches do not
        (and so do not reach the handler, nor its log line)."""
        return type == "DELETED" or scheduler.run_phases.get(uid) != (body.get("status") or {}).get("phase")

    @kopf.on.event(*RUNS, when=phase_changed, registry=registry)
    async def run_changed(type: str, body: kopf.Body, uid: str, labels: kopf.Labels, **_: Any) -> None:
        """A run reached a new phase (or went away): its rule updates its history."""
        if type == "DELETED":
            scheduler.run_phases.pop(uid, None)
        else:
            scheduler.run_phases[uid] = (body.get("status") or {}).get("phase")
        rule_uid = labels.get(RULE_UID_LABEL)
        if rule_uid:
            scheduler.wake(rule_uid)
