"""Who may write a Slack user group: one owner per group, and only where the namespace allows it.

Every OnCallSync naming a handle is a claim. The owner is the oldest claim (creation time, then
namespace/name) among those in the same workspace - or whose workspace is not known yet, so two
resources never both write while one is still starting. The others make no writes and say who owns
the group; when the owner goes, the next oldest takes over.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Claim:
    created: str  # RFC 3339, so string order is time order
    namespace: str
    name: str
    uid: str

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


def owner(claims: Iterable[Claim], mine: Claim, team: str | None, teams: Mapping[str, str]) -> Claim:
    """The claim that may write the group `mine` names. `teams` maps uids to the Slack workspace
    their token resolved to; a claim in another workspace is not a rival."""
    rivals = [c for c in claims if c.uid == mine.uid or teams.get(c.uid) in (None, team) or team is None]
    return min(rivals, default=mine)


ANNOTATION = "oncall-operator.dev/user-groups"


def handle_allowed(handle: str, patterns: str | None, *, required: bool) -> bool:
    """Whether a namespace annotated with `patterns` (comma-separated globs, e.g. "payments-*,sre")
    may manage @handle. Without the annotation: allowed unless the operator requires it."""
    if patterns is None:
        return not required
    return any(fnmatch.fnmatchcase(handle, p.strip()) for p in patterns.split(",") if p.strip())
