"""The two published wheels, installed alone in a clean venv, run: what users get from `pip install`.

The editable installs the other tests use see the whole source tree; a file left out of a
wheel, a dependency only the dev venv has, or a module that leaks into the wrong distribution
shows only here. The wheels are built from a copy of the sources (setuptools would otherwise
reuse a stale build/ in the tree) and installed with constraints.txt; pip's cache is reused.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import tomllib
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.image import image_entrypoint, image_env

REPO_ROOT = Path(__file__).resolve().parents[2]
PIP = [sys.executable, "-m", "pip"]
BUILD_TIMEOUT_SECONDS = 300
COPY_IGNORE = shutil.ignore_patterns("*.egg-info", "__pycache__", "build", "dist", ".*")


@dataclass(frozen=True)
class Installed:
    venv: Path
    operator_wheel: Path
    sandbox_wheel: Path

    def command(self, name: str) -> Path:
        return self.venv / "bin" / name


def _run(*command: str | Path, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def _wheel(directory: Path, distribution: str) -> Path:
    (wheel,) = directory.glob(f"{distribution.replace('-', '_')}-*.whl")
    return wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("wheels")
    source = work / "source"
    source.mkdir()
    shutil.copy2(REPO_ROOT / "pyproject.toml", source)
    shutil.copy2(REPO_ROOT / "README.md", source)
    shutil.copy2(REPO_ROOT / "LICENSE", source)
    shutil.copytree(REPO_ROOT / "operator", source / "operator", ignore=COPY_IGNORE)
    shutil.copytree(REPO_ROOT / "sandbox", source / "sandbox", ignore=COPY_IGNORE)
    dist = work / "dist"
    _run(
        *PIP,
        "wheel",
        "--no-deps",
        "--quiet",
        "-w",
        dist,
        source,
        source / "sandbox",
        cwd=work,
        timeout=BUILD_TIMEOUT_SECONDS,
    )

    # A venv without pip of its own: this interpreter's pip installs into it (--python).
    venv = work / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=work)
    operator_wheel, sandbox_wheel = _wheel(dist, "oncall-operator"), _wheel(dist, "oncall-sandbox")
    _run(
        *PIP,
        "--python",
        venv / "bin" / "python",
        "install",
        "--quiet",
        "--no-compile",
        "-c",
        REPO_ROOT / "constraints.txt",
        operator_wheel,
        sandbox_wheel,
        cwd=work,
        timeout=BUILD_TIMEOUT_SECONDS,
    )
    return Installed(venv, operator_wheel, sandbox_wheel)


def _version(project: Path) -> str:
    version: str = tomllib.loads((project / "pyproject.toml").read_text())["project"]["version"]
    return version


def test_the_venv_holds_only_the_wheels_and_their_dependencies(installed: Installed, tmp_path: Path) -> None:
    _run(*PIP, "--python", installed.command("python"), "check", cwd=tmp_path)
    where = _run(
        installed.command("python"),
        "-c",
        "import oncall_operator, oncall_sandbox; print(oncall_operator.__file__); print(oncall_sandbox.__file__)",
        cwd=tmp_path,
    ).stdout.split()
    assert all(path.startswith(str(installed.venv)) for path in where), where
    devkit = subprocess.run(
        [installed.command("python"), "-c", "import oncall_devkit"], cwd=tmp_path, capture_output=True
    )
    assert devkit.returncode != 0, "oncall_devkit is importable from the published wheels"


def test_operator_version_and_run_help(installed: Installed, tmp_path: Path) -> None:
    version = _run(installed.command("oncall-operator"), "version", cwd=tmp_path).stdout
    assert version.strip() == f"oncall-operator {_version(REPO_ROOT)}"
    run_help = _run(installed.command("oncall-operator"), "run", "--help", cwd=tmp_path).stdout
    assert "--standalone" in run_help and "--metrics-port" in run_help


def test_the_image_entrypoint_runs_from_the_wheel(installed: Installed, tmp_path: Path) -> None:
    """What the container runs: the Dockerfile's ENTRYPOINT and ENV, over the wheel's venv (PATH)."""
    command, *args = image_entrypoint()
    env = {**image_env(), "PATH": f"{installed.venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [command, *args, "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "--all-namespaces" in result.stdout and "--health-port" in result.stdout


def test_the_wheel_carries_the_license(installed: Installed) -> None:
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in _names(installed.operator_wheel))


def test_sandbox_help(installed: Installed, tmp_path: Path) -> None:
    result = _run(installed.command("oncall-sandbox"), "--help", cwd=tmp_path)
    assert "--seed" in result.stdout and "--port" in result.stdout


@pytest.fixture
def sandbox_url(installed: Installed, tmp_path: Path) -> Iterator[str]:
    """`oncall-sandbox` with its packaged demo seed (no --seed), on a port it picks itself."""
    process = subprocess.Popen(
        [installed.command("oncall-sandbox"), "--port", "0", "--tls-dir", tmp_path / "tls"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        seen: list[str] = []
        match = None
        while match is None and len(seen) < 50:  # the banner comes once it listens; EOF if it died
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line)
            match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, f"no banner from oncall-sandbox: {''.join(seen)[-3000:]}"
        yield match.group(1)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_sandbox_serves_its_packaged_seed(sandbox_url: str) -> None:
    with urllib.request.urlopen(f"{sandbox_url}/_sandbox/clock", timeout=10) as response:
        clock = json.load(response)
    assert clock["now"] and "time_scale" in clock


def _top_level(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {name.split("/", 1)[0] for name in archive.namelist()}


def _names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_operator_wheel_holds_the_operator_only(installed: Installed) -> None:
    version = _version(REPO_ROOT)
    assert _top_level(installed.operator_wheel) == {"oncall_operator", f"oncall_operator-{version}.dist-info"}
    names = _names(installed.operator_wheel)
    assert not [name for name in names if "/tests/" in name or name.rsplit("/", 1)[-1].startswith("test_")]
    assert "oncall_operator/py.typed" in names


def test_sandbox_wheel_holds_the_sandbox_and_its_seed(installed: Installed) -> None:
    version = _version(REPO_ROOT / "sandbox")
    assert _top_level(installed.sandbox_wheel) == {"oncall_sandbox", f"oncall_sandbox-{version}.dist-info"}
    names = _names(installed.sandbox_wheel)
    assert any(name.startswith("oncall_sandbox/seeds/") and name.endswith(".yaml") for name in names)
    assert not [name for name in names if "/tests/" in name or name.rsplit("/", 1)[-1].startswith("test_")]
