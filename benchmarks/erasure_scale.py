"""DeletionRequest at scale: erasing one person from stores of 1,000 and 10,000 CleanupRun records. Prints figures.

A record is one person's item in a CleanupRun's status; runs hold RECORDS_PER_RUN items each (so
10,000 records are 1,000 CleanupRun objects on the local control plane). Two subjects are in three
runs each at every size. One operator process (operatorData scope: no Slack or PagerDuty calls);
the first request primes the erasure index with one listing of the runs, the second finds it primed
(kept current by the watch). Measured per size and request: time from creation to Completed, the
Kubernetes API calls made meanwhile (the kube-apiserver's apiserver_request_total by verb and
resource, watches and the benchmark's polling excluded), and how both grow with the store.

Usage: ONCALL_CONTROLPLANE_BIN=$(cat .venv/controlplane-bin) .venv/bin/python benchmarks/erasure_scale.py
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import kubernetes

from measure import install_crds
from oncall_devkit.localcluster import LocalControlPlane, local_operator_command
from oncall_operator.core.subjects import IdentifierKind, subject_ref

GROUP, VERSION = "oncall-operator.dev", "v1alpha1"
RECORDS_PER_RUN = 10
SUBJECT_RUNS = 3
EMAILS = ("first@example.test", "second@example.test")
RULE = {
    "pagerDuty": {"tokenSecretRef": {"name": "pagerduty", "key": "token"}},
    "slack": {"tokenSecretRef": {"name": "slack", "key": "bot-token"}},
    "match": {"slackAccount": ["deactivated"]},
    "actions": ["removeFromSlackUserGroups"],
}
REQUEST_METRIC = re.compile(r"^apiserver_request_total\{([^}]*)\} ([0-9.e+]+)$")


def api_calls(plane: LocalControlPlane) -> Counter[str]:
    """apiserver_request_total by verb and resource (watches excluded: they are long-lived)."""
    text = subprocess.run(
        [str(plane.kubectl), "get", "--raw", "/metrics"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "KUBECONFIG": str(plane.kubeconfig)},
    ).stdout
    calls: Counter[str] = Counter()
    for line in text.splitlines():
        match = REQUEST_METRIC.match(line)
        if not match:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if labels.get("verb") == "WATCH":
            continue
        key = f"{labels.get('verb')} {labels.get('resource')}" + (
            f"/{labels['subresource']}" if labels.get("subresource") else ""
        )
        calls[key] += int(float(match.group(2)))
    return calls


def seed(api: Any, namespace: str, records: int, key: bytes) -> float:
    started = time.monotonic()
    subjects = [subject_ref(key, IdentifierKind.EMAIL, e).removeprefix("hmac-sha256:") for e in EMAILS]
    runs = records // RECORDS_PER_RUN
    spread = runs // SUBJECT_RUNS
    for run in range(runs):
        name = f"run-{run:05d}"
        api.create_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            "cleanupruns",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "CleanupRun",
                "metadata": {"name": name},
                "spec": {"ruleName": "bench", "trigger": "onDemand", "rule": RULE},
            },
        )
        items = [
            f"P{run:05d}{i:02d} U{run:05d}{i:02d} {secrets.token_urlsafe(16)} D g0"
            for i in range(RECORDS_PER_RUN)
        ]
        if run % spread == 0 and run // spread < SUBJECT_RUNS:  # each subject in SUBJECT_RUNS runs
            items[0] = f"PERASE1 UERASE1 {subjects[0]} D g0"
            items[1] = f"PERASE2 UERASE2 {subjects[1]} D g0"
        api.patch_namespaced_custom_object_status(
            GROUP,
            VERSION,
            namespace,
            "cleanupruns",
            name,
            {"status": {"phase": "Completed", "targets": ["S0GROUP1"], "items": items}},
        )
    return time.monotonic() - started


def measure(plane: LocalControlPlane, records: int, work: Path) -> dict[str, Any]:
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=str(plane.kubeconfig), client_configuration=config)
    client = kubernetes.client.ApiClient(config)
    api, core = kubernetes.client.CustomObjectsApi(client), kubernetes.client.CoreV1Api(client)
    namespace = f"erase-{records}"
    core.create_namespace({"metadata": {"name": namespace}})
    key_text = secrets.token_urlsafe(32)
    core.create_namespaced_secret(
        namespace, {"metadata": {"name": "oncall-operator-subject-key"}, "stringData": {"key": key_text}}
    )
    seconds = seed(api, namespace, records, key_text.encode())
    runs = records // RECORDS_PER_RUN
    log_path = work / f"operator-{records}.log"
    log = log_path.open("wb")
    env = {
        **os.environ,
        "KUBECONFIG": str(plane.kubeconfig),
        "ONCALL_OPERATOR_NAMESPACE": namespace,
        "ONCALL_SLACK_URL": "http://127.0.0.1:9",
        "ONCALL_PAGERDUTY_URL": "http://127.0.0.1:9",
    }
    started_at = time.monotonic()
    operator = subprocess.Popen(
        local_operator_command("-n", namespace),
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        # Kopf's initial listing: one call of the index's watch handler per run, then quiet.
        deadline = time.monotonic() + 900
        while log_path.read_text().count("run_indexed' succeeded") < runs and time.monotonic() < deadline:
            time.sleep(0.5)
        startup = time.monotonic() - started_at
        figures = [request(plane, api, core, namespace, n, email) for n, email in enumerate(EMAILS)]
    finally:
        operator.terminate()
        operator.wait(timeout=30)
        log.close()
    return {
        "records": records,
        "cleanupRun objects": runs,
        "seeded in (s)": round(seconds, 1),
        "operator start to the watch's initial listing handled (s)": round(startup, 1),
        "first request (primes the index with one listing)": figures[0],
        "second request (index primed)": figures[1],
    }


def request(
    plane: LocalControlPlane, api: Any, core: Any, namespace: str, n: int, email: str
) -> dict[str, Any]:
    core.create_namespaced_secret(
        namespace, {"metadata": {"name": f"subject-{n}"}, "stringData": {"email": email}}
    )
    before = api_calls(plane)
    started = time.monotonic()
    api.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "deletionrequests",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "DeletionRequest",
            "metadata": {"name": f"erase-{n}"},
            "spec": {"subjectSecretRef": {"name": f"subject-{n}"}, "mode": "Erase"},
        },
    )
    status: dict[str, Any] = {}
    polls = 0
    while status.get("phase") not in ("Completed", "Failed") and time.monotonic() - started < 600:
        time.sleep(0.05)
        polls += 1
        found = api.get_namespaced_custom_object(GROUP, VERSION, namespace, "deletionrequests", f"erase-{n}")
        status = found.get("status") or {}
    elapsed = time.monotonic() - started
    delta = api_calls(plane) - before
    delta["GET deletionrequests"] -= polls  # the benchmark's own polling
    relevant = ("cleanupruns", "deletionrequests", "events", "secrets", "oncallsyncs", "cleanuprules")
    ours = {k: v for k, v in delta.items() if v > 0 and any(r in k for r in relevant)}
    return {
        "phase": status.get("phase"),
        "verified": status.get("verified"),
        "records erased": (status.get("counts") or {}).get("cleanupRuns", {}).get("erased"),
        "time to Completed (s)": round(elapsed, 2),
        "Kubernetes API calls (all clients, non-watch, the benchmark's polling excluded)": sum(
            v for v in delta.values() if v > 0
        ),
        "privacy-relevant calls by verb/resource": dict(sorted(ours.items())),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000")
    args = parser.parse_args()
    bin_dir = os.environ.get("ONCALL_CONTROLPLANE_BIN") or sys.exit("bench: set ONCALL_CONTROLPLANE_BIN")
    work = Path(tempfile.mkdtemp(prefix="oncall-erasure-bench-"))
    results = []
    with LocalControlPlane(Path(bin_dir), work_dir=work / "controlplane") as plane:
        install_crds(plane)
        for size in (int(s) for s in args.sizes.split(",")):
            results.append(measure(plane, size, work))
            print(json.dumps(results[-1], indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
