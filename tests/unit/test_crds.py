"""CRDs are generated from the models; the committed YAML must not drift."""

from __future__ import annotations

import pytest
import yaml

from oncall_operator.api import RESOURCE_KINDS, TEST_KINDS
from oncall_operator.api.crd import render_crd
from oncall_operator.api.generate import rendered_files
from support.kube import REPO_ROOT


def test_committed_crds_match_the_models() -> None:
    for relative, expected in rendered_files().items():
        path = REPO_ROOT / "crds" / relative
        assert path.exists(), f"{path} missing: run `make crds`"
        assert path.read_text() == expected, f"{path} drifted from the models: run `make crds`"


@pytest.mark.parametrize("kind", [*RESOURCE_KINDS, *TEST_KINDS], ids=lambda k: k.kind)
def test_crd_is_structural_with_status_columns_and_category(kind: object) -> None:
    crd = render_crd(kind)  # type: ignore[arg-type]
    version = crd["spec"]["versions"][0]
    assert crd["spec"]["group"] == "oncall-operator.dev" and version["name"] == "v1alpha1"
    assert version["subresources"] == {"status": {}}
    assert "oncall" in crd["spec"]["names"]["categories"] and crd["spec"]["names"]["shortNames"]
    assert version["additionalPrinterColumns"][-1]["name"] == "Age"
    text = yaml.safe_dump(crd)
    assert "$ref" not in text and "anyOf" not in text and "title" not in text
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert "x-kubernetes-preserve-unknown-fields" not in yaml.safe_dump(spec)


def _undescribed(node: dict, path: str) -> list[str]:  # type: ignore[type-arg]
    missing = []
    for name, child in (node.get("properties") or {}).items():
        if not child.get("description"):
            missing.append(f"{path}.{name}")
        missing += _undescribed(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        missing += _undescribed(node["items"], f"{path}[]")
    return missing


@pytest.mark.parametrize("kind", RESOURCE_KINDS, ids=lambda k: k.kind)
def test_kubectl_explain_describes_every_field(kind: object) -> None:
    schema = render_crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]  # type: ignore[arg-type]
    missing = _undescribed(schema["properties"]["spec"], "spec") + _undescribed(
        schema["properties"]["status"], "status"
    )
    assert not missing, f"fields without a description: {missing}"
