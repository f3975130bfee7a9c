"""What the API server does with a CRD's schema, done here for tests: structural defaulting, validation with
jsonschema, and the CEL rules (`x-kubernetes-validations`) evaluated with cel-python."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import yaml

ROOT = Path(__file__).parents[2]
CRD_PATH = ROOT / "crds" / "transcriptionjob.yaml"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def crd_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD_PATH.read_text())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Structural defaulting: a missing property with a `default` gets it, then defaults apply inside it."""
    if not isinstance(value, dict) or "properties" not in schema:
        if isinstance(value, list) and "items" in schema:
            return [apply_defaults(schema["items"], item) for item in value]
        return value
    result = dict(value)
    for name, child in schema["properties"].items():
        if name not in result and "default" in child:
            result[name] = copy.deepcopy(child["default"])
        if name in result:
            result[name] = apply_defaults(child, result[name])
    return result


def cel_failures(schema: dict[str, Any], value: Any, old: Any = None) -> list[str]:
    """Messages of the CEL rules that `value` breaks (rules with `oldSelf` only run on updates, as in Kubernetes)."""
    failures = []
    environment = celpy.Environment()
    for rule in schema.get("x-kubernetes-validations", []):
        if "oldSelf" in rule["rule"] and old is None:
            continue
        program = environment.program(environment.compile(rule["rule"]))
        bindings = {"self": celpy.json_to_cel(value)}
        if old is not None:
            bindings["oldSelf"] = celpy.json_to_cel(old)
        if not bool(program.evaluate(bindings)):
            failures.append(rule["message"])
    if isinstance(value, dict):
        for name, child in schema.get("properties", {}).items():
            if name in value:
                previous = old.get(name) if isinstance(old, dict) else None
                failures += cel_failures(child, value[name], previous)
    return failures


def server_errors(document: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    """What the API server would refuse in `document` (after defaulting), as messages; [] when accepted."""
    schema = crd_schema()
    defaulted = apply_defaults(schema, document)
    errors = [error.message for error in jsonschema.Draft7Validator(schema).iter_errors(defaulted)]
    return errors + cel_failures(schema, defaulted, apply_defaults(schema, old) if old else None)
