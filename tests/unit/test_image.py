"""The Dockerfile says what the image is: pinned base, numeric non-root user, `oncall-operator run`.

No container engine runs here, so the image is checked from both ends: this file reads the
Dockerfile (and checks it against the chart and the package), and tests/integration/test_wheels.py
runs the image's ENTRYPOINT, with the image's ENV, from the built wheel in a clean venv.
"""

from __future__ import annotations

import re
import tomllib

import yaml

from support.image import DIGEST, image_entrypoint, image_env, parse
from support.kube import REPO_ROOT

COMPILERS = ("gcc", "g++", "build-essential", "clang", "make", "cargo", "rustc")


def test_every_stage_is_a_slim_python_pinned_by_digest() -> None:
    _, stages = parse()
    assert len(stages) >= 2, "multi-stage: build, then runtime"
    python = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    for stage in stages:
        assert DIGEST.search(stage.base), f"{stage.base} is not pinned by digest"
        assert re.search(r"/python:3\.11(\.\d+)?-slim-bookworm@", stage.base), stage.base
    assert python == ">=3.11"


def test_the_wheel_is_built_in_the_first_stage_and_only_the_venv_is_copied() -> None:
    _, (build, *_, final) = parse()
    build_runs = " ".join(value for key, value in build.instructions if key == "RUN")
    assert "pip wheel" in build_runs and "--constraint constraints.txt" in build_runs
    copies = [value for key, value in final.instructions if key == "COPY"]
    assert copies == [f"--from={build.name} /opt/oncall-operator /opt/oncall-operator"]
    assert not [value for key, value in final.instructions if key == "RUN"], "the runtime stage runs nothing"
    everything = " ".join(value for stage in parse()[1] for key, value in stage.instructions)
    assert not [word for word in COMPILERS if re.search(rf"\b{re.escape(word)}\b", everything)]


def test_the_user_is_numeric_non_root_and_the_chart_runs_as_it() -> None:
    user = parse()[1][-1].last("USER")
    assert user is not None and re.fullmatch(r"\d+:\d+", user), f"USER {user} is not numeric uid:gid"
    uid, gid = (int(part) for part in user.split(":"))
    assert uid != 0 and gid != 0
    values = yaml.safe_load((REPO_ROOT / "charts" / "oncall-operator" / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == uid
    assert values["podSecurityContext"]["runAsGroup"] == gid


def test_the_entrypoint_is_the_packaged_run_command() -> None:
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert image_entrypoint() == ["oncall-operator", "run"]
    assert "oncall-operator" in scripts


def test_malloc_arenas_and_oci_labels() -> None:
    env = image_env()
    assert (env["MALLOC_ARENA_MAX"], env["MALLOC_MMAP_THRESHOLD_"]) == ("2", "131072")
    labels = " ".join(value for key, value in parse()[1][-1].instructions if key == "LABEL")
    for label in ("title", "source", "licenses", "version", "revision", "created"):
        assert f"org.opencontainers.image.{label}=" in labels
    assert 'org.opencontainers.image.licenses="Apache-2.0"' in labels


def test_the_build_context_holds_what_the_dockerfile_copies() -> None:
    _, (build, *_) = parse()
    allowed = (REPO_ROOT / ".dockerignore").read_text()
    for key, value in build.instructions:
        if key == "COPY" and not value.startswith("--from"):
            *sources, _ = value.split()
            for source in sources:
                assert (REPO_ROOT / source).exists(), source
                assert f"!{source.rstrip('/')}" in allowed, f"{source} is excluded by .dockerignore"
