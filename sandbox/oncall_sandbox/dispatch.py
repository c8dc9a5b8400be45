"""One way to route a call to its handler, shared by both emulated APIs.

A handler registers under a key with its API's `Registry.handles` decorator: a Slack method name
(`usergroups.users.update`) or a PagerDuty verb and path template (`GET /schedules/{id}/overrides`).
`Registry.match` finds the route for a request key (the method name, or `"GET /schedules/PX/overrides"`)
and the values of the template's `{placeholders}`. The route key is also what the request log, the
statistics and the fault filters call the request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

H = TypeVar("H", bound=Callable[..., Any])


@dataclass(frozen=True)
class Route(Generic[H]):
    key: str
    handler: H
    # Writes name their target in the request log; reads never change state.
    writes: bool = False
    # The OAuth scope the call needs, when it does not depend on the arguments (Slack).
    scope: str | None = None
    segments: tuple[str, ...] = field(default=(), repr=False)


def _segments(key: str) -> tuple[str, ...]:
    return tuple(key.split("/"))


def _is_placeholder(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


class Registry(Generic[H]):
    """The handlers of one API, keyed by method name or by verb and path template."""

    def __init__(self, api: str) -> None:
        self.api = api
        self._exact: dict[str, Route[H]] = {}
        self._templates: dict[int, list[Route[H]]] = {}

    def handles(self, key: str, *, writes: bool = False, scope: str | None = None) -> Callable[[H], H]:
        def register(handler: H) -> H:
            if key in self._exact or any(r.key == key for rs in self._templates.values() for r in rs):
                raise ValueError(f"{self.api}: {key} registered twice")
            route = Route(key, handler, writes, scope, _segments(key))
            if any(_is_placeholder(s) for s in route.segments):
                bucket = self._templates.setdefault(len(route.segments), [])
                bucket.append(route)
                # Literal segments win over placeholders: the most literal template is tried first.
                bucket.sort(key=lambda r: -sum(not _is_placeholder(s) for s in r.segments))
            else:
                self._exact[key] = route
            return handler

        return register

    def match(self, request_key: str) -> tuple[Route[H], dict[str, str]] | None:
        """The route for a request key and the values of its placeholders, or None."""
        route = self._exact.get(request_key)
        if route is not None:
            return route, {}
        parts = _segments(request_key)
        for candidate in self._templates.get(len(parts), ()):
            values: dict[str, str] = {}
            for template, actual in zip(candidate.segments, parts, strict=True):
                if _is_placeholder(template):
                    if not actual:
                        break
                    values[template[1:-1]] = actual
                elif template != actual:
                    break
            else:
                return candidate, values
        return None

    def routes(self) -> list[Route[H]]:
        templated = [r for rs in self._templates.values() for r in rs]
        return sorted([*self._exact.values(), *templated], key=lambda r: r.key)

    def keys(self) -> set[str]:
        return {r.key for r in self.routes()}
