"""Every setting of `oncall-operator run`: one table, one frozen object.

Each setting has a command-line flag and an environment variable (ONCALL_<NAME>); the flag wins.
`oncall-operator run --help` is generated from this table, so it lists both.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from oncall_operator.api.durations import bounded_duration


class SettingsError(ValueError):
    """A setting that cannot be used; the message names the flag and the environment variable."""


@dataclass(frozen=True)
class Option:
    field: str
    flags: tuple[str, ...]
    help: str
    parse: Callable[[str], Any] = str
    hidden: bool = False  # for the test suites only; not in --help

    @property
    def env(self) -> str:
        return "ONCALL_" + self.field.upper()


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{text!r} is not a boolean (true/false)")


def _names(text: str) -> tuple[str, ...]:
    return tuple(part for part in (p.strip() for p in text.split(",")) if part)


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(f"{port} is not a port (0-65535; 0 turns the endpoint off)")
    return port


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"{value} must be at least 1")
    return value


def _seconds(text: str) -> float:
    return bounded_duration(text, timedelta(seconds=1), timedelta(hours=1), days=False).total_seconds()


def _age(text: str) -> float:
    return bounded_duration(text, timedelta(seconds=1), timedelta(days=3650)).total_seconds()


def _scale(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1000:
        raise ValueError(f"{value} must be in (0, 1000]")
    return value


@dataclass(frozen=True)
class Settings:
    """What the operator was told at start. Read once; never from the environment later."""

    namespaces: tuple[str, ...] = ()
    all_namespaces: bool = False
    standalone: bool = False
    peering: str | None = None
    priority: int | None = None
    kubeconfig: str | None = None
    context: str | None = None
    health_host: str = "0.0.0.0"
    health_port: int = 8080
    watch_stale_after: float = 30.0
    watch_check_interval: float = 10.0
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9090
    log_format: str = "text"
    verbose: bool = False
    workers: int = 16
    slack_url: str | None = None
    pagerduty_url: str | None = None
    pagerduty_ca_file: str | None = None
    lookahead_interval: float = 60.0
    secrets_require_label: bool = True
    require_group_allowlist: bool = False
    operator_namespace: str | None = None
    subject_key_secret: str = "oncall-operator-subject-key"
    clock_url: str | None = None
    rate_limit_scale: float = 1.0
    call_deadline: float = 30.0
    with_test_kinds: bool = False
    # Built-in retention (docs/privacy.md): where no RetentionPolicy's rule applies.
    retention_interval: float = 600.0
    retention_cleanup_runs_max_age: float = 30 * 86400.0
    retention_cleanup_runs_max_count: int = 100
    retention_receipts_max_age: float = 365 * 86400.0
    retention_events_max_age: float = 3600.0
    retention_cache_max_age: float = 3600.0

    @property
    def clusterwide(self) -> bool:
        return self.all_namespaces or not self.namespaces

    @property
    def liveness_endpoint(self) -> str | None:
        """Where /healthz answers (health.py serves it and /readyz); None when port 0 turns both off."""
        return f"http://{self.health_host}:{self.health_port}/healthz" if self.health_port else None


OPTIONS: tuple[Option, ...] = (
    Option(
        "namespaces",
        ("-n", "--namespace"),
        "watch this namespace (repeatable; the variable: comma-separated)",
        _names,
    ),
    Option(
        "all_namespaces",
        ("-A", "--all-namespaces"),
        "watch every namespace (the default when none is named)",
        _boolean,
    ),
    Option(
        "standalone", ("--standalone",), "run without peering (one replica, no leader election)", _boolean
    ),
    Option("peering", ("--peering",), "peering object name: replicas with the same one are active/standby"),
    Option("priority", ("--priority",), "peering priority (default: random, so one replica is active)", int),
    Option(
        "kubeconfig",
        ("--kubeconfig",),
        "kubeconfig file (default: in-cluster, else KUBECONFIG or ~/.kube/config)",
    ),
    Option("context", ("--context",), "kubeconfig context (default: its current context)"),
    Option("health_host", ("--health-host",), "address of /healthz (liveness) and /readyz (readiness)"),
    Option("health_port", ("--health-port",), "port of /healthz and /readyz; 0 turns both off", _port),
    Option(
        "watch_stale_after",
        ("--watch-stale-after",),
        "/readyz fails when the API server has not answered for a watched kind and namespace "
        "for this long (a duration)",
        _seconds,
    ),
    Option(
        "watch_check_interval",
        ("--watch-check-interval",),
        "how often readiness checks that the API server answers for each watched kind and namespace "
        "(a duration; below --watch-stale-after)",
        _seconds,
    ),
    Option("metrics_host", ("--metrics-host",), "address of the Prometheus endpoint /metrics"),
    Option("metrics_port", ("--metrics-port",), "port of /metrics; 0 turns it off", _port),
    Option("log_format", ("--log-format",), "text or json"),
    Option(
        "verbose", ("-v", "--verbose"), "debug logging (never request bodies: they carry emails)", _boolean
    ),
    Option("workers", ("--workers",), "syncs that run at once", _positive),
    Option("slack_url", ("--slack-url",), "Slack Web API base URL (default: https://slack.com/api/)"),
    Option(
        "pagerduty_url",
        ("--pagerduty-url",),
        "PagerDuty REST API base URL (e.g. https://api.eu.pagerduty.com)",
    ),
    Option(
        "pagerduty_ca_file",
        ("--pagerduty-ca-file",),
        "a PEM CA bundle to trust for PagerDuty besides the system's (e.g. a TLS-inspecting proxy)",
    ),
    Option(
        "lookahead_interval",
        ("--lookahead-interval",),
        "how often on-call is re-read between handoffs, so overrides and schedule edits are heard "
        "(a duration; slower when it would take over a tenth of PagerDuty's budget)",
        _seconds,
    ),
    Option(
        "secrets_require_label",
        ("--secrets-require-label",),
        "resources may use only Secrets labelled oncall-operator.dev/credentials=true (turn off: false)",
        _boolean,
    ),
    Option(
        "require_group_allowlist",
        ("--require-group-allowlist",),
        "an OnCallSync may manage only the user groups its namespace's annotation "
        "oncall-operator.dev/user-groups allows (without it, any group not owned elsewhere)",
        _boolean,
    ),
    Option(
        "operator_namespace",
        ("--operator-namespace",),
        "the operator's own namespace (default: the pod's, from its service account)",
    ),
    Option(
        "subject_key_secret",
        ("--subject-key-secret",),
        "Secret (in the operator's namespace) with the HMAC key of subject references; created when missing",
    ),
    Option(
        "clock_url", ("--clock-url",), "take 'now' from a sandbox's /_sandbox/clock (demos and tests only)"
    ),
    Option(
        "rate_limit_scale",
        ("--rate-limit-scale",),
        "multiply every rate budget (benchmarks against a sandbox scaled the same way only)",
        _scale,
    ),
    Option(
        "call_deadline",
        ("--call-deadline",),
        "how long one Slack or PagerDuty request may take, answer included (a duration); after a "
        "restart, a write recorded but not confirmed is checked only once this plus 5 s has passed",
        _seconds,
    ),
    Option(
        "retention_interval",
        ("--retention-interval",),
        "how often the built-in retention prunes where no RetentionPolicy applies (a duration)",
        _seconds,
    ),
    Option(
        "retention_cleanup_runs_max_age",
        ("--retention-cleanup-runs-max-age",),
        "built-in retention: finished CleanupRuns older than this are deleted (e.g. 30d)",
        _age,
    ),
    Option(
        "retention_cleanup_runs_max_count",
        ("--retention-cleanup-runs-max-count",),
        "built-in retention: at most this many finished CleanupRuns per namespace (oldest deleted first)",
        _positive,
    ),
    Option(
        "retention_receipts_max_age",
        ("--retention-receipts-max-age",),
        "built-in retention: finished DeletionRequests (receipts) older than this are deleted (e.g. 365d)",
        _age,
    ),
    Option(
        "retention_events_max_age",
        ("--retention-events-max-age",),
        "built-in retention: Events the operator posted older than this are deleted",
        _age,
    ),
    Option(
        "retention_cache_max_age",
        ("--retention-cache-max-age",),
        "built-in retention: in-memory user directory cache entries older than this are evicted",
        _age,
    ),
    Option("with_test_kinds", ("--with-test-kinds",), "serve the test-only kinds", _boolean, hidden=True),
)
_BOOLEAN_FIELDS = {o.field for o in OPTIONS if o.parse is _boolean}
_CHOICES = {"log_format": ("text", "json")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `run`, with every environment variable listed in --help's epilog."""
    scope = parser.add_mutually_exclusive_group()
    peering = parser.add_mutually_exclusive_group()
    for option in OPTIONS:
        target: Any = {
            "namespaces": scope,
            "all_namespaces": scope,
            "standalone": peering,
            "peering": peering,
        }.get(option.field, parser)
        help_text = argparse.SUPPRESS if option.hidden else f"{option.help} [{option.env}]"
        if option.field in _BOOLEAN_FIELDS:
            target.add_argument(
                *option.flags, dest=option.field, action="store_const", const="true", help=help_text
            )
        elif option.field == "namespaces":
            target.add_argument(*option.flags, dest=option.field, action="append", help=help_text)
        else:
            target.add_argument(
                *option.flags, dest=option.field, choices=_CHOICES.get(option.field), help=help_text
            )
    lines = [f"  {o.env:<28} {o.flags[-1]}" for o in OPTIONS if not o.hidden]
    parser.epilog = "Every flag can also be set by an environment variable (the flag wins):\n" + "\n".join(
        lines
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def from_arguments(args: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    """Flags over environment over defaults; a bad value raises SettingsError naming both spellings."""
    values: dict[str, Any] = {}
    for option in OPTIONS:
        given = getattr(args, option.field, None)
        if isinstance(given, list):  # repeated -n
            given = ",".join(given)
        raw = given if given is not None else environ.get(option.env)
        if raw is None:
            continue
        try:
            values[option.field] = option.parse(raw)
        except ValueError as error:
            raise SettingsError(f"{option.flags[-1]} / {option.env}: {error}") from None
    if values.get("log_format", "text") not in _CHOICES["log_format"]:
        raise SettingsError(f"--log-format / ONCALL_LOG_FORMAT: {values['log_format']!r} is not text or json")
    settings = Settings(**values)
    if settings.namespaces and settings.all_namespaces:
        raise SettingsError("-n/--namespace and -A/--all-namespaces exclude each other")
    if settings.watch_check_interval >= settings.watch_stale_after:
        raise SettingsError(
            "--watch-check-interval / ONCALL_WATCH_CHECK_INTERVAL must be below "
            "--watch-stale-after / ONCALL_WATCH_STALE_AFTER"
        )
    if settings.standalone and settings.peering:
        raise SettingsError("--standalone and --peering exclude each other")
    return settings


def parse(argv: Sequence[str], environ: Mapping[str, str]) -> Settings:
    """For tests and embedding: `run`'s flags alone."""
    parser = argparse.ArgumentParser(prog="oncall-operator run")
    add_arguments(parser)
    return from_arguments(parser.parse_args(list(argv)), environ)


def environment_table() -> list[tuple[str, str, str]]:
    """(flag, variable, help) for the docs."""
    return [(o.flags[-1], o.env, o.help) for o in OPTIONS if not o.hidden]


__all__ = [
    "OPTIONS",
    "Settings",
    "SettingsError",
    "add_arguments",
    "environment_table",
    "from_arguments",
    "parse",
]
