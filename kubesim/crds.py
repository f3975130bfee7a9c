"""CustomResourceDefinitions: the checks and the status the apiextensions server gives them."""

from __future__ import annotations

from typing import Any

from kubesim import cel, errors, jsonpath
from kubesim.resources import Registry, ResourceType, from_crd
from kubesim.timestamps import now


def validate(crd: dict[str, Any]) -> list[dict[str, str]]:
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    causes = []
    for field in ("group", "scope"):
        if not spec.get(field):
            causes.append(errors.cause(f"spec.{field}", "Required value", "FieldValueRequired"))
    for field in ("plural", "kind"):
        if not names.get(field):
            causes.append(errors.cause(f"spec.names.{field}", "Required value", "FieldValueRequired"))
    if spec.get("scope") not in (None, "Namespaced", "Cluster"):
        causes.append(
            errors.cause(
                "spec.scope",
                f'Unsupported value: "{spec["scope"]}": supported values: "Cluster", "Namespaced"',
                "FieldValueNotSupported",
            )
        )
    expected = f"{names.get('plural')}.{spec.get('group')}"
    name = crd["metadata"]["name"]
    if names.get("plural") and spec.get("group") and name != expected:
        causes.append(
            errors.cause("metadata.name", f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group')
        )
    versions = spec.get("versions") or []
    if not versions:
        causes.append(
            errors.cause(
                "spec.versions", "Invalid value: null: must have exactly one version marked as storage version"
            )
        )
    elif sum(bool(v.get("storage")) for v in versions) != 1:
        causes.append(
            errors.cause(
                "spec.versions",
                "Invalid value: "
                + repr([v.get("name") for v in versions])
                + ": must have exactly one version marked as storage version",
            )
        )
    for index, version in enumerate(versions):
        causes += _rule_and_column_causes(version, f"spec.versions[{index}]")
        if not (version.get("schema") or {}).get("openAPIV3Schema"):
            causes.append(
                errors.cause(
                    f"spec.versions[{index}].schema.openAPIV3Schema",
                    "Required value: schemas are required",
                    "FieldValueRequired",
                )
            )
    return causes


def _rule_and_column_causes(version: dict[str, Any], path: str) -> list[dict[str, str]]:
    """CEL rules must compile and printer columns use the JSONPath subset we render; both refused otherwise."""
    causes = []
    for rule_path, rule in _rules((version.get("schema") or {}).get("openAPIV3Schema") or {}, f"{path}.schema"):
        try:
            cel.compile_rule(rule)
        except Exception as error:
            causes.append(errors.cause(rule_path, f"Invalid value: {rule!r}: compilation failed: {error}"))
    for index, column in enumerate(version.get("additionalPrinterColumns") or []):
        try:
            jsonpath.parse(column.get("jsonPath", ""))
        except ValueError as error:
            causes.append(errors.cause(f"{path}.additionalPrinterColumns[{index}].JSONPath", f"Invalid value: {error}"))
    return causes


def _rules(schema: dict[str, Any], path: str) -> list[tuple[str, str]]:
    found = [
        (f"{path}.x-kubernetes-validations[{i}].rule", v["rule"])
        for i, v in enumerate(schema.get("x-kubernetes-validations") or [])
    ]
    for key, sub in (schema.get("properties") or {}).items():
        found += _rules(sub, f"{path}.properties[{key}]")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            found += _rules(schema[key], f"{path}.{key}")
    return found


def prepare(crd: dict[str, Any], registry: Registry) -> None:
    """Accept the names and mark the CRD Established at once (upstream does it a moment later)."""
    spec = crd["spec"]
    names = dict(spec["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", names["kind"] + "List")
    spec["names"] = names
    spec.setdefault("conversion", {"strategy": "None"})
    timestamp = now()
    crd["status"] = {
        "acceptedNames": names,
        "conditions": [
            {
                "type": "NamesAccepted",
                "status": "True",
                "lastTransitionTime": timestamp,
                "reason": "NoConflicts",
                "message": "no conflicts found",
            },
            {
                "type": "Established",
                "status": "True",
                "lastTransitionTime": timestamp,
                "reason": "InitialNamesAccepted",
                "message": "the initial names have been accepted",
            },
        ],
        "storedVersions": [v["name"] for v in spec["versions"] if v.get("storage")],
    }


def resource_type(crd: dict[str, Any]) -> ResourceType:
    return from_crd(crd)
