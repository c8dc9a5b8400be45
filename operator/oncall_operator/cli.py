"""The `oncall-operator` command: wires things together, holds no logic."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import yaml

from oncall_operator import __version__
from oncall_operator.settings import SettingsError, add_arguments, from_arguments


def _cmd_version(_: argparse.Namespace) -> int:
    print(f"oncall-operator {__version__}")
    return 0


def _cmd_crds(args: argparse.Namespace) -> int:
    from oncall_operator.api import RESOURCE_KINDS, TEST_KINDS
    from oncall_operator.api.crd import render_crd

    kinds = TEST_KINDS if args.test_kinds else RESOURCE_KINDS
    sys.stdout.write(yaml.safe_dump_all([render_crd(kind) for kind in kinds], sort_keys=False))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from oncall_operator.clients.kube import KubeConfigError
    from oncall_operator.runtime import run_operator

    try:
        settings = from_arguments(args, os.environ)
        return asyncio.run(run_operator(settings))
    except (SettingsError, KubeConfigError) as error:
        print(f"oncall-operator: {error}", file=sys.stderr)
        return 2


def _cmd_cleanup(args: argparse.Namespace) -> int:
    """`cleanup run | approve | show`: the user's kubeconfig; for show, the APIs from ONCALL_* variables."""
    from oncall_operator.clients.kube import Kube, KubeConfigError, load_configuration
    from oncall_operator.clients.pagerduty import PagerDuty
    from oncall_operator.clients.slack import Slack
    from oncall_operator.core.errors import OperatorError
    from oncall_operator.kinds.cleanuprun import commands
    from oncall_operator.runtime import QUIET_LOGGERS
    from oncall_operator.settings import parse

    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)

    async def act() -> str:
        kube = Kube(load_configuration(args.kubeconfig, args.context))
        try:
            if args.verb == "run":
                name = await commands.start_run(kube, args.namespace, args.rule, args.wait)
                return f"cleanuprun/{name} started\n"
            if args.verb == "approve":
                return await commands.approve(kube, args.namespace, args.run, args.hash) + "\n"
            settings = parse([], os.environ)
            slack = Slack(settings.slack_url)
            pagerduty = PagerDuty(settings.pagerduty_url, ca_file=settings.pagerduty_ca_file)
            try:
                return await commands.show(kube, slack, pagerduty, args.namespace, args.run, args.format)
            finally:
                await slack.close()
                pagerduty.close()
        finally:
            kube.close()

    try:
        sys.stdout.write(asyncio.run(act()))
    except (commands.CommandError, KubeConfigError, SettingsError) as error:
        print(f"oncall-operator: {error}", file=sys.stderr)
        return 1
    except OperatorError as error:
        print(f"oncall-operator: {error.reason}: {error.message}", file=sys.stderr)
        return 1
    return 0


def _add_cleanup(sub: Any) -> None:
    cleanup = sub.add_parser("cleanup", help="start, approve and show CleanupRuns")
    verbs = cleanup.add_subparsers(dest="verb", required=True)

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("-n", "--namespace", default="default", help="the namespace (default: default)")
        parser.add_argument("--kubeconfig", help="kubeconfig file (default: KUBECONFIG or ~/.kube/config)")
        parser.add_argument("--context", help="kubeconfig context")

    run = verbs.add_parser("run", help="start a run of a CleanupRule now (sets its run-now annotation)")
    run.add_argument("rule", help="the CleanupRule")
    run.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the run (default 30)")
    approve = verbs.add_parser("approve", help="approve a run's plan, named by its hash")
    approve.add_argument("run", help="the CleanupRun")
    approve.add_argument("--hash", required=True, help="the run's status.planHash (sha256:...)")
    show = verbs.add_parser(
        "show", help="a run's plan and outcomes, names and emails looked up live (ONCALL_SLACK_URL, ...)"
    )
    show.add_argument("run", help="the CleanupRun")
    show.add_argument("--format", choices=("table", "json", "csv"), default="table")
    for verb in (run, approve, show):
        common(verb)
    cleanup.set_defaults(handler=_cmd_cleanup)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oncall-operator", description=__doc__)
    parser.add_argument("--version", action="version", version=f"oncall-operator {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the operator")
    add_arguments(run)
    run.set_defaults(handler=_cmd_run)
    crds = sub.add_parser("crds", help="print the CustomResourceDefinitions generated from the models")
    crds.add_argument("--test-kinds", action="store_true", help=argparse.SUPPRESS)
    crds.set_defaults(handler=_cmd_crds)
    sub.add_parser("version", help="print the version").set_defaults(handler=_cmd_version)
    _add_cleanup(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.command != "run":  # Kopf configures logging for `run`
        logging.basicConfig(level=logging.INFO)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
