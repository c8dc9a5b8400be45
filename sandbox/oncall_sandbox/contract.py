"""Contract check: recorded sandbox exchanges validated against the official OpenAPI specs.

Reusable by any suite that drives traffic through a sandbox created with `record_exchanges=True`
(or after `POST /_sandbox/exchanges {"enabled": true}`): fetch `GET /_sandbox/exchanges` and pass
the list to `validate_exchanges`. openapi-core is imported lazily (it is a test extra).
"""

from __future__ import annotations

import functools
import json
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

SLACK_SPEC = "slack-web-openapi-v3.json"
PAGERDUTY_SPEC = "pagerduty-rest-openapiv3.json"
SLACK_HOST, SLACK_PREFIX = "https://slack.com", "/api"
PAGERDUTY_HOST = "https://api.pagerduty.com"


@dataclass(frozen=True)
class Violation:
    seq: int
    api: str
    method: str
    phase: str  # "request" or "response"
    message: str
    details: tuple[str, ...] = ()  # one line per schema error, "path: problem"

    def __str__(self) -> str:
        if self.details:
            return f"#{self.seq} {self.api} {self.method} {self.phase}: " + "; ".join(self.details)
        return f"#{self.seq} {self.api} {self.method} {self.phase}: {self.message}"


@dataclass(frozen=True)
class KnownException:
    """A place where the spec and the real API (or its SDK) disagree, with the reason in one line.

    `match` is a regular expression searched in each schema-error line (or, when the error has no
    schema details, in the message); a violation is forgiven only when every line is. Adaptations
    applied before validation (match == "") are listed here too so every deviation is in one table."""

    key: str
    api: str
    method: str  # "*" for every method
    phase: str
    match: str
    reason: str


KNOWN_EXCEPTIONS: tuple[KnownException, ...] = (
    KnownException(
        "slack-empty-history",
        "slack",
        "conversations.history",
        "response",
        r"messages|\[\] is too short|should be non-empty",
        "the spec says a history has at least one message; an empty channel (or window) has none",
    ),
    KnownException(
        "slack-bearer-token",
        "slack",
        "*",
        "request",
        "",
        "the spec wants a `token` header/query/form parameter; slack-sdk sends `Authorization: Bearer` "
        "(Slack's documented preferred way) - the validator copies it into `token`",
    ),
    KnownException(
        "slack-post-everything",
        "slack",
        "*",
        "request",
        "",
        "slack-sdk's WebClient POSTs every method with a form body and AsyncWebClient puts POST arguments "
        "in the query (Slack accepts both); arguments are moved to where the spec's verb wants them",
    ),
    KnownException(
        "slack-json-body",
        "slack",
        "chat.postMessage",
        "request",
        "",
        "slack-sdk sends chat.postMessage as JSON (documented by Slack); the spec only lists form bodies "
        "- JSON bodies are validated as the equivalent form",
    ),
    KnownException(
        "slack-errors-are-200",
        "slack",
        "*",
        "response",
        "",
        "Slack answers errors with HTTP 200 and ok=false; the spec files them under `default` - "
        "ok=false bodies are validated against the `default` response",
    ),
    KnownException(
        "slack-accesslogs-cursor",
        "slack",
        "team.accessLogs",
        "response",
        "'response_metadata' was unexpected",
        "Slack added cursor paging (cursor/limit, response_metadata.next_cursor) to team.accessLogs "
        "after the 2021 spec, which forbids extra properties",
    ),
    KnownException(
        "slack-no-users-provided",
        "slack",
        "usergroups.users.update",
        "response",
        r"^error: 'no_users_provided' is not one of",
        "Slack documents no_users_provided (empty `users`); the 2021 spec's error enum lacks it",
    ),
    KnownException(
        "slack-not-allowed-token-type",
        "slack",
        "team.accessLogs",
        "response",
        r"^error: 'not_allowed_token_type' is not one of",
        "Slack answers not_allowed_token_type to bot tokens (a user-token method); the 2021 enum lists user_is_bot instead",
    ),
    KnownException(
        "pd-oncalls-include-users",
        "pagerduty",
        "GET /oncalls",
        "response",
        r"^oncalls/\d+/user/type: 'user' is not one of",
        "with include[]=users PagerDuty embeds full user objects (type `user`); the spec only allows references",
    ),
    KnownException(
        "pd-oncalls-null-schedule",
        "pagerduty",
        "GET /oncalls",
        "response",
        r"^oncalls/\d+/(schedule|start|end): None",
        "a user targeted directly by an escalation rule is on call permanently: schedule, start and end are null "
        "on PagerDuty, which the spec does not allow",
    ),
    KnownException(
        "pd-layer-open-end",
        "pagerduty",
        "*",
        "response",
        r"^schedule/schedule_layers/\d+/end: None",
        "a layer without an end has `end: null` on PagerDuty; the spec types it as a non-nullable string",
    ),
    KnownException(
        "pd-override-refs-read-only",
        "pagerduty",
        "POST /schedules/{id}/overrides",
        "request",
        r"^overrides/\d+/user/(id|type): Tried to write read-only property",
        "the spec reuses the read-only reference schema for the override's user, yet PD requires {id, type} there",
    ),
    KnownException(
        "pd-refs-in-writes-read-only",
        "pagerduty",
        "*",
        "request",
        r"^(schedule/schedule_layers/\d+/users/\d+/user|escalation_policy/escalation_rules/\d+/targets/\d+)/(id|type): Tried to write read-only property",
        "schedule layer users and escalation targets reuse the read-only reference schema, yet PD needs their {id, type} in PUT bodies",
    ),
    KnownException(
        "pd-type-required-read-only",
        "pagerduty",
        "*",
        "request",
        r"^(schedule|escalation_policy)/type: Tried to write read-only property",
        "the spec makes `type` both required and read-only in schedule and policy bodies; PD's own examples send it",
    ),
    KnownException(
        "pd-put-policy-400",
        "pagerduty",
        "PUT /escalation_policies/{id}",
        "response",
        r"Unknown response http status: 400",
        "PD answers 400 with its error envelope to an invalid policy (a rule without targets, an unknown target); the spec lists no 400",
    ),
    KnownException(
        "pd-incident-resolved-at-null",
        "pagerduty",
        "GET /incidents",
        "response",
        r"^incidents/\d+/resolved_at: None",
        "the spec describes resolved_at as null for unresolved incidents but types it as a non-nullable string",
    ),
    KnownException(
        "pd-list-overrides-200",
        "pagerduty",
        "GET /schedules/{id}/overrides",
        "response",
        r"Unknown response http status: 200",
        "the spec lists 201 for listing overrides (copied from create); PagerDuty answers 200",
    ),
    KnownException(
        "pd-delete-user-400",
        "pagerduty",
        "DELETE /users/{id}",
        "response",
        r"Unknown response http status: 400",
        "the spec's own description says deleting a user with open incidents returns 400, but lists no 400 response",
    ),
)


def _exceptions_for(api: str, method: str, phase: str) -> list[KnownException]:
    return [e for e in KNOWN_EXCEPTIONS if e.api == api and e.method in ("*", method) and e.phase == phase]


def _forgiven(violation: Violation) -> bool:
    patterns = [e.match for e in _exceptions_for(violation.api, violation.method, violation.phase) if e.match]
    lines = violation.details or (violation.message,)
    return all(any(re.search(p, line) for p in patterns) for line in lines)


@functools.lru_cache(maxsize=4)
def _load(path: str) -> Any:
    from openapi_core import Config, OpenAPI

    spec = json.loads(Path(path).read_text(encoding="utf-8"))
    # PagerDuty's spec has one invalid `default`, so spec validation is off (see specs/README.md).
    return OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))


@functools.lru_cache(maxsize=4)
def _slack_verbs(path: str) -> dict[str, set[str]]:
    spec = json.loads(Path(path).read_text(encoding="utf-8"))
    return {p.lstrip("/"): set(ops) for p, ops in spec["paths"].items()}


def _describe(error: BaseException) -> tuple[str, tuple[str, ...]]:
    """(summary, one line per schema error) of an openapi-core error and its causes."""
    message = f"{type(error).__name__}: {error}"
    details: list[str] = []
    cause: BaseException | None = error
    while cause is not None and not details:
        for schema_error in list(getattr(cause, "schema_errors", None) or [])[:50]:
            where = "/".join(str(p) for p in getattr(schema_error, "absolute_path", []))
            details.append(f"{where or '(root)'}: {getattr(schema_error, 'message', schema_error)}")
        cause = cause.__cause__ or cause.__context__
    return message[:2000], tuple(details)


def _slack_request(exchange: Mapping[str, Any], verbs: dict[str, set[str]]) -> tuple[Any, str]:
    from openapi_core.testing import MockRequest

    method = str(exchange["method"])
    query = parse_qsl(str(exchange.get("query", "")), keep_blank_values=True)
    body = str(exchange.get("request_body", ""))
    ctype = str(exchange["request_headers"].get("content-type", "")).split(";")[0].strip()
    fields: list[tuple[str, str]] = []
    if ctype == "application/json" and body:
        decoded = json.loads(body)
        for key, value in decoded.items():
            text = value if isinstance(value, str) else json.dumps(value)
            fields.append((key, ",".join(value) if isinstance(value, list) and key == "users" else text))
    elif body:
        fields = parse_qsl(body, keep_blank_values=True)
    token = "xoxb-contract-check"
    allowed = verbs.get(method, set())
    verb = "get" if "get" in allowed and "post" not in allowed else "post"
    headers = {"token": token}
    if verb == "get":
        args = [*query, *fields, ("token", token)]
        request = MockRequest(SLACK_HOST, "get", f"{SLACK_PREFIX}/{method}", args=args, headers=headers)  # type: ignore[arg-type]
    else:
        # AsyncWebClient puts POST arguments in the query string; validate them as the form body.
        form = "&".join(f"{k}={_quote(v)}" for k, v in [*query, *fields, ("token", token)])
        request = MockRequest(
            SLACK_HOST,
            "post",
            f"{SLACK_PREFIX}/{method}",
            headers=headers,
            data=form.encode(),
            content_type="application/x-www-form-urlencoded",
        )
    return request, verb


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _pagerduty_request(exchange: Mapping[str, Any]) -> Any:
    from openapi_core.testing import MockRequest

    path = str(exchange["path"]).removeprefix("/pagerduty") or "/"
    body = str(exchange.get("request_body", ""))
    headers = {
        "Authorization": "Token token=contract-check",
        "Accept": "application/vnd.pagerduty+json;version=2",
        "Content-Type": "application/json",
    }
    return MockRequest(
        PAGERDUTY_HOST,
        str(exchange["http_method"]).lower(),
        path,
        args=parse_qsl(str(exchange.get("query", "")), keep_blank_values=True),  # type: ignore[arg-type]
        headers=headers,
        data=body.encode() if body else None,
        content_type="application/json",
    )


def validate_exchanges(exchanges: Iterable[Mapping[str, Any]], specs_dir: str | Path) -> list[Violation]:
    """Every request and response checked against the vendor spec; known exceptions filtered out."""
    folder = Path(specs_dir)
    slack_path, pd_path = str(folder / SLACK_SPEC), str(folder / PAGERDUTY_SPEC)
    violations: list[Violation] = []
    with warnings.catch_warnings():
        # openapi-core warns about PagerDuty's custom auth scheme on every request.
        warnings.filterwarnings("ignore", "Unsupported scheme type", UserWarning)
        for exchange in exchanges:
            violations += _validate_one(exchange, slack_path, pd_path)
    return violations


def _validate_one(exchange: Mapping[str, Any], slack_path: str, pd_path: str) -> list[Violation]:
    from openapi_core.testing import MockResponse

    api, method, seq = str(exchange["api"]), str(exchange["method"]), int(exchange["seq"])
    if api == "slack":
        spec = _load(slack_path)
        request, _ = _slack_request(exchange, _slack_verbs(slack_path))
    else:
        spec = _load(pd_path)
        request = _pagerduty_request(exchange)
    found: list[Violation] = []
    try:
        spec.validate_request(request)
    except Exception as error:
        found.append(Violation(seq, api, method, "request", *_describe(error)))
    status = int(exchange["status"])
    body = str(exchange.get("response_body", ""))
    if api == "slack" and status == 200 and body.startswith('{"ok": false'):
        status = 599  # no such status in the spec: openapi-core falls back to `default`
    ctype = str(exchange["response_headers"].get("content-type", "application/json")).split(";")[0] or None
    response = MockResponse(
        body.encode(), status_code=status, content_type=ctype or "application/json", headers={}
    )
    try:
        spec.validate_response(request, response)
    except Exception as error:
        found.append(Violation(seq, api, method, "response", *_describe(error)))
    return [v for v in found if not _forgiven(v)]


def specs_dir_for(repo_root: Path) -> Path | None:
    """`<repo>/../shared/specs` when it holds both specs, else None."""
    folder = repo_root.parent / "shared" / "specs"
    return folder if (folder / SLACK_SPEC).is_file() and (folder / PAGERDUTY_SPEC).is_file() else None
