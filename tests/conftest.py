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


class SkipsFailInCI:
    """With CI=true (.ci/run exports it when unset) a skipped test fails the run.

    A tier that skips what it cannot run stays green without testing it (the chart tests did,
    before helm was built first); in CI everything must run. xfail is an expectation, not a skip.
    """

    def __init__(self) -> None:
        self.skipped: list[pytest.TestReport | pytest.CollectReport] = []

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.skipped:
            self.skipped.append(report)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            self.skipped.append(report)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.skipped and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.skipped:
            return
        terminalreporter.write_line(
            f"CI=true: {len(self.skipped)} skipped test(s) fail this run (nothing may skip in CI):",
            red=True,
            bold=True,
        )
        for report in self.skipped:
            terminalreporter.write_line(f"  SKIPPED {report.nodeid}: {_skip_reason(report)}", red=True)


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("CI", "").lower() == "true":
        config.pluginmanager.register(SkipsFailInCI(), "oncall-skips-fail-in-ci")


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
    cluster = Kube(plane.kubectl, plane.kubeconfig, server_version=plane.version, plane=plane)
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


@pytest.fixture(scope="session")
def controlplane_bin() -> Path:
    """The bin dir tests/controlplane/build.sh made: helm, promtool, actionlint, the control plane.

    `make` passes ONCALL_CONTROLPLANE_BIN to every tier that needs it (building it first); a bare
    pytest run uses the path `make controlplane` left in .venv/controlplane-bin.
    """
    explicit = os.environ.get("ONCALL_CONTROLPLANE_BIN")
    recorded = REPO_ROOT / ".venv" / "controlplane-bin"
    if explicit:
        bin_dir = Path(explicit)
    elif recorded.is_file():
        bin_dir = Path(recorded.read_text().strip())
    else:
        pytest.skip("no built tools: run `make controlplane` or set ONCALL_CONTROLPLANE_BIN to its bin dir")
    if not bin_dir.is_dir():
        pytest.fail(f"the control-plane bin dir {bin_dir} does not exist: run `make controlplane`")
    return bin_dir
