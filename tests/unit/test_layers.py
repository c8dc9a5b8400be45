"""`make lint` enforces the layers with import-linter: a violation in a copy of the tree fails it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.kube import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """The three packages and the contracts, copied so that one import can be added."""
    for package in ("operator/oncall_operator", "sandbox/oncall_sandbox", "devkit/oncall_devkit"):
        shutil.copytree(REPO_ROOT / package, tmp_path / Path(package).name)
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("core/membership.py", "import kopf", "Decisions and models do no I/O BROKEN"),
        ("clients/slack.py", "import oncall_operator.kinds.oncallsync.daemon", "Operator layers"),
        ("services.py", "import oncall_sandbox", "never imports the sandbox or the dev tooling BROKEN"),
    ],
)
def test_a_violation_fails(tree: Path, module: str, line: str, broken: str) -> None:
    path = tree / "oncall_operator" / module
    path.write_text(f"{line}  # noqa\n{path.read_text()}")
    result = lint_imports(tree)
    assert result.returncode != 0
    assert broken in result.stdout.replace("\n", " "), result.stdout
