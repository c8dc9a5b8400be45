"""Generates CustomResourceDefinitions from the pydantic models in this package.

The models are the single source of truth: `oncall-operator crds` prints, and
`make crds` writes, what this module renders, and a test fails on drift.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from oncall_operator import API_GROUP, API_VERSION

CATEGORY = "oncall"

# JSON-schema keywords that a structural Kubernetes schema accepts as they are.
_KEPT_KEYWORDS = {
    "type",
    "format",
    "description",
    "default",
    "enum",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "required",
    "items",
    "properties",
    "additionalProperties",
    "nullable",
    "x-kubernetes-validations",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
}


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0

    def render(self) -> dict[str, Any]:
        column: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            column["description"] = self.description
        if self.priority:
            column["priority"] = self.priority
        return column


@dataclass(frozen=True)
class ResourceKind:
    """What Kubernetes needs to know about one kind beyond its schema."""

    kind: str
    plural: str
    spec_model: type[BaseModel]
    status_model: type[BaseModel]
    short_names: tuple[str, ...] = ()
    printer_columns: tuple[PrinterColumn, ...] = ()
    description: str = ""
    spec_validations: tuple[dict[str, str], ...] = field(default=())

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{API_GROUP}"


def to_structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """Turns a pydantic model's JSON schema into a Kubernetes structural schema.

    Refs are inlined (Kubernetes allows none), Optional[X] becomes X with
    nullable, titles are dropped, and CEL rules given in json_schema_extra stay.
    """
    raw = model.model_json_schema(by_alias=True, mode="validation")
    definitions = raw.pop("$defs", {})
    return _convert(raw, definitions)


def _convert(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    node = copy.deepcopy(node)
    if "$ref" in node:
        target = definitions[node.pop("$ref").split("/")[-1]]
        # Keep description/default given at the use site over the definition's.
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _convert(merged, definitions)
    for combinator in ("anyOf", "oneOf"):
        if combinator in node:
            options = [o for o in node.pop(combinator) if o.get("type") != "null"]
            nullable = False
            if len(options) == 1:
                inner = _convert(options[0], definitions)
                outer = dict(node)
                if outer.get("default", "missing") is None:
                    outer.pop("default")
                    nullable = True
                merged = {**inner, **{k: v for k, v in outer.items() if k in _KEPT_KEYWORDS}}
                if nullable:
                    merged["nullable"] = True
                return _clean(merged, definitions)
            if all(o.get("type") in ("integer", "string") for o in options):
                outer = {k: v for k, v in node.items() if k in _KEPT_KEYWORDS and k != "default"}
                return {**outer, "x-kubernetes-int-or-string": True}
            raise ValueError(f"cannot express a union of {options} in a structural schema")
    if "allOf" in node and len(node["allOf"]) == 1:
        inner = _convert(node.pop("allOf")[0], definitions)
        return _clean({**inner, **node}, definitions)
    if "const" in node:
        node["enum"] = [node.pop("const")]
    return _clean(node, definitions)


def _clean(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key not in _KEPT_KEYWORDS:
            continue
        if key == "properties":
            result[key] = {name: _convert(sub, definitions) for name, sub in value.items()}
        elif key == "items" or (key == "additionalProperties" and isinstance(value, dict)):
            result[key] = _convert(value, definitions)
        elif key == "additionalProperties" and value is False:
            continue  # structural schemas prune unknown fields already
        else:
            result[key] = value
    if "properties" in result and "type" not in result:
        result["type"] = "object"
    if (
        result.get("type") == "object"
        and "additionalProperties" in node
        and node["additionalProperties"] is True
    ):
        result["x-kubernetes-preserve-unknown-fields"] = True
    if "required" in result and not result["required"]:
        result.pop("required")
    return result


def render_crd(resource: ResourceKind) -> dict[str, Any]:
    spec_schema = to_structural_schema(resource.spec_model)
    if resource.spec_validations:
        spec_schema.setdefault("x-kubernetes-validations", []).extend(resource.spec_validations)
    status_schema = to_structural_schema(resource.status_model)
    schema: dict[str, Any] = {
        "type": "object",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": status_schema,
        },
    }
    if resource.description:
        schema["description"] = resource.description
    columns = [c.render() for c in resource.printer_columns]
    columns.append({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"})
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": resource.crd_name,
            "labels": {"app.kubernetes.io/part-of": "oncall-operator"},
        },
        "spec": {
            "group": API_GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": resource.kind,
                "listKind": f"{resource.kind}List",
                "plural": resource.plural,
                "singular": resource.singular,
                "shortNames": list(resource.short_names),
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }
