"""What every benchmark reads the same way: a process's memory and CPU from /proc, and the CRDs
installed on a fresh local control plane."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from oncall_devkit.localcluster import LocalControlPlane
from oncall_operator.api import RESOURCE_KINDS
from oncall_operator.api.crd import render_crd

# As the image and the chart run the operator (docs/benchmarks.md says why; tests/unit/test_chart.py
# holds the chart's equal to the image's): two malloc arenas, and large blocks always from mmap, so that a
# freed multi-megabyte answer goes back to the system instead of fragmenting the heap.
MALLOC_ENV = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "131072"}


def memory_mib(pid: int, field: str = "VmRSS") -> float:
    """A /proc/PID/status memory field (VmRSS now, VmHWM the peak) in MiB; 0 when absent."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def install_crds(plane: LocalControlPlane) -> None:
    """The operator's CRDs, rendered from the models, applied to the plane."""
    subprocess.run(
        [str(plane.kubectl), "apply", "-f", "-"],
        input=yaml.safe_dump_all([render_crd(kind) for kind in RESOURCE_KINDS]),
        text=True,
        check=True,
        capture_output=True,
        env={**os.environ, "KUBECONFIG": str(plane.kubeconfig)},
    )
