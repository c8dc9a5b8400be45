"""The package layout must not shadow the standard library's `operator`."""

from __future__ import annotations

import subprocess
import sys

from oncall_operator.cli import main
from support.kube import REPO_ROOT


def test_operator_folder_does_not_shadow_stdlib() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import operator; print(operator.__file__)"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    module_file = result.stdout.strip()
    assert module_file.endswith("/operator.py") and not module_file.startswith(str(REPO_ROOT))
    assert not (REPO_ROOT / "operator" / "__init__.py").exists()


def test_cli_version_and_crds(capsys: object) -> None:
    assert main(["version"]) == 0
    assert main(["crds"]) == 0
