"""kubectl-driven helpers for the e2e suites: apply, read, wait with a deadline."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from oncall_devkit.localcluster import local_operator_command

T = TypeVar("T")
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Kube:
    kubectl_path: Path
    kubeconfig: Path
    server_version: str = ""
    # The LocalControlPlane when the tests started their own (reliability tests restart its apiserver).
    plane: Any = None

    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.kubectl_path), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def apply(self, manifest: dict[str, Any] | str, namespace: str | None = None, *extra: str) -> str:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
        args = ["apply", "-f", "-", *extra]
        if namespace:
            args += ["-n", namespace]
        return self.kubectl(*args, input=text).stdout

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(
            self.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout
        )
        return result

    def exists(self, kind: str, name: str, namespace: str) -> bool:
        return self.kubectl("get", kind, name, "-n", namespace, check=False).returncode == 0

    def create_namespace(self) -> str:
        name = f"t-{uuid.uuid4().hex[:8]}"
        self.kubectl("create", "namespace", name)
        return name

    def dump(self, namespace: str) -> str:
        """State worth reading when a test fails."""
        parts = [self.kubectl("get", "oncall,events", "-n", namespace, "-o", "yaml", check=False).stdout]
        return "\n".join(parts)


def wait_for(
    probe: Callable[[], T | None], *, timeout: float = 30.0, interval: float = 0.2, what: str = ""
) -> T:
    """Polls until probe returns something truthy; never a bare sleep."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or probe}; last value: {last!r}")


@contextmanager
def operator_process(
    kube: Kube, *args: str, env: dict[str, str] | None = None, log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Runs `oncall-operator run` as users do, as a child process."""
    log = log_path.open("wb")
    process = subprocess.Popen(
        local_operator_command("--verbose", *args),
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**kube.env(), **(env or {})},
        start_new_session=True,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
