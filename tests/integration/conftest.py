"""Fixtures for the sandbox integration tests: one server per session, state reset per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk import WebClient

from oncall_sandbox import SandboxServer, load_seed
from oncall_sandbox.seed import DEFAULT_SEED_PATH, SandboxSeed

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED_START = "2025-06-02T08:30:00+02:00"


@pytest.fixture(scope="session")
def seed() -> SandboxSeed:
    return load_seed(DEFAULT_SEED_PATH)


@pytest.fixture(scope="session")
def sandbox_server(seed: SandboxSeed) -> Iterator[SandboxServer]:
    # Time scale 0: the clock only moves when a test moves it, so expectations are exact.
    with SandboxServer(seed, time_scale=0.0, record_exchanges=True) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> SandboxServer:
    control = sandbox_server.control
    control.reset()
    control.clear_faults()
    control.clear_requests()
    control.rate_limit(enabled=True)
    control.set_clock(SEED_START)
    return sandbox_server


@pytest.fixture
def slack(sandbox: SandboxServer) -> WebClient:
    return WebClient(token="xoxb-sandbox-bot", base_url=sandbox.slack_url)
