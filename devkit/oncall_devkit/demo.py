"""`make demo`: the sandbox, a local control plane, the operator and examples/, through a handoff,
then a cleanup: a dry-run plan, an approval and the run's outcome.

Prints what happened and leaves nothing running. With DEMO_USE_CURRENT_CONTEXT=1 it uses the
current kube context (and the kubectl on PATH) instead of starting a control plane.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import yaml

from oncall_devkit.demo_cleanup import RULE_FILE, run_cleanup_demo
from oncall_devkit.demo_privacy import run_privacy_demo
from oncall_devkit.localcluster import LocalControlPlane, local_operator_command
from oncall_operator.api import RESOURCE_KINDS
from oncall_operator.api.crd import render_crd
from oncall_operator.clients.kube import CREDENTIALS_LABEL
from oncall_sandbox.seed import load_seed
from oncall_sandbox.server import SandboxServer

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
T = TypeVar("T")


def say(text: str = "") -> None:
    print(text, flush=True)


def wait_for(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.3)
    raise SystemExit(f"demo: timed out waiting for {what}")


class Kubectl:
    def __init__(self, binary: str, kubeconfig: str | None):
        self.binary, self.env = binary, {**os.environ}
        if kubeconfig:
            self.env["KUBECONFIG"] = kubeconfig

    def __call__(self, *args: str, input: str | None = None) -> str:
        result = subprocess.run(
            [self.binary, *args], input=input, capture_output=True, text=True, env=self.env
        )
        if result.returncode != 0:
            raise SystemExit(f"demo: kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout


@contextmanager
def cluster() -> Iterator[Kubectl]:
    if os.environ.get("DEMO_USE_CURRENT_CONTEXT") == "1":
        kubectl = shutil.which("kubectl") or sys.exit(
            "demo: DEMO_USE_CURRENT_CONTEXT=1 needs kubectl on PATH"
        )
        say("• using the current kube context")
        yield Kubectl(kubectl, None)
        return
    bin_dir = os.environ.get("ONCALL_CONTROLPLANE_BIN") or sys.exit("demo: run it with `make demo`")
    with LocalControlPlane(Path(bin_dir), work_dir=Path(tempfile.mkdtemp(prefix="oncall-demo-"))) as plane:
        say(f"• local control plane: kube-apiserver {plane.version} at {plane.server}")
        yield Kubectl(str(plane.kubectl), str(plane.kubeconfig))


def established(kubectl: Kubectl, crd: str) -> bool:
    """A CRD just created may have no status yet, which `kubectl wait` reports as an error."""
    jsonpath = "{.status.conditions[?(@.type=='Established')].status}"
    return "True" in kubectl("get", f"crd/{crd}", "-o", f"jsonpath={jsonpath}")


def examples() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in sorted(EXAMPLES.glob("oncallsync-*.yaml")):
        documents.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return documents


def show_groups(sandbox: SandboxServer, handles: list[str], names: dict[str, str]) -> None:
    groups = {g["handle"]: g for g in sandbox.control.usergroups()}
    for handle in handles:
        group = groups.get(handle)
        members = (
            ", ".join(f"{u} ({names.get(u, '?')})" for u in sorted(group["users"])) if group else "(no group)"
        )
        say(f"    @{handle:<22} {members}")


def main() -> int:
    seed_path = EXAMPLES / "sandbox-seed.yaml"
    seed = load_seed(seed_path)
    syncs = examples()
    handles = [d["spec"]["slack"]["userGroup"]["handle"] for d in syncs]
    names = {u.id: u.name for u in seed.slack.users}  # fake people from the seed, for the reader
    slack_token = next(t.token for t in seed.slack.tokens if "usergroups:write" in t.scopes)
    pd_token = seed.pagerduty.tokens[0]
    with ExitStack() as stack:
        # The sandbox clock starts at the real time, so kubectl's relative times read naturally.
        sandbox = stack.enter_context(SandboxServer(seed, start_time=datetime.now(UTC)))
        say(
            f"• sandbox (Slack + PagerDuty emulator) at {sandbox.url}, clock {sandbox.control.clock()['now']}"
        )
        kubectl = stack.enter_context(cluster())
        kubectl("apply", "-f", "-", input=yaml.safe_dump_all([render_crd(k) for k in RESOURCE_KINDS]))
        for kind in RESOURCE_KINDS:
            wait_for(partial(established, kubectl, kind.crd_name), 30, f"CRD {kind.crd_name}")
        namespaces = sorted({d["metadata"]["namespace"] for d in syncs})
        for namespace in namespaces:
            kubectl(
                "apply",
                "-f",
                "-",
                input=kubectl("create", "namespace", namespace, "--dry-run=client", "-o", "yaml"),
            )
            for name, key, token in (("pagerduty", "token", pd_token), ("slack", "bot-token", slack_token)):
                secret = kubectl(
                    "create",
                    "secret",
                    "generic",
                    name,
                    "-n",
                    namespace,
                    f"--from-literal={key}={token}",
                    "--dry-run=client",
                    "-o",
                    "yaml",
                )
                labelled = yaml.safe_load(secret)
                labelled["metadata"]["labels"] = {CREDENTIALS_LABEL: "true"}  # opts in to being used
                kubectl("apply", "-f", "-", input=yaml.safe_dump(labelled))
        say("• Slack user groups before:")
        show_groups(sandbox, handles, names)
        log_path = Path(tempfile.mkdtemp(prefix="oncall-demo-log-")) / "operator.log"
        env = {**kubectl.env, **sandbox.operator_env()}
        args = local_operator_command(*[f"--namespace={n}" for n in namespaces])
        log = stack.enter_context(log_path.open("wb"))
        operator = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)

        def stop_operator() -> None:
            operator.terminate()
            operator.wait(timeout=20)

        stack.callback(stop_operator)
        say(f"• operator started (log: {log_path})")
        kubectl("apply", "-f", "-", input=yaml.safe_dump_all(syncs))
        say(f"• applied {len(syncs)} OnCallSyncs from examples/")

        def all_ready() -> list[dict[str, Any]] | None:
            items: list[dict[str, Any]] = json.loads(kubectl("get", "oncallsyncs", "-A", "-o", "json"))[
                "items"
            ]
            ready = [
                i
                for i in items
                for c in i.get("status", {}).get("conditions", [])
                if c["type"] == "Ready" and c["status"] == "True"
            ]
            return items if len(ready) == len(syncs) else None

        items = wait_for(all_ready, 60, "every OnCallSync to be Ready")
        say(kubectl("get", "oncallsyncs", "-A", "-o", "wide"))
        say("• Slack user groups after the first sync:")
        show_groups(sandbox, handles, names)
        for round_ in (1, 2, 3):  # the next three handoffs, so every group changes
            items = json.loads(kubectl("get", "oncallsyncs", "-A", "-o", "json"))["items"]
            handoffs = sorted(
                i["status"]["nextHandoffTime"] for i in items if i["status"].get("nextHandoffTime")
            )
            if not handoffs:
                break
            handoff = datetime.fromisoformat(handoffs[0].replace("Z", "+00:00"))
            target = handoff - timedelta(seconds=5)
            sandbox.control.set_clock(target)
            say(
                f"• handoff {round_}: sandbox clock moved to {target:%Y-%m-%d %H:%M:%S}Z, 5 s before {handoffs[0]}"
            )
            before = {g["handle"]: sorted(g["users"]) for g in sandbox.control.usergroups()}
            started = time.monotonic()

            def changed(before: dict[str, list[str]] = before) -> bool:
                return {g["handle"]: sorted(g["users"]) for g in sandbox.control.usergroups()} != before

            wait_for(changed, 60, "the handoff to reach Slack")
            say(
                f"  the group changed {time.monotonic() - started:.1f} s after the jump (the handoff was at +5 s):"
            )
            show_groups(sandbox, handles, names)
        say(kubectl("get", "oncallsyncs", "-A"))
        say("• channel topics:")
        for channel, topic in sandbox.control.topics().items():
            if topic["topic"]:
                say(f"    {channel}: {topic['topic']}")
        say("• messages posted:")
        for message in sandbox.control.messages():
            say(f"    {message['channel']}: {message['text']}")
        run_cleanup_demo(kubectl, env, sandbox, say, wait_for)
        run_privacy_demo(
            kubectl, yaml.safe_load(RULE_FILE.read_text())["metadata"]["namespace"], say, wait_for
        )
        say("• stopping the operator, the control plane and the sandbox; nothing is left running.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
