"""Session fixtures: the control plane (built from the Kubernetes Go module) and kubectl helpers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from support.kube import REPO_ROOT, Kube

SPECS_DIR = REPO_ROOT.parent / "shared" / "specs"


def _find_go() -> str | None:
    venv_go = Path(sys.prefix) / "bin" / "go"
    return shutil.which("go") or (str(venv_go) if venv_go.exists() else None)


SERVER_LINE = pytest.StashKey[str]()


def _report(config: pytest.Config, line: str) -> None:
    """Shown in the run's summary (output during fixtures is captured)."""
    config.stash[SERVER_LINE] = line


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    line = config.stash.get(SERVER_LINE, None)
    if line:
        terminalreporter.write_line(line.strip())


@pytest.fixture(scope="session")
def kube(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kube]:
    """A Kubernetes API server: ONCALL_TEST_KUBECONFIG's, or our own built one."""
    existing = os.environ.get("ONCALL_TEST_KUBECONFIG")
    if existing:
        kubectl = shutil.which("kubectl")
        if not kubectl:
            pytest.skip("ONCALL_TEST_KUBECONFIG is set but no kubectl is on PATH")
        cluster = Kube(Path(kubectl), Path(existing))
        context = cluster.kubectl("config", "current-context").stdout.strip()
        if not any(word in context for word in ("kind", "k3d", "test", "minikube")) and not os.environ.get(
            "ONCALL_TEST_ALLOW_CONTEXT"
        ):
            pytest.exit(
                f"refusing to run e2e tests against context {context!r} (set ONCALL_TEST_ALLOW_CONTEXT=1)"
            )
        yield _with_crds(request, cluster)
        return

    from oncall_devkit.localcluster import LocalControlPlane

    bin_dir = os.environ.get("ONCALL_CONTROLPLANE_BIN")
    if not bin_dir:
        if not _find_go():
            pytest.skip("no Go toolchain and no ONCALL_TEST_KUBECONFIG: cluster tests skipped")
        env = {**os.environ}
        go = _find_go()
        assert go is not None
        env["GO"] = go
        script = REPO_ROOT / "tests" / "controlplane" / "build.sh"
        result = subprocess.run(["bash", str(script)], check=True, stdout=subprocess.PIPE, text=True, env=env)
        bin_dir = result.stdout.strip().splitlines()[-1]
    plane = LocalControlPlane(Path(bin_dir), work_dir=tmp_path_factory.mktemp("controlplane")).start()
    cluster = Kube(plane.kubectl, plane.kubeconfig, server_version=plane.version)
    _report(
        request.config,
        f"\ne2e: real kube-apiserver {plane.version} (built from k8s.io/kubernetes) at {plane.server}",
    )
    try:
        yield _with_crds(request, cluster)
    finally:
        plane.stop()


def _with_crds(request: pytest.FixtureRequest, cluster: Kube) -> Kube:
    import yaml

    from oncall_operator.api import RESOURCE_KINDS, TEST_KINDS
    from oncall_operator.api.crd import render_crd

    documents = [render_crd(kind) for kind in (*RESOURCE_KINDS, *TEST_KINDS)]
    cluster.apply(yaml.safe_dump_all(documents))
    for document in documents:
        cluster.kubectl(
            "wait", "--for=condition=Established", f"crd/{document['metadata']['name']}", "--timeout=30s"
        )
    if not cluster.server_version:
        import json

        version = json.loads(cluster.kubectl("version", "-o", "json").stdout)["serverVersion"]["gitVersion"]
        cluster.server_version = version
        _report(request.config, f"e2e: existing cluster (ONCALL_TEST_KUBECONFIG), kube-apiserver {version}")
    return cluster


@pytest.fixture
def namespace(kube: Kube, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test; its state is printed when the test fails."""
    name = kube.create_namespace()
    yield name
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(kube.dump(name))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session")
def specs_dir() -> Path:
    if not SPECS_DIR.is_dir():
        pytest.skip(f"contract tests need {SPECS_DIR} (the shared specs folder) beside the project")
    return SPECS_DIR
