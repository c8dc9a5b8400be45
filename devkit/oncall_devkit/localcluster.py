"""A local Kubernetes control plane (etcd + kube-apiserver + kube-controller-manager) for tests and the demo.

It runs the binaries built by tests/controlplane/build.sh from the Kubernetes Go
module, in the spirit of controller-runtime's envtest: loopback only, free
ports, RBAC, a client CA with an admin certificate in system:masters and one
service-account key. Unlike envtest it also runs the controller-manager's
garbage collector, namespace and service-account controllers, so ownerReferences
cascade and deleted namespaces go away as on a real cluster. Not used by the
operator itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

READY_TIMEOUT_SECONDS = 90.0
# What kube-controller-manager runs: cascading deletion, namespace deletion, the `default`
# ServiceAccount (plus tokens for token Secrets) in every namespace, and aggregated ClusterRoles
# (the chart folds its roles into `view`/`edit`). No workload controllers: there is no kubelet,
# so nothing would run their Pods.
CONTROLLERS = (
    "clusterrole-aggregation-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
)


def _die_with_parent() -> None:
    """In the child: ask Linux to kill it when the process that started it dies (throwaway data)."""
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _write_pki(directory: Path) -> None:
    """CA, serving certs (apiserver, controller-manager), admin client cert and a service-account key pair."""
    from oncall_sandbox.tls import CertificateAuthority, new_key, private_key_pem, public_key_pem

    ca = CertificateAuthority("oncall-operator-test-ca", days=2)
    server = ca.issue("kube-apiserver", hosts=("localhost", "127.0.0.1"), server=True)
    controller_manager = ca.issue("kube-controller-manager", hosts=("localhost", "127.0.0.1"), server=True)
    admin = ca.issue("admin", organization="system:masters", client=True)
    sa_key = new_key()

    (directory / "ca.crt").write_bytes(ca.certificate_pem())
    (directory / "apiserver.crt").write_bytes(server.certificate_pem())
    (directory / "apiserver.key").write_bytes(server.key_pem())
    (directory / "controller-manager.crt").write_bytes(controller_manager.certificate_pem())
    (directory / "controller-manager.key").write_bytes(controller_manager.key_pem())
    (directory / "admin.crt").write_bytes(admin.certificate_pem())
    (directory / "admin.key").write_bytes(admin.key_pem())
    (directory / "sa.key").write_bytes(private_key_pem(sa_key))
    (directory / "sa.pub").write_bytes(public_key_pem(sa_key))


@dataclass
class LocalControlPlane:
    """etcd, kube-apiserver and kube-controller-manager as child processes; use as a context manager."""

    bin_dir: Path
    work_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="oncall-cp-")))
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    api_port: int = 0
    controller_manager_port: int = 0
    version: str = ""
    _commands: dict[str, list[str]] = field(default_factory=dict)

    @property
    def kubeconfig(self) -> Path:
        return self.work_dir / "kubeconfig"

    @property
    def kubectl(self) -> Path:
        return self.bin_dir / "kubectl"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    def start(self) -> LocalControlPlane:
        pki = self.work_dir / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        _write_pki(pki)
        etcd_port, peer_port, self.api_port = free_port(), free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        self._spawn(
            "etcd",
            [
                f"--data-dir={self.work_dir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                "--unsafe-no-fsync",  # test data: speed over durability
                "--log-level=warn",
            ],
        )
        self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers={etcd_url}",
                f"--cert-dir={pki}",
                f"--secure-port={self.api_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                "--authorization-mode=RBAC",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--v=0",
            ],
        )
        self._write_kubeconfig(pki)
        self._wait_ready(pki)
        self.controller_manager_port = free_port()
        self._spawn(
            "kube-controller-manager",
            [
                f"--kubeconfig={self.kubeconfig}",  # the admin identity: one certificate fewer
                "--bind-address=127.0.0.1",
                f"--secure-port={self.controller_manager_port}",
                f"--tls-cert-file={pki / 'controller-manager.crt'}",
                f"--tls-private-key-file={pki / 'controller-manager.key'}",
                "--leader-elect=false",
                f"--controllers={','.join(CONTROLLERS)}",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                "--v=0",
            ],
        )
        self._wait_controller_manager_ready(pki)
        return self

    def _spawn(self, binary: str, args: list[str], index: int | None = None) -> None:
        self._commands[binary] = args
        log = open(self.work_dir / f"{binary}.log", "ab")  # noqa: SIM115 - lives as long as the process
        process = subprocess.Popen(
            [str(self.bin_dir / binary), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # stop() kills the whole group
            preexec_fn=_die_with_parent,  # and a killed test run leaves nothing behind
        )
        if index is None:
            self.processes.append(process)
        else:
            self.processes[index] = process

    def _index_of(self, binary: str) -> int:
        return next(i for i, p in enumerate(self.processes) if Path(str(p.args[0])).name == binary)  # type: ignore[index]

    def stop_apiserver(self) -> None:
        """Stop kube-apiserver alone (etcd keeps the data, clients see refused connections)."""
        _terminate(self.processes[self._index_of("kube-apiserver")])

    def start_apiserver(self) -> None:
        """Start kube-apiserver again on the same port and PKI; returns once /readyz answers."""
        self._spawn("kube-apiserver", self._commands["kube-apiserver"], self._index_of("kube-apiserver"))
        self._wait_ready(self.work_dir / "pki")

    def _write_kubeconfig(self, pki: Path) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {"server": self.server, "certificate-authority": str(pki / "ca.crt")},
                }
            ],
            "users": [
                {
                    "name": "admin",
                    "user": {
                        "client-certificate": str(pki / "admin.crt"),
                        "client-key": str(pki / "admin.key"),
                    },
                }
            ],
            "contexts": [{"name": "oncall-operator-test", "context": {"cluster": "local", "user": "admin"}}],
            "current-context": "oncall-operator-test",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config))

    def _ssl_context(self, pki: Path) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        context.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        return context

    def _check_alive(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                self.stop()
                raise RuntimeError(f"{process.args!r} exited with {process.returncode}; see {self.work_dir}")

    def _wait_ready(self, pki: Path) -> None:
        context = self._ssl_context(pki)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        last_error = ""
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with urllib.request.urlopen(f"{self.server}/readyz", context=context, timeout=2) as response:
                    if response.status == 200:
                        with urllib.request.urlopen(f"{self.server}/version", context=context) as version:
                            info: dict[str, Any] = json.load(version)
                            self.version = str(info.get("gitVersion", ""))
                        return
            except OSError as error:
                last_error = str(error)
            time.sleep(0.25)
        self.stop()
        raise TimeoutError(f"kube-apiserver not ready in {READY_TIMEOUT_SECONDS}s: {last_error}")

    def _wait_controller_manager_ready(self, pki: Path) -> None:
        """Healthy on its secure port, and its controllers at work: `default` has its ServiceAccount."""
        context = self._ssl_context(pki)
        probes = (
            f"https://127.0.0.1:{self.controller_manager_port}/healthz",
            f"{self.server}/api/v1/namespaces/default/serviceaccounts/default",
        )
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        last_error = ""
        for url in probes:
            while True:
                self._check_alive()
                try:
                    with urllib.request.urlopen(url, context=context, timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError as error:
                    last_error = f"{url}: {error}"
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(
                        f"kube-controller-manager not ready in {READY_TIMEOUT_SECONDS}s: {last_error}"
                    )
                time.sleep(0.1)

    def stop(self) -> None:
        # In reverse start order, each gone before the next is signalled: an apiserver whose etcd
        # went first does not exit on SIGTERM (it was killed after the 15 s wait); now it takes ~1 s.
        for process in reversed(self.processes):
            _terminate(process)
        self.processes.clear()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> LocalControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def local_operator_command(*extra: str) -> list[str]:
    """`oncall-operator run` as the demo, tests and benchmarks start it: one replica, no ports."""
    return [
        sys.executable,
        "-m",
        "oncall_operator.cli",
        "run",
        "--standalone",
        "--health-port",
        "0",
        "--metrics-port",
        "0",
        *extra,
    ]


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group, SIGKILL after 15 s; returns once it is gone."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
