"""Rendered objects against schemas: Kubernetes' own (kubernetes-validate, strict) and, for custom resources, their
CRDs' (the chart's crds/ and the upstream CRDs in tests/fixtures/crds/), made strict: unknown fields are refused."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from kubesim import cel
from kubesim.schema import apply_defaults, to_json_schema
from tests.charts.helm import CHART, REPOSITORY

UPSTREAM_CRDS = REPOSITORY / "tests" / "fixtures" / "crds"
ROOT_FIELDS = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}}


def kubernetes_errors(document: dict[str, Any], version: str) -> list[str] | None:
    """Why the object is invalid in that Kubernetes release (strict: unknown fields refused); None when the
    release has no schema for its kind (a custom resource)."""
    try:
        kubernetes_validate.validate(document, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return None
    except kubernetes_validate.ValidationError as error:
        return [f"{_path(error.absolute_path)}: {error.message}"]
    return []


def crd_files() -> list[Path]:
    return sorted((CHART / "crds").glob("*.yaml")) + sorted(UPSTREAM_CRDS.glob("*.yaml"))


def crds() -> Iterator[dict[str, Any]]:
    for path in crd_files():
        yield from (d for d in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader) if d)


@functools.cache
def _custom_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → the version's openAPIV3Schema, as the CRD has it."""
    found = {}
    for crd in crds():
        spec = crd["spec"]
        for version in spec["versions"]:
            if version.get("served", True):
                key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                found[key] = version["schema"]["openAPIV3Schema"]
    return found


def custom_kinds() -> set[tuple[str, str]]:
    return set(_custom_schemas())


def strict(schema: dict[str, Any], root: bool = True) -> dict[str, Any]:
    """The schema with `additionalProperties: false` on every object that does not preserve unknown fields (the
    API server would prune those fields silently; we refuse them), and the fields every object has at its root."""
    node = copy.copy(schema)
    if "properties" in node:
        node["properties"] = {name: strict(sub, root=False) for name, sub in node["properties"].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            node[key] = strict(node[key], root=False)
    for key in ("allOf", "anyOf", "oneOf"):
        if key in node:
            node[key] = [strict(sub, root=False) for sub in node[key]]
    if root or node.get("x-kubernetes-embedded-resource"):
        # metadata is checked as Kubernetes' ObjectMeta (custom_resource_errors), with the CRD's own constraints
        metadata = (schema.get("properties") or {}).get("metadata", ROOT_FIELDS["metadata"])
        node["properties"] = ROOT_FIELDS | node.get("properties", {}) | {"metadata": metadata}
    is_object = node.get("type") == "object" or "properties" in node
    if is_object and "additionalProperties" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        node["additionalProperties"] = False
    return node


@functools.cache
def _validator(api_version: str, kind: str) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(to_json_schema(strict(_custom_schemas()[api_version, kind])))


def custom_resource_errors(document: dict[str, Any], version: str) -> list[str]:
    """Why a custom resource is invalid: its CRD's schema (strict), the CRD's CEL rules, and its metadata as
    Kubernetes' ObjectMeta."""
    key = (document.get("apiVersion", ""), document.get("kind", ""))
    if key not in _custom_schemas():
        return [f"no CRD for {key[0]} {key[1]}: add the upstream CRD under tests/fixtures/crds/ (see PROVENANCE.md)"]
    found = sorted(_validator(*key).iter_errors(document), key=lambda e: list(e.absolute_path))
    errors = [f"{_path(e.absolute_path)}: {e.message}" for e in found]
    defaulted = copy.deepcopy(document)  # CEL rules see the object after defaulting, as in the API server
    apply_defaults(defaulted, _custom_schemas()[key])
    errors += [f"{c['field']}: {c['message']}" for c in cel.check(defaulted, None, _custom_schemas()[key])]
    as_meta = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": document.get("metadata", {})}
    errors += kubernetes_errors(as_meta, version) or []
    return errors


def errors_of(document: dict[str, Any], version: str) -> list[str]:
    """Every reason the object would be refused: built-in kinds by Kubernetes' schema, custom ones by their CRD's."""
    return list(_errors_of(json.dumps(document, sort_keys=True), version))


@functools.lru_cache(maxsize=4096)
def _errors_of(document_json: str, version: str) -> tuple[str, ...]:
    """Once per distinct object: most are the same in every scenario, and kubernetes-validate reads its schema files
    again on each call."""
    document = json.loads(document_json)
    builtin = kubernetes_errors(document, version)
    return tuple(builtin if builtin is not None else custom_resource_errors(document, version))


def _path(parts: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts) or "<root>"
