"""The Dockerfile read as data (no container engine runs here): its stages, ENTRYPOINT and ENV."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from support.kube import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def last(self, keyword: str) -> str | None:
        found = [value for key, value in self.instructions if key == keyword]
        return found[-1] if found else None


def parse() -> tuple[dict[str, str], list[Stage]]:
    """ARGs before the first FROM, and each stage's instructions (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, value = line.partition(" ")
        keyword, value = keyword.upper(), value.strip()
        if keyword == "FROM":
            parts = value.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m.group(1)], parts[0])
            stages.append(Stage(base, parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None))
        elif stages:
            stages[-1].instructions.append((keyword, value))
        elif keyword == "ARG":
            name, _, default = value.partition("=")
            global_args[name] = default
    return global_args, stages


def image_entrypoint() -> list[str]:
    entrypoint = parse()[1][-1].last("ENTRYPOINT")
    assert entrypoint is not None
    command: list[str] = json.loads(entrypoint)
    return command


def image_env() -> dict[str, str]:
    """The final stage's ENV (PATH left out: the venv's bin dir is the test's own)."""
    env: dict[str, str] = {}
    for key, value in parse()[1][-1].instructions:
        if key == "ENV":
            for name, setting in re.findall(r"(\w+)=(\S+)", value):
                if name != "PATH":
                    env[name] = setting
    return env
