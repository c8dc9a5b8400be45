"""The `oncall-operator` command: wires things together, holds no logic."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

import yaml

from oncall_operator import __version__


def _cmd_version(_: argparse.Namespace) -> int:
    print(f"oncall-operator {__version__}")
    return 0


def _cmd_crds(args: argparse.Namespace) -> int:
    from oncall_operator.api import RESOURCE_KINDS, TEST_KINDS
    from oncall_operator.api.crd import render_crd

    kinds = TEST_KINDS if args.test_kinds else RESOURCE_KINDS
    documents = [render_crd(kind) for kind in kinds]
    sys.stdout.write(yaml.safe_dump_all(documents, sort_keys=False))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from oncall_operator.runtime import OperatorOptions, run_operator

    options = OperatorOptions(
        namespaces=tuple(args.namespace),
        all_namespaces=args.all_namespaces,
        standalone=args.standalone,
        peering_name=args.peering,
        # Port 0 turns the endpoint off (Kopf would read it as the URL default, 80).
        liveness_endpoint=f"http://{args.health_host}:{args.health_port}/healthz"
        if args.health_port
        else None,
        metrics_port=args.metrics_port,
        log_format=args.log_format,
        verbose=args.verbose,
        with_test_kinds=args.with_test_kinds,
        workers=args.workers,
        priority=args.priority,
    )
    return asyncio.run(run_operator(options))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oncall-operator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the operator")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument(
        "-n", "--namespace", action="append", default=[], help="watch this namespace (repeatable)"
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    peering = run.add_mutually_exclusive_group()
    peering.add_argument("--standalone", action="store_true", help="no peering with other operator instances")
    peering.add_argument("--peering", default=None, help="peering object name (for active/standby replicas)")
    run.add_argument("--health-host", default="0.0.0.0")
    run.add_argument("--health-port", type=int, default=8080, help="liveness/readiness: /healthz; 0 disables")
    run.add_argument("--metrics-port", type=int, default=9090, help="Prometheus /metrics; 0 disables")
    run.add_argument("--log-format", choices=("text", "json"), default="text")
    run.add_argument("--workers", type=int, default=16, help="syncs run at once")
    run.add_argument(
        "--priority",
        type=int,
        default=None,
        help="peering priority (default: random, so one replica is active)",
    )
    run.add_argument("-v", "--verbose", action="store_true")
    run.add_argument("--with-test-kinds", action="store_true", help=argparse.SUPPRESS)
    run.set_defaults(handler=_cmd_run)

    crds = sub.add_parser("crds", help="print the CustomResourceDefinitions generated from the models")
    crds.add_argument("--test-kinds", action="store_true", help=argparse.SUPPRESS)
    crds.set_defaults(handler=_cmd_crds)

    sub.add_parser("version", help="print the version").set_defaults(handler=_cmd_version)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.command != "run":  # Kopf configures logging for `run`
        logging.basicConfig(level=logging.INFO)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
