"""Fixtures for the sandbox integration tests: one server per session, state reset per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from oncall_operator.clients.pagerduty import PagerDuty
from oncall_operator.clients.slack import Slack
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


class Adapters:
    """Makes the operator's adapters against the sandbox and closes them (sessions, threads) after the test."""

    def __init__(self, sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self.made: list[Any] = []

    def slack(self, **options: Any) -> Slack:
        adapter = Slack(self.sandbox.slack_url, **options)
        self.made.append(adapter)
        return adapter

    def pagerduty(self, **options: Any) -> PagerDuty:
        adapter = PagerDuty(self.sandbox.pagerduty_url, ca_file=str(self.sandbox.ca_file), **options)
        self.made.append(adapter)
        return adapter

    async def close(self) -> None:
        for adapter in self.made:
            if isinstance(adapter, Slack):
                await adapter.close()
            else:
                adapter.close()


@pytest.fixture
async def adapters(sandbox: SandboxServer) -> AsyncIterator[Adapters]:
    made = Adapters(sandbox)
    try:
        yield made
    finally:
        await made.close()
