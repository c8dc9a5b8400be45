"""The sandbox enforces the operator's table of Slack tiers; the operator never imports the sandbox."""

from __future__ import annotations

import re

from oncall_operator.clients import slack_limits
from oncall_sandbox import slack
from oncall_sandbox.clock import Clock
from oncall_sandbox.core import Sandbox
from oncall_sandbox.seed import DEFAULT_SEED_PATH, load_seed
from oncall_sandbox.state import SandboxState
from support.kube import REPO_ROOT


def test_operator_never_imports_sandbox_or_devkit() -> None:
    pattern = re.compile(r"^\s*(from|import)\s+(oncall_sandbox|oncall_devkit)\b", re.MULTILINE)
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for path in (REPO_ROOT / "operator" / "oncall_operator").rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_sandbox_limits_are_the_documented_tiers() -> None:
    seed = load_seed(DEFAULT_SEED_PATH)
    sandbox = Sandbox(
        SandboxState(seed, Clock()), pagerduty_rate_limit_per_minute=960, record_exchanges=False
    )
    for method in slack.METHODS.keys() - {"chat.postMessage"}:
        assert sandbox.slack_limit(method) == (slack_limits.per_minute(method), 60.0), method
    assert sandbox.slack_limit("chat.postMessage") == slack_limits.POST_MESSAGE_PER_CHANNEL
    # Every method the sandbox serves has its tier in the table (no silent Tier 3 default).
    assert slack.METHODS.keys() <= set(slack_limits.METHOD_TIER)
