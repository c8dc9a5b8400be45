"""E2E fixtures: a sandbox per test and the operator process pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from oncall_sandbox.seed import SandboxSeed
from oncall_sandbox.server import SandboxServer
from support import scenario
from support.kube import Kube, operator_process
from support.oncall import Sandbox, create_token_secrets


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with SandboxServer(SandboxSeed.model_validate(scenario.seed())) as server:
        yield Sandbox(server)


@pytest.fixture
def operator(kube: Kube, namespace: str, sandbox: Sandbox, tmp_path: Path) -> Iterator[Path]:
    """The operator as users run it, watching the test's namespace, talking to the sandbox."""
    create_token_secrets(kube, namespace)
    log = tmp_path / "operator.log"
    # A short look-ahead, so changes made between handoffs are heard within the tests' deadlines.
    env = {**sandbox.server.operator_env(), "ONCALL_LOOKAHEAD_INTERVAL": "2s"}
    with operator_process(kube, "-n", namespace, env=env, log_path=log) as process:
        yield log
        assert process.poll() is None, f"the operator died: {log.read_text()[-3000:]}"
