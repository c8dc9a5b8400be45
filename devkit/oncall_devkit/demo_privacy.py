"""The privacy part of `make demo`: a RetentionPolicy, then a Preview and an Erase of one demo user
(a person the cleanup run named), printing the receipt.

Uses examples/retentionpolicy.yaml and examples/deletionrequest.yaml, retargeted at the demo's
namespace and person; the person is named by ids in a Secret, never in the requests' specs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_privacy_demo(
    kubectl: Callable[..., str],
    namespace: str,
    say: Callable[[str], None],
    wait_for: Callable[[Callable[[], Any], float, str], Any],
) -> None:
    runs = json.loads(kubectl("get", "cleanupruns", "-n", namespace, "-o", "json"))["items"]
    person = next(
        (line.split(" ") for run in runs for line in (run.get("status") or {}).get("items") or []
         if not line.startswith("- ") and line.split(" ")[1] != "-"),
        None,
    )  # fmt: skip
    if person is None:
        say("• privacy: no cleanup run names a person; skipping the DeletionRequest demo")
        return
    pagerduty_user, slack_user = person[0], person[1]
    say("")
    policy = yaml.safe_load((EXAMPLES / "retentionpolicy.yaml").read_text())
    policy["metadata"]["namespace"] = namespace
    kubectl("apply", "-f", "-", input=yaml.safe_dump(policy))
    say(f"• RetentionPolicy {namespace}/{policy['metadata']['name']} from retentionpolicy.yaml:")

    def pruned() -> dict[str, Any] | None:
        found = json.loads(
            kubectl("get", "retentionpolicy", policy["metadata"]["name"], "-n", namespace, "-o", "json")
        )
        status = found.get("status") or {}
        return status if status.get("lastRunTime") else None

    say("    " + yaml.safe_dump(wait_for(pruned, 60, "a retention pass")).replace("\n", "\n    "))
    say(
        f"• DeletionRequests for one demo user (PagerDuty {pagerduty_user}, Slack {slack_user}), ids in a Secret"
    )
    requests = [d for d in yaml.safe_load_all((EXAMPLES / "deletionrequest.yaml").read_text()) if d]
    secret = next(d for d in requests if d["kind"] == "Secret")
    secret["metadata"]["namespace"] = namespace
    secret["stringData"] = {"pagerDutyUserId": pagerduty_user, "slackUserId": slack_user}
    kubectl("apply", "-f", "-", input=yaml.safe_dump(secret))
    for request in (d for d in requests if d["kind"] == "DeletionRequest"):
        request["metadata"]["namespace"] = namespace
        request["spec"]["scope"] = ["operatorData"]  # the demo leaves Slack and PagerDuty as they are
        name = request["metadata"]["name"]
        kubectl("apply", "-f", "-", input=yaml.safe_dump(request))

        def done(name: str = name) -> dict[str, Any] | None:
            found = json.loads(kubectl("get", "deletionrequest", name, "-n", namespace, "-o", "json"))
            status = found.get("status") or {}
            return status if status.get("phase") in ("Completed", "Failed") else None

        receipt = wait_for(done, 120, f"DeletionRequest {name}")
        say(f"  {name} ({request['spec']['mode']}): {receipt['phase']} - {receipt.get('message', '')}")
        say("    " + yaml.safe_dump(receipt).replace("\n", "\n    "))
    say(kubectl("get", "deletionrequests", "-n", namespace))
