"""Injected faults: what can go wrong, for which requests, how often. The answers are in fault_answers.py.

Most kinds answer *instead of* the handler, so a faulted write changes nothing; the kinds in
`AFTER_HANDLER` run the handler first (the write lands) and then spoil its answer.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FaultKind = Literal[
    "status",
    "error_rate",
    "latency",
    "timeout",
    "rate_limit",
    "malformed_json",
    "drop_connection",
    "status_after_apply",
    # hostile answers
    "html_error",
    "plain_text",
    "json_body",
    "drop_field",
    "null_field",
    "set_field",
    "drip_feed",
    "headers_then_silence",
    "huge_body",
    "paging_loop",
]

# Kinds that let the handler run (and a write land) before they spoil the answer.
AFTER_HANDLER = frozenset(
    {"status_after_apply", "drop_field", "null_field", "set_field", "drip_feed", "paging_loop"}
)

DEFAULT_STATUS: dict[str, int] = {"html_error": 502, "plain_text": 200, "json_body": 200}


class Fault(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = ""
    api: Literal["slack", "pagerduty"]
    # Slack method name, PagerDuty "VERB /path/{id}", or "*" for every request of the API.
    method: str = "*"
    kind: FaultKind
    # Default per kind: html_error 502, plain_text and json_body 200, everything else 503.
    status: int = Field(default=0, ge=0, le=599)
    rate: float = Field(default=1.0, ge=0.0, le=1.0)
    latency_seconds: float = Field(default=1.0, ge=0.0)
    # rate_limit: Retry-After / ratelimit-reset. Positive seconds as given (0 sends 1); negative
    # numbers and strings verbatim ("inf", "soon"); "http-date+N" is the HTTP-date N seconds from now.
    retry_after: int | str = 1
    count: int | None = Field(default=None, ge=1)
    # Let this many matching requests through untouched before the fault starts (e.g. page 3 only:
    # after_requests 2, count 1).
    after_requests: int = Field(default=0, ge=0)
    # plain_text / html_error: the body (defaults: an Envoy reset message / nginx's error page).
    text: str | None = None
    # json_body: the JSON value answered verbatim ([], "x", null, {"ok": false, "error": 42}, ...);
    # set_field: the value put at `field`.
    body: Any = None
    # drop_field / null_field / set_field: where, e.g. "usergroups", "oncalls[].user.id",
    # "members[0].profile". set_field adds the key where it is missing (an unexpected field) or
    # replaces its value (a wrong type: "oncalls[].user.id" set to 42).
    field: str | None = None
    # drip_feed: seconds between body bytes.
    interval_seconds: float = Field(default=1.0, ge=0.0)
    # huge_body: bytes streamed (never held in memory).
    size_bytes: int = Field(default=200 * 1024 * 1024, ge=64)
    # paging_loop (PagerDuty classic pagination): "empty_more" answers empty pages with more=true
    # forever; "same_page" answers the first page again for every offset, with more=true.
    mode: Literal["empty_more", "same_page"] = "empty_more"
    applied: int = 0
    seen: int = 0

    @model_validator(mode="after")
    def _complete(self) -> Fault:
        if not self.status:
            self.status = DEFAULT_STATUS.get(self.kind, 503)
        if self.kind == "json_body" and "body" not in self.model_fields_set:
            raise ValueError("json_body needs `body` (any JSON value, null included)")
        if self.kind == "set_field" and "body" not in self.model_fields_set:
            raise ValueError("set_field needs `body`: the value to put at `field` (null included)")
        if self.kind in ("drop_field", "null_field", "set_field"):
            if not self.field or "[" in self.field.rsplit(".", 1)[-1]:
                raise ValueError(f"{self.kind} needs `field` ending in a key (e.g. oncalls[].user.id)")
            if any(
                not (i == "" or i.isdigit()) for _, i in map(_split, self.field.split(".")) if i is not None
            ):
                raise ValueError("list selectors in `field` are [] or [N]")
        if isinstance(self.retry_after, str) and self.retry_after.startswith("http-date+"):
            try:
                float(self.retry_after.removeprefix("http-date+"))
            except ValueError:
                raise ValueError("retry_after http-date+N needs a number of seconds") from None
        if self.kind == "paging_loop" and self.api != "pagerduty":
            raise ValueError("paging_loop is for PagerDuty's classic pagination")
        return self


class FaultSet:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, fault: Fault) -> Fault:
        fault.id = f"F{next(self._ids)}"
        self._faults.append(fault)
        return fault

    def all(self) -> list[Fault]:
        return list(self._faults)

    def clear(self) -> None:
        self._faults.clear()

    def match(self, api: str, method: str) -> list[Fault]:
        return [f for f in self._faults if f.api == api and f.method in ("*", method)]

    def firing(self, api: str, method: str, dice: random.Random) -> Iterator[Fault]:
        """The faults that apply to this request, in the order added; each counts as used when yielded."""
        for fault in self.match(api, method):
            fault.seen += 1
            if fault.seen <= fault.after_requests:
                continue
            if fault.rate < 1.0 and dice.random() >= fault.rate:
                continue
            self.consume(fault)
            yield fault

    def consume(self, fault: Fault) -> None:
        """Count one application; a fault with a `count` disappears once used up."""
        fault.applied += 1
        if fault.count is not None and fault.applied >= fault.count and fault in self._faults:
            self._faults.remove(fault)


def _split(segment: str) -> tuple[str, str | None]:
    """`"oncalls[]"` -> ("oncalls", ""), `"oncalls[2]"` -> ("oncalls", "2"), `"user"` -> ("user", None)."""
    if segment.endswith("]") and "[" in segment:
        key, index = segment[:-1].split("[", 1)
        return key, index
    return segment, None


_KEEP: Any = object()


def edit_field(document: Any, path: str, *, drop: bool, value: Any = _KEEP) -> Any:
    """`document` with the member at `path` removed (drop), set to null, or (given `value`) set to
    `value` - then also added to every object on the path that lacks it.

    `path` is dotted keys; `key[]` walks every element of a list, `key[N]` one element:
    "usergroups", "oncalls[].user.id", "members[0].profile"."""
    segments = path.split(".")
    nodes: list[Any] = [document]
    for segment in segments[:-1]:
        key, index = _split(segment)
        following: list[Any] = []
        for node in nodes:
            if not isinstance(node, dict) or key not in node:
                continue
            child = node[key]
            if index is None:
                following.append(child)
            elif isinstance(child, list):
                following += child if index == "" else child[int(index) : int(index) + 1]
        nodes = following
    last = segments[-1]
    for node in nodes:
        if value is not _KEEP:
            if isinstance(node, dict):
                node[last] = value
        elif isinstance(node, dict) and last in node:
            if drop:
                del node[last]
            else:
                node[last] = None
    return document
