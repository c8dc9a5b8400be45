"""Posting the Events core decides on, through Kopf (which names the operator as their source)."""

from __future__ import annotations

import kopf

from oncall_operator.core.events import EventToPost


def post_event(body: kopf.Body, event: EventToPost) -> None:
    post = kopf.warn if event.warning else kopf.info
    post(body, reason=event.reason, message=event.message)
