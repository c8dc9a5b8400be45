"""Writes crds/*.yaml from the models (`make crds`); the drift test compares against it."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from oncall_operator.api import RESOURCE_KINDS, TEST_KINDS
from oncall_operator.api.crd import ResourceKind, render_crd

HEADER = "# Generated from operator/oncall_operator/api by `make crds`. Do not edit.\n"


def rendered_files() -> dict[str, str]:
    """Relative path -> YAML text, for every kind."""

    def text(kind: ResourceKind) -> str:
        return HEADER + yaml.safe_dump(render_crd(kind), sort_keys=False, width=100)

    files = {f"{kind.crd_name}.yaml": text(kind) for kind in RESOURCE_KINDS}
    files.update({f"test-only/{kind.crd_name}.yaml": text(kind) for kind in TEST_KINDS})
    return files


def main(argv: list[str]) -> int:
    target = Path(argv[1] if len(argv) > 1 else "crds")
    # The chart ships the same CRDs (Helm installs crds/ but never upgrades them).
    chart = Path(argv[2] if len(argv) > 2 else "charts/oncall-operator/crds")
    for relative, content in rendered_files().items():
        paths = [target / relative] + ([] if relative.startswith("test-only/") else [chart / relative])
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
