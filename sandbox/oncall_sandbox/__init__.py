"""A stateful emulator of the Slack Web API and PagerDuty REST API v2 subset the operator uses."""

from oncall_sandbox.client import ControlError, SandboxControl
from oncall_sandbox.seed import SandboxSeed, SeedError, load_seed, parse_seed
from oncall_sandbox.server import SandboxServer, create_app, main, serve

__all__ = [
    "ControlError",
    "SandboxControl",
    "SandboxSeed",
    "SandboxServer",
    "SeedError",
    "create_app",
    "load_seed",
    "main",
    "parse_seed",
    "serve",
]
