"""The cleanup part of `make demo`: a dry-run plan, an approval, the run's outcome - printed.

Uses examples/cleanuprule-offboarding.yaml against the demo seed, and the `oncall-operator cleanup`
verbs as a person would (their kubeconfig; the APIs from ONCALL_* variables).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from oncall_sandbox.server import SandboxServer

RULE_FILE = Path(__file__).resolve().parents[2] / "examples" / "cleanuprule-offboarding.yaml"


def run_cleanup_demo(
    kubectl: Callable[..., str],
    env: dict[str, str],
    sandbox: SandboxServer,
    say: Callable[[str], None],
    wait_for: Callable[[Callable[[], Any], float, str], Any],
) -> None:
    rule = yaml.safe_load(RULE_FILE.read_text())
    name, namespace = rule["metadata"]["name"], rule["metadata"]["namespace"]

    def cli(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "oncall_operator.cli", "cleanup", *args, "-n", namespace],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        if result.returncode != 0:
            raise SystemExit(f"demo: oncall-operator cleanup {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def run_in(phases: tuple[str, ...], run: str) -> dict[str, Any] | None:
        found: dict[str, Any] = json.loads(kubectl("get", "cleanuprun", run, "-n", namespace, "-o", "json"))
        return found if (found.get("status") or {}).get("phase") in phases else None

    say("")
    say(
        f"• CleanupRule {namespace}/{name} from {RULE_FILE.name}: deactivated or missing in Slack, still in PagerDuty"
    )
    kubectl("apply", "-f", "-", input=yaml.safe_dump(rule))
    dry = cli("run", name).strip().removeprefix("cleanuprun/").removesuffix(" started")
    planned = wait_for(lambda: run_in(("Planned", "Refused", "Failed"), dry), 60, "the dry-run plan")
    say(f"  dry run {dry}: {planned['status']['phase']} - {planned['status'].get('message', '')}")
    say(cli("show", dry))
    say("• the same rule with dryRun: false - the next run waits for an approval of its exact plan")
    kubectl(
        "patch", "cleanuprule", name, "-n", namespace, "--type", "merge", "-p", '{"spec":{"dryRun":false}}'
    )
    real = cli("run", name).strip().removeprefix("cleanuprun/").removesuffix(" started")
    waiting = wait_for(
        lambda: run_in(("AwaitingApproval", "Aborted", "Completed", "Refused", "Failed"), real), 60, "a plan"
    )
    status = waiting["status"]
    say(f"  {real}: {status['phase']}, plan {status.get('planHash')}")
    if status["phase"] == "AwaitingApproval":
        say("  " + cli("approve", real, "--hash", status["planHash"]).strip())
        wait_for(lambda: run_in(("Completed", "Failed", "Refused"), real), 120, "the approved run to finish")
    say(kubectl("get", "cleanupruns", "-n", namespace, "-o", "wide"))
    say(cli("show", real))
    say(kubectl("get", "cleanuprules", "-n", namespace))
    deleted = [u["id"] for u in sandbox.control.deleted_users()]
    say(f"• PagerDuty users deleted: {', '.join(deleted) or 'none'}")
    say("• Slack summaries (counts only):")
    for message in sandbox.control.messages():
        if message["text"].startswith("CleanupRun"):
            say("    " + message["text"].replace("\n", "\n    "))
