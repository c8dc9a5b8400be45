"""Settings: every flag has an environment variable, the flag wins, bad values name both spellings."""

from __future__ import annotations

import pytest

from oncall_operator.cli import build_parser
from oncall_operator.settings import OPTIONS, Settings, SettingsError, parse


def test_defaults() -> None:
    settings = parse([], {})
    assert settings == Settings()
    assert settings.clusterwide and settings.liveness_endpoint == "http://0.0.0.0:8080/healthz"


def test_environment_then_flags() -> None:
    environ = {
        "ONCALL_NAMESPACES": "team-a, team-b",
        "ONCALL_SLACK_URL": "http://slack.test/api/",
        "ONCALL_WORKERS": "4",
        "ONCALL_VERBOSE": "true",
    }
    settings = parse(["--workers", "8", "-n", "team-c"], environ)
    assert settings.namespaces == ("team-c",) and not settings.clusterwide
    assert settings.workers == 8 and settings.verbose and settings.slack_url == "http://slack.test/api/"
    assert parse([], environ).namespaces == ("team-a", "team-b")


def test_port_zero_turns_an_endpoint_off() -> None:
    assert parse(["--health-port", "0"], {}).liveness_endpoint is None


def test_readiness_checks_more_often_than_a_watch_turns_stale() -> None:
    settings = parse(["--watch-stale-after", "1m"], {"ONCALL_WATCH_CHECK_INTERVAL": "15s"})
    assert (settings.watch_stale_after, settings.watch_check_interval) == (60.0, 15.0)
    with pytest.raises(SettingsError, match="--watch-check-interval / ONCALL_WATCH_CHECK_INTERVAL"):
        parse(["--watch-check-interval", "30s"], {})


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["--workers", "0"], {}, "--workers / ONCALL_WORKERS: 0 must be at least 1"),
        ([], {"ONCALL_METRICS_PORT": "70000"}, "--metrics-port / ONCALL_METRICS_PORT"),
        ([], {"ONCALL_VERBOSE": "maybe"}, "not a boolean"),
        ([], {"ONCALL_LOG_FORMAT": "xml"}, "not text or json"),
        ([], {"ONCALL_NAMESPACES": "a", "ONCALL_ALL_NAMESPACES": "true"}, "exclude each other"),
    ],
)
def test_bad_values_name_the_setting(argv: list[str], environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("/", ".")):
        parse(argv, environ)


def test_run_help_lists_every_flag_and_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    text = capsys.readouterr().out
    for option in OPTIONS:
        if not option.hidden:
            assert option.env in text and option.flags[-1] in text
    assert "--with-test-kinds" not in text


def test_every_field_has_one_option() -> None:
    fields = {f for f in Settings.__dataclass_fields__}
    assert fields == {o.field for o in OPTIONS}
    assert len({o.env for o in OPTIONS}) == len(OPTIONS)


def test_a_bad_kubeconfig_is_one_clear_line(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    from oncall_operator.cli import main

    assert (
        main(["run", "--kubeconfig", "/nonexistent/kubeconfig", "--health-port", "0", "--metrics-port", "0"])
        == 2
    )
    error = capsys.readouterr().err.strip()
    assert error.startswith("oncall-operator: cannot use /nonexistent/kubeconfig") and "\n" not in error


def test_a_bad_setting_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    from oncall_operator.cli import main

    assert main(["run", "--workers", "0"]) == 2
    assert (
        capsys.readouterr().err.strip() == "oncall-operator: --workers / ONCALL_WORKERS: 0 must be at least 1"
    )


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    from oncall_operator import __version__

    with pytest.raises(SystemExit):
        build_parser().parse_args(["--version"])
    assert capsys.readouterr().out.strip() == f"oncall-operator {__version__}"
