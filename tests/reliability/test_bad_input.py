"""Property-based bad input: hypothesis mutates valid specs of each kind and applies them to the real
API server. Each is rejected at admission with a message naming the field, or accepted and then
handled: a Ready condition with a reason and message, the operator alive, its calls per minute bounded.

Each kind is one entry in KINDS: its plural, a valid spec to mutate, and the condition that shows it
was handled. The DeletionRequest's valid spec is a Preview (nothing destructive) of a subject Secret
that does not exist: handled means a phase and a Ready condition saying why.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.cleanup import rule_body
from support.kube import Kube, wait_for
from support.oncall import Sandbox, create_token_secrets, oncallsync

pytestmark = pytest.mark.cluster

EXAMPLES = int(os.environ.get("ONCALL_RELIABILITY_EXAMPLES", "25"))  # test-long: 150
# Accepted but broken resources back off (5 s doubling, 60 s for what a person must fix): per resource,
# never more than this many Slack + PagerDuty calls a minute once they are all handled.
CALLS_PER_RESOURCE_MINUTE = 12


@dataclass(frozen=True)
class KindUnderTest:
    kind: str
    plural: str
    spec: Callable[[], dict[str, Any]]  # a valid spec, to mutate
    handled: Callable[[dict[str, Any]], bool]  # the object's state shows the operator dealt with it


def _ready_condition(item: dict[str, Any]) -> bool:
    conditions = (item.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c["type"] == "Ready"), None)
    return bool(ready and ready.get("reason") and (ready["status"] == "True" or ready.get("message")))


KINDS = [
    KindUnderTest("OnCallSync", "oncallsyncs", lambda: oncallsync("x", "x")["spec"], _ready_condition),
    KindUnderTest(
        "CleanupRule",
        "cleanuprules",
        lambda: rule_body(safety={"maxAffected": 10, "maxAffectedPercent": 50}),
        _ready_condition,
    ),
    KindUnderTest(
        "RetentionPolicy",
        "retentionpolicies",
        lambda: {
            "rules": [
                {"data": "cleanupRuns", "maxAge": "30d", "maxCount": 50},
                {"data": "deletionReceipts", "maxAge": "365d"},
                {"data": "events", "maxAge": "1h"},
            ],
            "interval": "1h",
        },
        _ready_condition,
    ),
    KindUnderTest(
        "DeletionRequest",
        "deletionrequests",
        lambda: {
            "subjectSecretRef": {"name": "erase-nobody"},
            "mode": "Preview",
            "scope": ["operatorData"],
            "credentials": {
                "slack": {"tokenSecretRef": {"name": "slack", "key": "bot-token"}},
                "pagerDuty": {"tokenSecretRef": {"name": "pagerduty", "key": "token"}},
            },
        },
        lambda item: bool((item.get("status") or {}).get("phase")) and _ready_condition(item),
    ),
]

HOSTILE_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", " ", "-1s", "0s", "999999h", "1h30", "*/0 * * * *", "{nope}", "Europe/Nowhere"]),
    st.text(min_size=0, max_size=40),
    st.text(alphabet="é漢😀\u202e\x00-_.@", min_size=1, max_size=300),
    st.lists(st.text(max_size=8), max_size=3),
    st.dictionaries(st.text(min_size=1, max_size=6), st.integers(), max_size=2),
)


def _paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _set(spec: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    target: Any = spec
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


# Values of the right type that may still be wrong: ids nobody has, odd names, unicode, edge numbers.
PLAUSIBLE_TEXT = st.one_of(
    st.sampled_from(["PNOSUCH", "C0NOPE0001", "S0NOPE0001", "UNOBODY", "oncall", "a-b", "30s", "24h", "UTC"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.é漢", min_size=1, max_size=30),
)


def _same_type(original: Any) -> st.SearchStrategy[Any]:
    if isinstance(original, bool):
        return st.booleans()
    if isinstance(original, int):
        return st.integers(min_value=-3, max_value=10**7)
    if isinstance(original, str):
        return PLAUSIBLE_TEXT
    if isinstance(original, list):
        return st.lists(PLAUSIBLE_TEXT, max_size=4)
    return HOSTILE_VALUES


@st.composite
def mutated_specs(draw: st.DrawFn, kind: KindUnderTest) -> tuple[dict[str, Any], list[tuple[str | int, ...]]]:
    """A valid spec with 1-3 values replaced: mostly by values of the same type (often accepted, then the
    operator must cope), else by hostile ones of any type, or an unknown field added."""
    spec = copy.deepcopy(kind.spec())
    changed: list[tuple[str | int, ...]] = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(spec)
        mode = draw(st.sampled_from(["same-type", "same-type", "same-type", "hostile", "unknown-field"]))
        if mode == "same-type" and paths:
            path = draw(st.sampled_from(paths))
            try:
                _set(spec, path, draw(_same_type(_get(spec, path))))
            except (KeyError, IndexError, TypeError):
                continue
            changed.append(path)
            continue
        if mode == "unknown-field" or not paths:
            parent = draw(st.sampled_from([p for p in paths if isinstance(_get(spec, p), dict)] + [()]))
            key = draw(st.sampled_from(["unknownField", "Slack", "x" * 70]))
            path: tuple[str | int, ...] = (*parent, key)
        else:
            path = draw(st.sampled_from(paths))
        try:
            _set(spec, path, draw(HOSTILE_VALUES))
        except (KeyError, IndexError, TypeError):
            continue
        changed.append(path)
    return spec, changed


def _get(spec: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        spec = spec[key]
    return spec


def _names_a_field(message: str, paths: list[tuple[str | int, ...]]) -> bool:
    words = {str(key) for path in paths for key in path if isinstance(key, str)}
    return any(word in message for word in words) or "spec." in message


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_generated_specs_are_rejected_naming_the_field_or_handled(
    kube: Kube, namespace: str, sandbox: Sandbox, operators: Any, kind: KindUnderTest, figures: dict[str, str]
) -> None:
    create_token_secrets(kube, namespace)
    operator = operators("-n", namespace, env=sandbox.server.operator_env()).start()
    accepted: list[str] = []
    rejected: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(mutated_specs(kind))
    def apply_one(case: tuple[dict[str, Any], list[tuple[str | int, ...]]]) -> None:
        spec, paths = case
        name = f"gen-{len(accepted) + len(rejected):04d}"
        manifest = {
            "apiVersion": "oncall-operator.dev/v1alpha1",
            "kind": kind.kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
        result = kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(manifest), check=False)
        if result.returncode == 0:
            accepted.append(name)
            return
        rejected.append(name)
        message = result.stderr
        assert "Internal error" not in message and "panic" not in message, message
        assert _names_a_field(message, paths), (paths, message)

    apply_one()
    began = time.monotonic()
    sandbox.control("DELETE", "requests")

    def unhandled() -> list[str] | None:
        items = json.loads(kube.kubectl("get", kind.plural, "-n", namespace, "-o", "json").stdout)["items"]
        missing = [i["metadata"]["name"] for i in items if not kind.handled(i)]
        return None if missing else ["all handled"]

    wait_for(unhandled, timeout=120, interval=1, what=f"a condition on every accepted {kind.kind}")
    # Then half a minute of retries: bounded calls, no crash.
    wait_for(lambda: time.monotonic() - began >= 30, timeout=40, interval=1)
    calls = len(sandbox.requests())
    minutes = (time.monotonic() - began) / 60
    assert operator.alive(), operator.tail()
    assert calls / minutes <= CALLS_PER_RESOURCE_MINUTE * max(1, len(accepted)), (
        calls,
        minutes,
        len(accepted),
    )
    figures[f"bad input {kind.kind}"] = (
        f"{len(accepted) + len(rejected)} generated specs: {len(rejected)} rejected at admission naming a field, "
        f"{len(accepted)} accepted and handled; {calls / minutes:.0f} calls/min afterwards"
    )
