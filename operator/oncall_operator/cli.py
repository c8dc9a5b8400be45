"""The `oncall-operator` command: wires things together, holds no logic."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.command != "run":  # Kopf configures logging for `run`
        logging.basicConfig(level=logging.INFO)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
