"""Reliability fixtures: a sandbox per test, operator processes the test may kill, a figures report."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from oncall_sandbox.seed import SandboxSeed
from oncall_sandbox.server import SandboxServer
from support import scenario
from support.kube import Kube
from support.oncall import Sandbox
from support.reliability import OperatorProcess

# Figures the tests measured (e.g. the worst convergence time after a crash), printed in the summary.
FIGURES: dict[str, str] = {}


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with SandboxServer(SandboxSeed.model_validate(scenario.seed())) as server:
        yield Sandbox(server)


@pytest.fixture
def figures() -> dict[str, str]:
    return FIGURES


OperatorFactory = Callable[..., OperatorProcess]


@pytest.fixture
def operators(kube: Kube, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[OperatorFactory]:
    """make(*args, env=...) -> an OperatorProcess (not started); all are stopped at the end."""
    made: list[OperatorProcess] = []

    def make(*args: str, env: dict[str, str]) -> OperatorProcess:
        log_dir = tmp_path / f"operator-{len(made)}"
        log_dir.mkdir()
        process = OperatorProcess(kube, args, env, log_dir)
        made.append(process)
        return process

    yield make
    for process in made:
        process.stop()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for n, process in enumerate(made):
            print(f"--- operator {n} (started {process.starts}x), last log lines ---\n{process.tail(4000)}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.write_sep("-", "reliability figures")
        for key, value in FIGURES.items():
            terminalreporter.write_line(f"{key}: {value}")
